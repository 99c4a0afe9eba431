//! `mqshim report FILE`: reads a JSON-lines trace (of the library, or of `mqshim trace`) and
//! prints its `-c` summary tables (`--summary`) or writes a Chrome/Perfetto trace (`--chrome
//! OUT.json`). The pieces are shared with the `mqshim trace` collector: [`event`] (records, queue
//! and message identities), [`filter`] (`-e`) and [`summary`] (the tables).

mod chrome;
pub mod event;
pub mod filter;
pub mod summary;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use event::{Event, Queues};
use filter::Filter;
use summary::Summary;

/// The events of the trace in `input` (named `source` in errors): in time order, their queues
/// resolved from all records, then filtered.
pub fn read_events(input: impl Read, source: &str, filter: &Filter) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    for (index, line) in BufReader::new(input).split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("mqshim: {source}: {e}"))?;
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        events.push(Event::parse(index + 1, &text).map_err(|e| format!("mqshim: {source}: {e}"))?);
    }
    // Records are written as calls return, processes interleaved: order them by start (the
    // sort is stable, so each thread's own order stays).
    events.sort_by_key(|e| e.ts_ns);
    let mut queues = Queues::default();
    for e in &mut events {
        queues.resolve(e);
    }
    if !filter.is_empty() {
        events.retain(|e| filter.matches(e));
    }
    Ok(events)
}

/// `mqshim report FILE [--summary] [--chrome OUT.json] [-e EXPR]...`; FILE `-` is stdin, OUT `-` stdout.
pub fn run(file: &str, summary: bool, chrome_out: Option<&Path>, expressions: &[String]) -> Result<(), String> {
    let filter = Filter::parse(expressions).map_err(|e| format!("mqshim: {e}"))?;
    let events = if file == "-" {
        read_events(io::stdin().lock(), "stdin", &filter)?
    } else {
        let input = File::open(file).map_err(|e| format!("mqshim: cannot read {file}: {e}"))?;
        read_events(input, file, &filter)?
    };
    if let Some(out) = chrome_out {
        let text = serde_json::to_string(&chrome::trace(&events)).map_err(|e| format!("mqshim: {e}"))?;
        let written = if out == Path::new("-") { io::stdout().lock().write_all(text.as_bytes()) } else { std::fs::write(out, text.as_bytes()) };
        written.map_err(|e| format!("mqshim: cannot write {}: {e}", out.display()))?;
    }
    if summary || chrome_out.is_none() {
        let mut tables = Summary::default();
        for e in &events {
            tables.add(e);
        }
        print!("{}", tables.render());
    }
    Ok(())
}
