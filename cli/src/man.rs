//! `mqshim __man DIR` (hidden; `make man` runs it): the command's man pages, generated from its
//! clap definition with clap_mangen, so they say what `--help` says. mqshim.1 adds the sections
//! clap has no place for (environment, exit status, examples, see also) from the roff source
//! man/mqshim-extra.1.in; each subcommand's page, mqshim-SUBCOMMAND.1, adds its `after_help`
//! text (its indented lines as written: they are laid out in columns) and a SEE ALSO.

use std::fs;
use std::io::Write;
use std::path::Path;

use clap_mangen::Man;

/// The hand-written sections of mqshim.1, between its SUBCOMMANDS and VERSION sections.
const MQSHIM_EXTRA: &str = include_str!("../../man/mqshim-extra.1.in");

/// Writes mqshim.1 and mqshim-SUBCOMMAND.1 for every visible subcommand into `dir`.
pub fn write_pages(cmd: clap::Command, dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("mqshim: cannot create {}: {e}", dir.display()))?;
    // Built once, so that global options (--dir) and display names (mqshim-trace) reach the
    // subcommands; `help` is clap's, not a page of ours.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    write_page(dir, &cmd, MQSHIM_EXTRA)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut extra = String::new();
        if let Some(after) = sub.get_after_long_help().or_else(|| sub.get_after_help()) {
            extra.push_str(".SH NOTES\n");
            extra.push_str(&roff_text(&after.to_string()));
        }
        extra.push_str(".SH \"SEE ALSO\"\n.BR mqshim (1),\n.BR libmqshim (7)\n");
        write_page(dir, sub, &extra)?;
    }
    Ok(())
}

/// One page: clap_mangen's sections, then `extra` (roff) before the version (mqshim.1's).
fn write_page(dir: &Path, cmd: &clap::Command, extra: &str) -> Result<(), String> {
    let man = Man::new(cmd.clone()).source(concat!("mqshim ", env!("CARGO_PKG_VERSION"))).manual("mqshim manual");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    let rendered = (|| -> std::io::Result<()> {
        man.render_title(&mut page)?;
        man.render_name_section(&mut page)?;
        man.render_synopsis_section(&mut page)?;
        man.render_description_section(&mut page)?;
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut page)?;
        }
        if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
            man.render_subcommands_section(&mut page)?;
        }
        page.write_all(extra.as_bytes())?;
        if cmd.get_version().is_some() {
            man.render_version_section(&mut page)?;
        }
        Ok(())
    })();
    rendered.and_then(|()| fs::write(&path, &page)).map_err(|e| format!("mqshim: cannot write {}: {e}", path.display()))
}

/// Help text as roff: lines that start with a space (a table, an example) as written, the
/// others filled; a blank line starts a paragraph.
fn roff_text(text: &str) -> String {
    let mut out = String::new();
    let mut as_written = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push_str(if as_written { ".fi\n.PP\n" } else { ".PP\n" });
            as_written = false;
            continue;
        }
        let indented = line.starts_with(' ');
        if indented != as_written {
            out.push_str(if indented { ".nf\n" } else { ".fi\n" });
            as_written = indented;
        }
        out.push_str(&roff_line(line));
        out.push('\n');
    }
    if as_written {
        out.push_str(".fi\n");
    }
    out
}

/// `text` as a roff text line: backslashes and a leading control character escaped, characters
/// beyond ASCII as groff's \[uXXXX] (the page's input is then ASCII, whatever the locale).
fn roff_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.starts_with('.') || text.starts_with('\'') {
        out.push_str("\\&");
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", c as u32)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{roff_line, roff_text};

    #[test]
    fn roff_line_escapes_what_roff_would_interpret() {
        assert_eq!(roff_line(".x \\ --a → b"), "\\&.x \\e \\-\\-a \\[u2192] b");
        assert_eq!(roff_line("'quote"), "\\&'quote");
    }

    #[test]
    fn roff_text_keeps_indented_lines_as_written() {
        assert_eq!(roff_text("a\n  x  y\nb\n\nc"), "a\n.nf\n  x  y\n.fi\nb\n.PP\nc\n");
    }
}
