//! The event stream behind `GET /api/v1/events`: a [`Sink`] that passes everything on to the
//! terminal's sink and publishes it, as JSON, to every subscriber.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::broadcast;

use crate::apply::{Event, Progress};
use crate::plan::StackPlan;
use crate::sink::Sink;
use crate::status::StackStatus;

/// How many events a slow subscriber may fall behind before it misses some.
const BACKLOG: usize = 256;

/// Publishes the controller's outputs to subscribers, and forwards them to `inner`.
#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<String>,
    inner: Arc<dyn Sink>,
}

impl EventHub {
    /// A hub that also passes every output to `inner` (the terminal's sink).
    pub fn new(inner: Arc<dyn Sink>) -> EventHub {
        let (sender, _) = broadcast::channel(BACKLOG);
        EventHub { sender, inner }
    }

    /// A new subscription: the events from now on, as JSON texts.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }

    fn publish(&self, kind: &str, data: serde_json::Value) {
        let event = json!({"type": kind, "data": data});
        // No subscriber is not an error.
        let _ = self.sender.send(event.to_string());
    }
}

impl Progress for EventHub {
    fn event(&self, e: &Event) {
        self.inner.event(e);
        self.publish("progress", serde_json::to_value(e).unwrap_or_default());
    }
}

impl Sink for EventHub {
    fn plan(&self, stack: &str, why: &str, plan: &StackPlan) {
        self.inner.plan(stack, why, plan);
        self.publish(
            "plan",
            json!({"stack": stack, "why": why, "plan": serde_json::to_value(plan).unwrap_or_default()}),
        );
    }

    fn status(&self, stack: &str, status: Option<&StackStatus>) {
        self.inner.status(stack, status);
        self.publish("status", json!({"stack": stack, "status": status}));
    }
}
