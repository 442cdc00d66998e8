/*! The engine-event trigger of watch mode: drift reported by the engine enqueues its stack.

Subscribes to the engine's events about devarch's objects
([`Runtime::events`](crate::runtime::Runtime::events)) and schedules the stack of every event
that may mean drift ([`is_drift`]) with [`Trigger::Engine`]. Events are hints (the labelled
lists stay the truth), so a missed one only delays a repair until the periodic resync.

The stream is reopened with backoff (0.5 s → 15 s) whenever it ends or the engine cannot be
reached; once the engine answers again every stack is scheduled with [`Trigger::Reconnect`],
since the events in between were lost (dockerd stopping every container, `podman rm` while the
service was down).
*/

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::reconciler::{Reconciler, Trigger};
use super::scheduler::{Backoff, ExponentialBackoff, Handle};
use crate::identity::{self, Labelled};
use crate::observe::observe;
use crate::runtime::{EngineEvent, EventKind, RuntimeError};

/// First pause before the event stream is reopened (also after it closed).
const RECONNECT_INITIAL: Duration = Duration::from_millis(500);
/// Longest pause between attempts to reach the engine.
const RECONNECT_MAX: Duration = Duration::from_secs(15);

/// Actions that may mean drift. The controller's own changes raise them too; the reconcile
/// that follows finds nothing to do, which is cheap.
pub fn is_drift(action: &str) -> bool {
    matches!(
        action,
        "die" | "destroy" | "oom" | "stop" | "kill" | "rename" | "disconnect"
    )
}

/// The stack an engine event is about, if it is one of this folder's: containers by their
/// labels; networks by name (engines put no labels on network events).
pub fn event_stack(ev: &EngineEvent, owner: &str) -> Option<String> {
    match ev.kind {
        EventKind::Container if ev.labels.is_ours(owner) => ev.labels.stack().map(str::to_string),
        EventKind::Network => identity::stack_of_network(ev.name.as_deref()?).map(str::to_string),
        _ => None,
    }
}

/// Runs the trigger until `token` is cancelled.
pub async fn run(
    reconciler: Arc<Reconciler>,
    handle: Handle<String, Trigger>,
    token: CancellationToken,
) {
    let mut backoff = ExponentialBackoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
    let mut first = true;
    loop {
        if token.is_cancelled() {
            return;
        }
        let pause = match subscribe_and_follow(&reconciler, &handle, &token, first).await {
            Ended::Cancelled => return,
            Ended::Closed => {
                backoff.reset();
                RECONNECT_INITIAL
            }
            Ended::Unreachable(e) => {
                let delay = backoff.next().unwrap_or(RECONNECT_MAX);
                warn!(error = %e, "engine unreachable; retrying in {:.1}s", delay.as_secs_f64());
                delay
            }
            Ended::Refused(e) => {
                let delay = backoff.next().unwrap_or(RECONNECT_MAX);
                warn!(error = %e, "cannot subscribe to engine events; retrying in {:.1}s", delay.as_secs_f64());
                delay
            }
        };
        first = false;
        tokio::select! { _ = token.cancelled() => return, _ = tokio::time::sleep(pause) => {} }
    }
}

/// How following the event stream ended.
enum Ended {
    /// The shutdown token was cancelled: stop without reconnecting.
    Cancelled,
    /// The stream ended after it was open (the engine went away or closed it).
    Closed,
    /// The engine could not be reached.
    Unreachable(RuntimeError),
    /// The engine answered but refused the subscription.
    Refused(RuntimeError),
}

/// Checks that the engine answers (resyncing everything after an outage), subscribes, and
/// schedules the stacks of drift events until the stream ends.
async fn subscribe_and_follow(
    reconciler: &Reconciler,
    handle: &Handle<String, Trigger>,
    token: &CancellationToken,
    first: bool,
) -> Ended {
    match observe(reconciler.runtime()).await {
        Ok(w) if !first => {
            info!("engine is back; resyncing every stack");
            for s in reconciler.all_stacks(&w.owned_stacks(reconciler.owner())) {
                let _ = handle.schedule_now(s, Trigger::Reconnect);
            }
        }
        Ok(_) => {}
        Err(e) => return Ended::Unreachable(e),
    }
    let filter = identity::managed_label_filter();
    let mut stream = match reconciler.runtime().events(&filter).await {
        Ok(s) => s,
        Err(e) => return Ended::Refused(e),
    };
    loop {
        let item = tokio::select! { _ = token.cancelled() => return Ended::Cancelled, item = stream.next() => item };
        match item {
            Some(Ok(ev)) => {
                if !is_drift(&ev.action) {
                    continue;
                }
                if let Some(stack) = event_stack(&ev, reconciler.owner()) {
                    let _ = handle.schedule_now(stack, Trigger::Engine(ev.action.clone()));
                } else if ev.kind == EventKind::Container
                    && ev.name.as_deref() == Some(identity::ROUTER_NAME)
                {
                    reconciler.router_due();
                }
            }
            Some(Err(e)) => {
                warn!(error = %e, "engine event stream ended; reconnecting");
                return Ended::Closed;
            }
            None => {
                warn!("engine event stream closed; reconnecting");
                return Ended::Closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{LABEL_INSTANCE, stack_labels};

    fn event(
        kind: EventKind,
        name: &str,
        labels: std::collections::BTreeMap<String, String>,
    ) -> EngineEvent {
        EngineEvent {
            kind,
            action: "die".into(),
            id: "x".into(),
            name: Some(name.into()),
            labels,
            time: 0,
        }
    }

    #[test]
    fn events_map_to_this_folders_stacks_only() {
        let mut labels = stack_labels("blog", "/m");
        labels.insert(LABEL_INSTANCE.into(), "db".into());
        let c = event(EventKind::Container, "devarch-blog-db", labels.clone());
        assert_eq!(event_stack(&c, "/m").as_deref(), Some("blog"));
        assert_eq!(
            event_stack(&c, "/other"),
            None,
            "another folder's container"
        );
        let foreign = event(EventKind::Container, "devarch-blog-db", Default::default());
        assert_eq!(event_stack(&foreign, "/m"), None);
        let net = event(EventKind::Network, "devarch-blog-net", Default::default());
        assert_eq!(event_stack(&net, "/m").as_deref(), Some("blog"));
        let vol = event(
            EventKind::Volume,
            "devarch-blog-db-data",
            Default::default(),
        );
        assert_eq!(event_stack(&vol, "/m"), None);
        assert!(is_drift("die") && is_drift("destroy") && !is_drift("start"));
    }
}
