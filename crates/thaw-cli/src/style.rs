//! Colour on terminals: `--color auto|always|never` and `NO_COLOR`
//! (https://no-color.org). `auto` colours a stream only when it is a
//! terminal, `TERM` is not `dumb` and `NO_COLOR` is unset or empty; the
//! flag's `always` and `never` override the environment. Without colour
//! the bytes are exactly the plain text (the tests and pipes see those).
use clap::ValueEnum;
use std::io::{IsTerminal, Write};

/// `--color`.
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub(crate) enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD_RED: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// Whether to colour one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Style {
    pub color: bool,
}

impl Style {
    /// The style for standard output or standard error under `choice`.
    pub(crate) fn for_stream(choice: ColorChoice, is_terminal: bool) -> Style {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        };
        Style { color }
    }

    pub(crate) fn stdout(choice: ColorChoice) -> Style {
        Style::for_stream(choice, std::io::stdout().is_terminal())
    }

    pub(crate) fn stderr(choice: ColorChoice) -> Style {
        Style::for_stream(choice, std::io::stderr().is_terminal())
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    }

    pub(crate) fn error(self, s: &str) -> String {
        self.paint(BOLD_RED, s)
    }

    pub(crate) fn ok(self, s: &str) -> String {
        self.paint(GREEN, s)
    }

    pub(crate) fn fail(self, s: &str) -> String {
        self.paint(RED, s)
    }

    /// Rendered diagnostics with their markers coloured: `×` red, `⚠`
    /// yellow, `help:` cyan.
    pub(crate) fn diagnostics(self, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        text.replace("  × ", &format!("  {RED}×{RESET} "))
            .replace("  ⚠ ", &format!("  {YELLOW}⚠{RESET} "))
            .replace("  help: ", &format!("  {CYAN}help:{RESET} "))
    }

    /// One line of the text report: an invocation's failure red, a failed
    /// expectation red, a met one green.
    fn line(self, line: &str) -> String {
        if !self.color {
            return line.to_string();
        }
        if line.contains(" fails with ") || line.starts_with("  FAIL ") {
            self.paint(RED, line)
        } else if let Some(rest) = line.strip_prefix("  ok   ") {
            format!("  {}   {rest}", self.paint(GREEN, "ok"))
        } else {
            line.to_string()
        }
    }
}

/// A writer that colours whole lines of the text report as they pass.
pub(crate) struct Lines<'a, W: Write> {
    w: &'a mut W,
    style: Style,
    pending: Vec<u8>,
}

impl<'a, W: Write> Lines<'a, W> {
    pub(crate) fn new(w: &'a mut W, style: Style) -> Self {
        Lines {
            w,
            style,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for Lines<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.style.color {
            return self.w.write(buf);
        }
        self.pending.extend_from_slice(buf);
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            self.w.write_all(self.style.line(&text).as_bytes())?;
            self.w.write_all(b"\n")?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.w.write_all(&rest)?;
        }
        self.w.flush()
    }
}

impl<W: Write> Drop for Lines<'_, W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
