/*! Engine events ([`Runtime::events`](super::Runtime::events)): the subscription, and the
decoding of each event into an engine-neutral [`EngineEvent`].

- Read with a plain streaming request ([`super::http`]), not bollard's event stream: the
  request returns once the engine answered, so the subscription is live when
  [`subscribe`] returns (list after that, and nothing falls in between), and the lines are
  read into lenient types (every field optional, `null` as empty).
- Two subscriptions: containers by label, networks and volumes by name. Neither engine labels
  network or volume events, and Docker matches a `label` filter against event attributes, so
  a label filter would drop them all: they are subscribed to unfiltered and selected here by
  the `devarch-` name prefix.
- Normalised to Docker's words: Podman's `remove` becomes `destroy` (and `died` becomes
  `die`); `exec_*` events (three per health check run on Docker) are dropped; engine
  attributes such as `name` or `exitCode` are not reported as labels; Podman's volume events
  carry only a name, which becomes the ID too.
- Ending: a closed connection, a broken or unreadable line ends the stream with one
  [`RuntimeError::Api`] ("watch engine events"); nothing follows an error, and whichever
  subscription fails first ends both. Reconnecting is the caller's job.
*/

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;

use super::http::{RawClient, body_message, encode};
use super::wire::null_default;
use super::{EngineEvent, EventKind, EventStream, Result, RuntimeError};
use crate::identity::OBJECT_PREFIX;

/// How long the engine may take to accept an event subscription (both answer at once).
const EVENTS_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest event line accepted (a container with many labels is a few KiB).
const MAX_EVENT_LINE: usize = 1 << 20;
/// What event stream errors are about.
const EVENTS_OPERATION: &str = "watch engine events";
/// Event attributes that engines add themselves (the rest of a container's are its labels).
const EVENT_ATTRIBUTES: &[&str] = &[
    "name",
    "image",
    "exitCode",
    "signal",
    "execID",
    "containerExitCode",
    "podId",
];

/// Subscribes to the events [`Runtime::events`](super::Runtime::events) promises, on the
/// compat API at version `api_version` (e.g. `1.41`): containers carrying `label_filter`
/// (`key=value` or `key`; empty: every container), networks and volumes named `devarch-*`.
///
/// # Guarantees
/// Returns once the engine has accepted both subscriptions. The stream yields decoded,
/// normalised events, then at most one error, after which it ends.
///
/// # Errors
/// [`RuntimeError::Api`] ("watch engine events") when the engine cannot be reached, does not
/// answer within 10 s, or refuses a subscription (with its status and message).
pub(super) async fn subscribe(
    http: &RawClient,
    api_version: &str,
    label_filter: &str,
) -> Result<EventStream> {
    let mut container_filters = vec![("type", vec!["container"])];
    if !label_filter.is_empty() {
        container_filters.push(("label", vec![label_filter]));
    }
    // Network and volume events carry no labels on either engine (Docker matches the
    // `label` filter against event attributes, so a label filter would drop them all):
    // they are subscribed to unfiltered and selected by name here.
    let named_filters = [("type", vec!["network", "volume"])];
    let (labelled, named) = futures_util::future::try_join(
        open(http, api_version, &container_filters),
        open(http, api_version, &named_filters),
    )
    .await?;
    let labelled = Box::pin(event_stream(labelled, |e| e.kind == EventKind::Container));
    let named = Box::pin(event_stream(named, move |e| {
        matches!(e.kind, EventKind::Network | EventKind::Volume)
            && e.name
                .as_deref()
                .is_some_and(|n| n.starts_with(OBJECT_PREFIX))
    }));
    // Whichever subscription fails first ends the whole stream, at once: nothing follows
    // an error (the other subscription is dropped, closing its connection).
    let both = futures_util::stream::select(labelled, named);
    let merged = futures_util::stream::unfold(Some(both), |state| async move {
        let mut both = state?;
        let item = both.next().await?;
        let next = item.is_ok().then_some(both);
        Some((item, next))
    });
    Ok(Box::pin(merged))
}

/// Opens one event subscription with these engine-side filters; returns the body to read
/// lines from, once the engine has answered.
async fn open(
    http: &RawClient,
    api_version: &str,
    filters: &[(&str, Vec<&str>)],
) -> Result<Incoming> {
    let filters: BTreeMap<&str, &Vec<&str>> = filters.iter().map(|(k, v)| (*k, v)).collect();
    let json = serde_json::to_string(&filters).unwrap_or_default();
    let path = format!("/v{api_version}/events?filters={}", encode(&json));
    let api_error = |status, message| RuntimeError::Api {
        operation: EVENTS_OPERATION.to_string(),
        status,
        message,
    };
    let response = http
        .open(&path, EVENTS_TIMEOUT)
        .await
        .map_err(|message| api_error(None, message))?;
    let status = response.status().as_u16();
    if status == 200 {
        return Ok(response.into_body());
    }
    let body = tokio::time::timeout(EVENTS_TIMEOUT, response.into_body().collect())
        .await
        .ok()
        .and_then(|b| b.ok())
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Err(api_error(Some(status), body_message(&body)))
}

/// The events of one subscription that `keep` accepts, decoded and normalised; ends after the
/// first error, and a closed body is an error too.
fn event_stream(
    body: Incoming,
    keep: impl Fn(&EngineEvent) -> bool + Send + 'static,
) -> impl futures_util::Stream<Item = Result<EngineEvent>> + Send + 'static {
    let stream_error = |message: String| RuntimeError::Api {
        operation: EVENTS_OPERATION.to_string(),
        status: None,
        message,
    };
    let state = Some((body, Vec::<u8>::new(), keep));
    futures_util::stream::unfold(state, move |state| async move {
        // `None`: an error was yielded, the stream is over.
        let (mut body, mut buffer, keep) = state?;
        let fail = |message: String| Some((Err(stream_error(message)), None));
        loop {
            if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if line.trim_ascii().is_empty() {
                    continue;
                }
                match decode_event(&line) {
                    Ok(Some(event)) if keep(&event) => {
                        return Some((Ok(event), Some((body, buffer, keep))));
                    }
                    Ok(_) => continue,
                    Err(message) => return fail(message),
                }
            }
            if buffer.len() > MAX_EVENT_LINE {
                return fail(format!("an event line longer than {MAX_EVENT_LINE} bytes"));
            }
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    return fail(format!("event stream broken: {}", crate::errors::chain(&e)));
                }
                None => return fail("the engine closed the event stream".to_string()),
            }
        }
    })
}

/// One event line, normalised; `None` for events never reported (`exec_*`).
fn decode_event(line: &[u8]) -> std::result::Result<Option<EngineEvent>, String> {
    let raw: RawEvent = serde_json::from_slice(line).map_err(|e| {
        let text = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
        format!("unreadable event ({e}): {text}")
    })?;
    let action = if raw.action.is_empty() {
        raw.status
    } else {
        raw.action
    };
    if action.starts_with("exec_") {
        return Ok(None);
    }
    let action = match action.as_str() {
        // Podman's words for Docker's.
        "remove" => "destroy".to_string(),
        "died" => "die".to_string(),
        _ => action,
    };
    let kind = match raw.typ.as_str() {
        "container" => EventKind::Container,
        "network" => EventKind::Network,
        "volume" => EventKind::Volume,
        _ => EventKind::Other,
    };
    let mut attributes = raw.actor.attributes;
    let mut id = if raw.actor.id.is_empty() {
        raw.id
    } else {
        raw.actor.id
    };
    let name = attributes
        .get("name")
        .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
        // Docker names a volume by its ID (the volume name) only.
        .or_else(|| (kind == EventKind::Volume && !id.is_empty()).then(|| id.clone()));
    if id.is_empty() {
        // Podman's volume events carry the name only.
        id = name.clone().unwrap_or_default();
    }
    let labels = if kind == EventKind::Container {
        attributes.retain(|k, _| !EVENT_ATTRIBUTES.contains(&k.as_str()));
        attributes.into_iter().collect()
    } else {
        BTreeMap::new()
    };
    let time = if raw.time_nano > 0 {
        raw.time_nano
    } else {
        raw.time.saturating_mul(1_000_000_000)
    };
    Ok(Some(EngineEvent {
        kind,
        action,
        id,
        name,
        labels,
        time,
    }))
}

/// One line of `GET /events` (Docker's and Podman's compat shape); everything optional.
#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "Type", default, deserialize_with = "null_default")]
    typ: String,
    #[serde(rename = "Action", default, deserialize_with = "null_default")]
    action: String,
    /// The pre-1.22 action field (both engines still send it for containers).
    #[serde(default, deserialize_with = "null_default")]
    status: String,
    /// The pre-1.22 ID field.
    #[serde(default, deserialize_with = "null_default")]
    id: String,
    #[serde(rename = "Actor", default, deserialize_with = "null_default")]
    actor: RawActor,
    #[serde(default, deserialize_with = "null_default")]
    time: i64,
    #[serde(rename = "timeNano", default, deserialize_with = "null_default")]
    time_nano: i64,
}

/// The object an event is about: its ID and attributes (for a container: its labels and the
/// engine's own attributes, see `EVENT_ATTRIBUTES`).
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawActor {
    #[serde(rename = "ID", default, deserialize_with = "null_default")]
    id: String,
    #[serde(default, deserialize_with = "null_default")]
    attributes: HashMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_normalises_events() {
        let decode = |line: &str| decode_event(line.as_bytes()).unwrap();
        // Docker: a labelled container; engine attributes are not labels.
        let e = decode(
            r#"{"status":"destroy","id":"c1","from":"img","Type":"container","Action":"destroy",
            "Actor":{"ID":"c1","Attributes":{"devarch.stack_id":"blog","image":"img","name":"devarch-blog-db"}},
            "scope":"local","time":1795647257,"timeNano":1795647257278380222}"#,
        )
        .unwrap();
        assert_eq!(
            (e.kind, e.action.as_str(), e.id.as_str(), e.name.as_deref()),
            (
                EventKind::Container,
                "destroy",
                "c1",
                Some("devarch-blog-db")
            )
        );
        assert_eq!(
            e.labels,
            BTreeMap::from([("devarch.stack_id".to_string(), "blog".to_string())])
        );
        assert_eq!(e.time, 1_795_647_257_278_380_222);
        // Podman: `remove` is Docker's `destroy`; its own attributes are dropped as well.
        let e = decode(
            r#"{"status":"remove","id":"c2","Type":"container","Action":"remove","Actor":{"ID":"c2",
            "Attributes":{"containerExitCode":"0","podId":"","name":"n","devarch.managed_by":"devarch"}},
            "time":1795647263}"#,
        )
        .unwrap();
        assert_eq!(
            (e.action.as_str(), e.time),
            ("destroy", 1_795_647_263_000_000_000)
        );
        assert_eq!(e.labels.keys().collect::<Vec<_>>(), ["devarch.managed_by"]);
        // Docker names a volume by its ID; Podman by a `name` attribute and an empty ID.
        let docker = decode(
            r#"{"Type":"volume","Action":"destroy","Actor":{"ID":"devarch-v","Attributes":{"driver":"local"}}}"#,
        )
        .unwrap();
        let podman = decode(
            r#"{"status":"remove","Type":"volume","Action":"remove","Actor":{"ID":"","Attributes":{"name":"devarch-v"}}}"#,
        )
        .unwrap();
        for v in [docker, podman] {
            assert_eq!(
                (v.kind, v.action.as_str(), v.id.as_str(), v.name.as_deref()),
                (EventKind::Volume, "destroy", "devarch-v", Some("devarch-v"))
            );
            assert!(v.labels.is_empty());
        }
        let net = decode(
            r#"{"Type":"network","Action":"destroy","Actor":{"ID":"n1","Attributes":{"name":"devarch-a-net","type":"bridge"}}}"#,
        )
        .unwrap();
        assert_eq!(
            (net.kind, net.name.as_deref(), net.labels.len()),
            (EventKind::Network, Some("devarch-a-net"), 0)
        );
        // Health-check chatter is dropped; health results are kept as the engine spells them.
        for exec in [
            r#"{"Type":"container","Action":"exec_create: /bin/sh -c true","Actor":{"ID":"c"}}"#,
            r#"{"Type":"container","Action":"exec_died","Actor":{"ID":"c"}}"#,
        ] {
            assert_eq!(decode_event(exec.as_bytes()).unwrap(), None);
        }
        let health = decode(
            r#"{"Type":"container","Action":"health_status: healthy","Actor":{"ID":"c","Attributes":null}}"#,
        )
        .unwrap();
        assert_eq!(health.action, "health_status: healthy");
        // Unknown types and nulls are read leniently; garbage is an error.
        let pod = decode(r#"{"Type":"pod","Action":"create","Actor":null,"time":null}"#).unwrap();
        assert_eq!((pod.kind, pod.time), (EventKind::Other, 0));
        assert!(decode_event(b"not json").is_err());
    }
}
