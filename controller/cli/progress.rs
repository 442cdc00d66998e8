//! Terminal output of apply progress (stderr lines like `docker compose`, live pull
//! spinners on a terminal), and the sink `devarch watch` prints to.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use crate::apply::{Event, Progress, StepStatus};
use crate::plan::{StackPlan, render};
use crate::printable;
use crate::runtime::PullProgress;
use crate::sink::Sink;

/// Prints progress lines like `docker compose`; on a terminal, image pulls get a live spinner
/// with their byte counts.
pub(crate) struct Lines {
    tty: bool,
    pulls: Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Lines {
    pub(crate) fn new() -> Self {
        Lines {
            tty: std::io::stderr().is_terminal(),
            pulls: Mutex::new(Default::default()),
        }
    }
}

impl Progress for Lines {
    fn event(&self, e: &Event) {
        if let Some(image) = e.object.strip_prefix("image ")
            && let Some(bar) = self.pulls.lock().expect("lock").remove(image)
        {
            bar.finish_and_clear();
        }
        let mark = match e.status {
            StepStatus::Working => "…",
            StepStatus::Waiting => "⏳",
            StepStatus::Done => "✔",
            StepStatus::Failed => "✘",
        };
        let t = e
            .elapsed
            .map(|d| format!(" {:.1}s", d.as_secs_f64()))
            .unwrap_or_default();
        let (object, message) = (printable::line(&e.object), printable::block(&e.message));
        errln!(" {mark} {object:<48} {message}{t}");
    }
    fn pull(&self, p: &PullProgress) {
        if !self.tty {
            return;
        }
        let mut pulls = self.pulls.lock().expect("lock");
        let bar = pulls.entry(p.image.clone()).or_insert_with(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template(" {spinner} image {prefix}: {msg}")
                    .expect("template"),
            );
            b.set_prefix(printable::line(&p.image).into_owned());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        let cur = p
            .current
            .map(|(a, b)| format!(" {:.1}/{:.1} MB", a as f64 / 1e6, b as f64 / 1e6))
            .unwrap_or_default();
        bar.set_message(format!("{}{cur}", printable::line(&p.status)));
    }
}

/// The sink of `devarch watch`: plans to stdout (as `devarch plan` prints them, under a
/// `# stack NAME: why` header), apply progress as log lines (finished and failed steps).
pub struct WatchSink;

impl Progress for WatchSink {
    fn event(&self, e: &Event) {
        let elapsed = e
            .elapsed
            .map(|d| format!(" {:.1}s", d.as_secs_f64()))
            .unwrap_or_default();
        match e.status {
            StepStatus::Failed => {
                let (object, message) = (printable::line(&e.object), printable::line(&e.message));
                tracing::warn!(stack = %e.stack, "{object}: {message}{elapsed}");
            }
            StepStatus::Done => {
                let (object, message) = (printable::line(&e.object), printable::line(&e.message));
                tracing::info!(stack = %e.stack, "{object}: {message}{elapsed}");
            }
            StepStatus::Working | StepStatus::Waiting => {}
        }
    }
}

impl Sink for WatchSink {
    fn plan(&self, stack: &str, why: &str, plan: &StackPlan) {
        let mut out = std::io::stdout().lock();
        let text = format!(
            "# stack {stack}: {}\n{}",
            printable::line(why),
            render(std::slice::from_ref(plan))
        );
        // stdout gone (a closed pipe): the plan is also what the log's progress shows.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}
