/*! The last phase of an apply: reattachments and container removals, a few at a time (each
removal waits for its container to stop), then the network and volume removals. Everything is
reported in plan order. */

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::containers::remove_container;
use super::error::StepError;
use super::progress::{Emitter, StepStatus};
use super::{ApplyOptions, ApplyReport};
use crate::identity;
use crate::plan::{Action, Op, StackPlan};
use crate::runtime::{Runtime, RuntimeError};

/// Reattachments and container removals run at most this many at a time (on Docker before
/// 20.10.27 the runtime itself lets only one stop or removal run at once).
const REMOVAL_PARALLELISM: usize = 8;

/// Runs the plan's reattachments and removals, recording each in `report`.
pub(crate) async fn reattach_and_remove(
    rt: &dyn Runtime,
    plan: &StackPlan,
    opts: &ApplyOptions,
    out: Emitter<'_>,
    report: &mut ApplyReport,
) {
    // Collected first: a lazy iterator's closures held across the await would make the
    // apply future's `Send` depend on higher-ranked lifetimes the compiler cannot prove.
    let mut steps = Vec::new();
    for a in &plan.actions {
        if matches!(a.op, Op::ConnectNetwork { .. } | Op::RemoveContainer { .. }) {
            steps.push(detach(rt, &plan.stack, a, opts));
        }
    }
    let done: Vec<_> = futures_util::stream::iter(steps)
        .buffered(REMOVAL_PARALLELISM)
        .collect()
        .await;
    for (object, result, elapsed) in done {
        record(report, out, object, result, elapsed);
    }
    for a in &plan.actions {
        let t = Instant::now();
        let result = match &a.op {
            Op::RemoveNetwork { id, .. } => {
                crate::router::release_network(rt, id).await;
                rt.remove_network(id).await
            }
            Op::RemoveVolume { name } => rt.remove_volume(name).await,
            _ => continue,
        };
        let result = match result {
            Ok(()) | Err(RuntimeError::NotFound(_)) => Ok("Removed"),
            Err(e) => Err(e),
        };
        record(
            report,
            out,
            a.object_label(&plan.stack),
            result,
            t.elapsed(),
        );
    }
}

/// A reattachment or container removal: (object, outcome, time taken).
async fn detach(
    rt: &dyn Runtime,
    stack: &str,
    a: &Action,
    opts: &ApplyOptions,
) -> (String, Result<&'static str, RuntimeError>, Duration) {
    let t = Instant::now();
    let result = match &a.op {
        Op::ConnectNetwork { id, instance } => {
            let net = identity::network_name(stack);
            rt.connect_network(&net, id, std::slice::from_ref(instance))
                .await
                .map(|()| "Connected")
        }
        Op::RemoveContainer { id, .. } => remove_container(rt, id, opts.stop_timeout)
            .await
            .map(|()| "Removed"),
        _ => Ok("Skipped"),
    };
    (a.object_label(stack), result, t.elapsed())
}

/// Records one finished step in the report and the progress sink.
fn record(
    report: &mut ApplyReport,
    out: Emitter<'_>,
    object: String,
    result: Result<&str, RuntimeError>,
    elapsed: Duration,
) {
    match result {
        Ok(m) => {
            report.done += 1;
            out.emit(&object, StepStatus::Done, m, Some(elapsed));
        }
        Err(e) => {
            out.emit(&object, StepStatus::Failed, &e.to_string(), Some(elapsed));
            report.errors.push(StepError::new(object, e));
        }
    }
}
