//! Progress of long commands, for both binaries: on a terminal an `indicatif` bar (with an ETA
//! when the total is known), in a pipe or with `--json` plain lines on stderr, never both.
//!
//! ```
//! let mut p = transport::progress::Progress::new("rounds", Some(3), transport::progress::Style::Lines);
//! p.set_message("round 1");
//! p.inc(1);
//! p.finish("3 rounds done");
//! ```

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A bar redrawn in place on stderr (only on a terminal).
    Bar,
    /// One line on stderr per step.
    Lines,
    /// Nothing.
    Quiet,
}

impl Style {
    /// A bar when stderr is a terminal and the output is not `json`, lines otherwise.
    pub fn for_output(json: bool) -> Self {
        if !json && std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Lines
        }
    }
}

/// The progress of one long piece of work: `done` of `total` steps (when known).
pub struct Progress {
    label: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    bar: Option<ProgressBar>,
    lines: bool,
    message: String,
}

impl Progress {
    /// Progress of `label` (`"rounds"`, `"challenges"`) over `total` steps if known.
    pub fn new(label: &'static str, total: Option<u64>, style: Style) -> Self {
        let bar = (style == Style::Bar).then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            let template = match total {
                Some(_) => {
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {prefix} (ETA {eta}) {msg}"
                }
                None => "{spinner} [{elapsed_precise}] {prefix} {msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(label);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            label,
            total,
            done: 0,
            started: Instant::now(),
            bar,
            lines: style == Style::Lines,
            message: String::new(),
        }
    }

    /// Says what is being done now (a bar shows it; lines print it).
    pub fn set_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
        if let Some(bar) = &self.bar {
            bar.set_message(self.message.clone());
        } else if self.lines {
            eprintln!("{}", self.line());
        }
    }

    /// `n` more steps done.
    pub fn inc(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Writes a line above the bar (or as a line), keeping the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.lines => eprintln!("{line}"),
            None => {}
        }
    }

    /// Ends the progress with a last message.
    pub fn finish(self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.bar.is_some() || self.lines {
            eprintln!("{message} ({:.1} s)", self.started.elapsed().as_secs_f64());
        }
    }

    /// Ends the progress without a message (a bar is cleared), e.g. before the next stage's.
    pub fn clear(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Steps done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// The plain line for the current state: `label: message (done/total, elapsed, ETA)`.
    fn line(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = match self.total {
            Some(total) if self.done > 0 && total > self.done => {
                let left = elapsed / self.done as f64 * (total - self.done) as f64;
                format!(", ETA {left:.0} s")
            }
            _ => String::new(),
        };
        let count = match self.total {
            Some(total) => format!("{}/{total}", self.done),
            None => self.done.to_string(),
        };
        format!(
            "{}: {} ({count}, {elapsed:.1} s{eta})",
            self.label, self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_steps_and_estimate_what_is_left() {
        let mut p = Progress::new("challenges", Some(4), Style::Quiet);
        p.inc(1);
        p.set_message("miner 1");
        assert!(
            p.line().starts_with("challenges: miner 1 (1/4, "),
            "{}",
            p.line()
        );
        assert!(p.line().contains("ETA"), "{}", p.line());
        p.inc(3);
        assert_eq!(p.done(), 4);
        assert!(!p.line().contains("ETA"), "nothing left: {}", p.line());
        let unknown = Progress::new("steps", None, Style::Quiet);
        assert!(
            unknown.line().starts_with("steps:  (0, "),
            "{}",
            unknown.line()
        );
    }
}
