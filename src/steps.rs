//! What a run tells its operator while it works: timed steps and progress bars.
//!
//! Each library entry (demo, import, report, store verify, verify) names its steps: a [`Step`]
//! logs its name and duration at info level when it ends, so `-v` shows where the time goes.
//! [`progress`] gives a bar for long work, drawn only when stderr is a terminal: a log file or a
//! pipe gets the step lines, never the bar's redraws.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One named step of a job; logs `step <name>: <seconds> s` when dropped.
pub struct Step {
    name: String,
    started: Instant,
}

impl Step {
    pub fn new(name: impl Into<String>) -> Step {
        let name = name.into();
        tracing::debug!("step {name}: started");
        Step {
            name,
            started: Instant::now(),
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        tracing::info!(
            "step {}: {:.3} s",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// A bar over `len` items of `what`, hidden unless stderr is a terminal.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar
}
