/*! Where apply's progress goes: one [`Event`] per step of an object (working, waiting, done,
failed), and image pull progress, to a [`Progress`] sink the caller chooses — the CLI's
terminal lines, the controller's log, later the HTTP event stream. Kept apart from logs and
errors. */

use std::time::Duration;

use crate::runtime::PullProgress;

/// Where a step of an object stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    /// Work on it started (`Creating`, `Pulling`...).
    Working,
    /// Waiting for a dependency (`Waiting for db to be healthy`).
    Waiting,
    /// Finished (`Created`, `Started`, `Removed`...).
    Done,
    /// Failed; the message is the error.
    Failed,
}

/// One progress event of an apply.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Event {
    /// The stack being applied.
    pub stack: String,
    /// Object kind and name, e.g. `container devarch-blog-db`, `image postgres:16`.
    pub object: String,
    /// Where its step stands.
    pub status: StepStatus,
    /// Short text for people ("Created", "Started", "Waiting for db to be healthy", or the
    /// error of a failed step).
    pub message: String,
    /// Time the step took, on `Done` and `Failed`.
    pub elapsed: Option<Duration>,
}

/// A sink for apply progress. Called from the apply's tasks, possibly concurrently: be quick.
pub trait Progress: Send + Sync {
    /// One step of one object, each time its [`StepStatus`] changes.
    fn event(&self, e: &Event);
    /// Progress of an image pull (many per pull); ignored by default.
    fn pull(&self, _p: &PullProgress) {}
}

/// Emits the events of one stack's apply to a sink.
#[derive(Clone, Copy)]
pub(crate) struct Emitter<'a> {
    pub(crate) stack: &'a str,
    pub(crate) sink: &'a dyn Progress,
}

impl Emitter<'_> {
    pub(crate) fn emit(
        &self,
        object: &str,
        status: StepStatus,
        message: &str,
        elapsed: Option<Duration>,
    ) {
        self.sink.event(&Event {
            stack: self.stack.to_string(),
            object: object.to_string(),
            status,
            message: message.to_string(),
            elapsed,
        });
    }
}
