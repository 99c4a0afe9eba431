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
use std::path::{Path, PathBuf};

use event::{Event, Queues};
use filter::Filter;
use summary::Summary;

/// Resolves each event's queue from all the records before it, then applies the `-e` filter:
/// what a reader of a stream of records (this command, or the `mqshim trace` collector) does
/// with each record, in time order, before summarising or printing it.
#[derive(Debug)]
pub struct Selector {
    queues: Queues,
    filter: Filter,
}

impl Selector {
    pub fn new(filter: Filter) -> Selector {
        Selector { queues: Queues::default(), filter }
    }

    /// The event with its queue resolved, if the filter keeps it.
    pub fn admit(&mut self, mut event: Event) -> Option<Event> {
        self.queues.resolve(&mut event);
        self.filter.matches(&event).then_some(event)
    }
}

/// The events of the trace in `input` (named `source` in errors): in time order, their queues
/// resolved from all records, then filtered.
pub fn read_events(input: impl Read, source: &str, filter: Filter) -> Result<Vec<Event>, String> {
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
    let mut selector = Selector::new(filter);
    Ok(events.into_iter().filter_map(|e| selector.admit(e)).collect())
}

/// `mqshim report`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The trace; - reads standard input.
    pub file: String,
    /// Print the tables of calls and queues (as mqshim trace -c); the default without --chrome.
    #[arg(long)]
    pub summary: bool,
    /// Write a Chrome/Perfetto trace (Trace Event Format JSON) to OUT.json; - is standard output.
    #[arg(long, value_name = "OUT.json")]
    pub chrome: Option<PathBuf>,
    /// Keep only these calls (mq_send, mq_*send, msgsnd,msgrcv, !mq_open, trace=…) and queues
    /// (/name, key=0x…, id=N); repeatable: calls and queues must both match.
    #[arg(short = 'e', value_name = "EXPR")]
    pub expr: Vec<String>,
}

/// `mqshim report FILE [--summary] [--chrome OUT.json] [-e EXPR]...`; FILE `-` is stdin, OUT `-` stdout.
pub fn run(args: &ReportArgs) -> Result<(), String> {
    let ReportArgs { file, summary, chrome, expr } = args;
    let (summary, chrome_out) = (*summary, chrome.as_deref());
    let filter = Filter::parse(expr).map_err(|e| format!("mqshim: {e}"))?;
    let events = if file == "-" {
        read_events(io::stdin().lock(), "stdin", filter)?
    } else {
        let input = File::open(file).map_err(|e| format!("mqshim: cannot read {file}: {e}"))?;
        read_events(input, file, filter)?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_resolve_from_records_the_filter_drops() {
        // -e mq_send -e /q: the mq_open is filtered out, yet it names the send's queue.
        let trace = concat!(
            r#"{"ts_ns":2,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"a","msg_len":1,"msg_prio":0},"ret":0,"dur_ns":1}"#,
            "\n\n",
            r#"{"ts_ns":1,"pid":1,"call":"mq_open","args":{"name":"/q"},"ret":3,"dur_ns":1}"#,
            "\n",
            r#"{"ts_ns":3,"pid":1,"call":"mq_send","args":{"mqdes":4,"msg_ptr":"a","msg_len":1,"msg_prio":0},"ret":0,"dur_ns":1}"#,
            "\n",
        );
        let filter = Filter::parse(&["mq_send", "/q"]).unwrap();
        let events = read_events(trace.as_bytes(), "t", filter).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].line, events[0].queue.as_ref().map(|q| q.to_string())), (1, Some("/q".to_string())));
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_source_and_line() {
        let trace = "{\"ts_ns\":1,\"pid\":1,\"call\":\"mq_close\",\"args\":{}}\n\n{\"ts_ns\":\n";
        assert_eq!(read_events(trace.as_bytes(), "t.jsonl", Filter::default()).unwrap_err().split(": malformed").next(), Some("mqshim: t.jsonl: line 3"));
    }
}
