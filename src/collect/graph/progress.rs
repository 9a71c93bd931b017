//! Progress at a terminal: one line per source with pages, items and throttling waits. Hidden
//! (and free) when stderr is not a terminal or progress was not asked for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Progress {
        Progress {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub(crate) fn bar(&self, source: &str) -> SourceBar {
        let bar = self.multi.as_ref().map(|multi| {
            let style = ProgressStyle::with_template("{spinner} {prefix:<28} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = multi.add(ProgressBar::new_spinner().with_style(style));
            bar.set_prefix(source.to_string());
            bar.set_message("waiting");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        SourceBar {
            bar,
            pages: AtomicU64::new(0),
            items: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            waited_ms: AtomicU64::new(0),
        }
    }
}

/// One source's line.
pub(crate) struct SourceBar {
    bar: Option<ProgressBar>,
    pages: AtomicU64,
    items: AtomicU64,
    waits: AtomicU64,
    waited_ms: AtomicU64,
}

impl SourceBar {
    pub(crate) fn page(&self, items: u64) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items, Ordering::Relaxed);
        self.redraw(None);
    }

    pub(crate) fn throttled(&self, delay: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.waited_ms
            .fetch_add(delay.as_millis() as u64, Ordering::Relaxed);
        self.redraw(Some(delay));
    }

    pub(crate) fn finish(&self, outcome: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(format!("{outcome}{}", self.waits_text()));
        }
    }

    fn waits_text(&self) -> String {
        match self.waits.load(Ordering::Relaxed) {
            0 => String::new(),
            n => format!(
                ", {n} retries (waited {}s)",
                self.waited_ms.load(Ordering::Relaxed) / 1000
            ),
        }
    }

    fn redraw(&self, waiting: Option<Duration>) {
        let Some(bar) = &self.bar else { return };
        let mut msg = format!(
            "{} pages, {} items{}",
            self.pages.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
            self.waits_text()
        );
        if let Some(d) = waiting {
            msg.push_str(&format!(", waiting {:.1}s", d.as_secs_f64()));
        }
        bar.set_message(msg);
    }
}
