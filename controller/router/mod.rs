/*! The domain router: one nginx container per engine (`devarch-router`) that serves every
routed host name of every stack on the engine, whatever folder it comes from.

Like Traefik's Docker provider, the router's state is a function of the engine alone: the
containers labelled with [`LABEL_DOMAINS`] (written by [`crate::resolve::desired`]) say which
names go where. [`sync`] reconciles it after every apply that changed something:

1. no routed container on the engine: the router is removed (it holds a host port);
2. otherwise the router exists, runs, has the settings asked for (image, host port and
   [`Reach`], else it is recreated) and, where it reaches instances through their networks,
   is attached (besides the engine's default network, where it is created and its port
   published) to every stack network with a routed container (and to no other stack
   network);
3. its configuration ([`nginx::render`]) is written into it and nginx reloaded gracefully
   (`nginx -s reload`: connections in flight finish on the old workers) when the text changed.

Syncs of one engine are serialised by a lock file, so two devarch processes (two folders, or a
CLI apply beside `watch`) cannot interleave their observations and writes.
*/

pub mod nginx;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use sha2::{Digest, Sha256};

use crate::identity::{
    self, LABEL_DOMAIN_PORT, LABEL_DOMAINS, LABEL_MANAGED_BY, LABEL_OWNER, LABEL_ROUTER,
    LABEL_ROUTER_HASH, LABEL_ROUTER_IMAGE, LABEL_ROUTER_PORT, LABEL_ROUTER_REACH, LABEL_STACK,
    MANAGED_BY_VALUE, NameKind, OBJECT_PREFIX, ROUTER_NAME,
};
use crate::resolve::domains;
use crate::runtime::{
    ContainerSpec, ContainerSummary, EngineKind, PortBinding, PortProtocol, Runtime, RuntimeError,
};
use nginx::Route;

/// The router image a user gets: the official nginx image (the catalog's nginx template uses
/// the same one).
pub const DEFAULT_IMAGE: &str = "nginx:1.27-alpine";
/// Host port the router listens on (on loopback) by default: names work without a port.
pub const DEFAULT_PORT: u16 = 80;
/// Address the router's host port is bound to: `*.localhost` names resolve to loopback.
pub const HOST_IP: &str = "127.0.0.1";

/// How the router is run; from `--router-image` and `--router-port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterSettings {
    /// nginx image (official layout: `conf.d/*.conf` included in `http {}`).
    pub image: String,
    /// Host port on [`HOST_IP`].
    pub port: u16,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.into(),
            port: DEFAULT_PORT,
        }
    }
}

impl RouterSettings {
    /// Hash of the settings and `reach`, kept in [`LABEL_ROUTER_HASH`]: another value
    /// recreates the router.
    fn hash(&self, reach: Reach) -> String {
        let mut h = Sha256::new();
        h.update(self.image.as_bytes());
        h.update([0]);
        h.update(self.port.to_be_bytes());
        h.update(reach.label().as_bytes());
        // The router's layout (2: created on the engine's default network).
        h.update(b"\0layout=2");
        hex::encode(h.finalize())[..12].to_string()
    }

    /// Where nginx listens, in its own syntax.
    fn listen(&self, reach: Reach) -> String {
        match reach {
            Reach::Networks => nginx::LISTEN_PORT.to_string(),
            Reach::Host => format!("{HOST_IP}:{}", self.port),
        }
    }

    /// The settings as people read them, for a conflict.
    fn describe(&self) -> String {
        format!("image {}, port {}", self.image, self.port)
    }

    /// URL of a routed host name (`http://web.blog.localhost`, with the port unless 80).
    pub fn url(&self, domain: &str) -> String {
        if self.port == 80 {
            format!("http://{domain}/")
        } else {
            format!("http://{domain}:{}/", self.port)
        }
    }
}

/// How the router reaches the instances it proxies to.
///
/// Rootful Podman gets [`Reach::Host`]: Podman 4.3 (netavark) forwards a published port with
/// one DNAT rule per network the container is attached to, appended in attach order, and
/// when it loses track of an attachment (seen in CI after a test suite: the rules of two
/// removed stack networks stayed, ahead of the live one) the router's host port leads to an
/// address nobody has — for good, whatever devarch recreates. A router in the host's network
/// namespace publishes nothing and is attached to nothing: nginx listens on [`HOST_IP`] itself
/// and proxies to the instances' addresses on their bridges, which the host reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Attached to every routed stack network, its port published by the engine (Docker;
    /// rootless Podman, whose bridges the host cannot reach).
    Networks,
    /// In the host's network namespace (rootful Podman).
    Host,
}

impl Reach {
    /// Its value in [`LABEL_ROUTER_REACH`].
    fn label(self) -> &'static str {
        match self {
            Reach::Networks => "networks",
            Reach::Host => "host",
        }
    }

    /// The reach a router container was made with, from its label (`None`: a router from
    /// before the label, recreated).
    fn of(c: &ContainerSummary) -> Option<Reach> {
        match c.labels.get(LABEL_ROUTER_REACH).map(String::as_str) {
            Some("networks") => Some(Reach::Networks),
            Some("host") => Some(Reach::Host),
            _ => None,
        }
    }

    /// The reach for a new router on the engine (asks a Podman engine whether it is
    /// rootless).
    async fn for_engine(rt: &dyn Runtime) -> Result<Reach, RuntimeError> {
        if rt.engine().kind == EngineKind::Podman && !rt.rootless().await? {
            Ok(Reach::Host)
        } else {
            Ok(Reach::Networks)
        }
    }
}

/// What one sync changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouterChange {
    /// The router was created and started.
    Created,
    /// The router had other settings (image or port) and was replaced.
    Recreated,
    /// The router was stopped and was started.
    Started,
    /// Nothing is routed any more: the router was removed.
    Removed,
    /// Attached to a stack network.
    Connected(String),
    /// Detached from a stack network without routed instances.
    Disconnected(String),
    /// New configuration written and nginx reloaded.
    Reloaded,
}

/// What [`sync`] found and did.
#[derive(Clone, Debug, Default)]
pub struct RouterReport {
    /// Every routed host name, with where it goes.
    pub routes: Vec<Route>,
    /// What changed, in order.
    pub changes: Vec<RouterChange>,
}

/// Why the router could not be brought in line.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// Its host port is held by something else.
    #[error(
        "the router cannot listen on {HOST_IP}:{port}: {source}; pick a free port with --router-port (or DEVARCH_ROUTER_PORT)"
    )]
    PortTaken {
        /// The port asked for.
        port: u16,
        /// The engine's error.
        source: RuntimeError,
    },
    /// The running router has other settings and serves other folders' names: it is not
    /// replaced under them.
    #[error(
        "the router {ROUTER_NAME} runs {running} and serves host names of other manifests folders ({holders}); this apply asks for {asked}: use the same --router-image and --router-port (or DEVARCH_ROUTER_IMAGE / DEVARCH_ROUTER_PORT) as they do, or stop their routed stacks first; the router was left as it is"
    )]
    SettingsConflict {
        /// What the running router was made with (`image nginx:1.27-alpine, port 80`).
        running: String,
        /// What this sync asked for.
        asked: String,
        /// The other folders with routed containers.
        holders: String,
    },
    /// nginx refused the configuration (a bug: everything in it is checked).
    #[error("the router refused its configuration: {0}")]
    Config(String),
    /// The engine failed.
    #[error("router {ROUTER_NAME}: {0}")]
    Runtime(#[from] RuntimeError),
    /// The lock serialising syncs could not be taken.
    #[error("router lock {path}: {source}")]
    Lock {
        /// The lock file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Brings the router in line with the routed containers on the engine (see the module docs).
///
/// # Errors
/// [`RouterError`]; the stacks' own objects are not touched either way.
/// `owner` is the folder syncing: routed containers of other folders decide whether the
/// router may be replaced with other settings.
pub async fn sync(
    rt: &dyn Runtime,
    settings: &RouterSettings,
    owner: &str,
) -> Result<RouterReport, RouterError> {
    let _lock = lock(&rt.engine().endpoint).await?;
    // The router is anyone's to remove or stop (`docker rm -f devarch-router`): when it goes
    // away in the middle, the next attempt sees that and makes it again.
    let mut attempt = 1;
    loop {
        match sync_once(rt, settings, owner).await {
            Err(e) if attempt < SYNC_ATTEMPTS && e.is_retryable() => {
                tracing::debug!(attempt, "router sync: {e}; trying again");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// Attempts of one [`sync`].
const SYNC_ATTEMPTS: u32 = 3;

impl RouterError {
    /// Whether a new attempt may succeed (the router changed under the sync), unlike a taken
    /// port or lock.
    fn is_retryable(&self) -> bool {
        matches!(self, RouterError::Runtime(_) | RouterError::Config(_))
    }
}

async fn sync_once(
    rt: &dyn Runtime,
    settings: &RouterSettings,
    owner: &str,
) -> Result<RouterReport, RouterError> {
    let all = rt.list_containers(OBJECT_PREFIX).await?;
    let router = all.iter().find(|c| is_router(c));
    let routed: Vec<&ContainerSummary> = all.iter().filter(|c| routed_stack(c).is_some()).collect();
    let mut report = RouterReport::default();
    if routed.is_empty() {
        if let Some(r) = router {
            rt.remove_container(&r.id, true).await?;
            report.changes.push(RouterChange::Removed);
        }
        return Ok(report);
    }
    let networks: BTreeSet<String> = routed
        .iter()
        .filter_map(|c| routed_stack(c))
        .map(identity::network_name)
        .collect();
    // The engine's kind and rootlessness do not change under a running router: its label
    // says (and saves a Podman engine the question on every sync).
    let reach = match router.and_then(Reach::of) {
        Some(reach) => reach,
        None => Reach::for_engine(rt).await?,
    };
    // Another image or port than the running router's may replace it only as `may_replace`
    // says; the same settings with another reach or layout (an upgrade) always may.
    let same_settings = |r: &ContainerSummary| {
        r.labels.get(LABEL_ROUTER_IMAGE) == Some(&settings.image)
            && r.labels.get(LABEL_ROUTER_PORT) == Some(&settings.port.to_string())
    };
    if let Some(r) = router
        && r.labels.get(LABEL_ROUTER_HASH) != Some(&settings.hash(reach))
        && !same_settings(r)
    {
        may_replace(rt, r, settings, &routed, owner)?;
    }
    let (id, attached) = ensure_running(rt, settings, reach, router, &mut report).await?;
    if reach == Reach::Networks {
        for net in networks.difference(&attached) {
            match rt.connect_network(net, &id, &[]).await {
                Ok(()) => report.changes.push(RouterChange::Connected(net.clone())),
                // Another folder removed its stack (and network) since the list: nothing of
                // it is routed any more, and it is no failure of this sync.
                Err(e) if e.is_not_found() => {
                    tracing::debug!(network = %net, "router not attached (network gone): {e}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        for net in attached.difference(&networks) {
            // A stale attachment is harmless (and its network may be going away right now).
            if identity::stack_of_network(net).is_some() {
                match rt.disconnect_network(net, &id).await {
                    Ok(()) => report.changes.push(RouterChange::Disconnected(net.clone())),
                    Err(e) => tracing::debug!(network = %net, "router not detached: {e}"),
                }
            }
        }
    }
    report.routes = routes(rt, &routed).await?;
    if push(
        rt,
        &id,
        &nginx::render(&report.routes, &settings.listen(reach)),
    )
    .await?
    {
        report.changes.push(RouterChange::Reloaded);
    }
    Ok(report)
}

/// Whether the running router `r`, made with other settings, may be replaced by one with
/// `settings`: only when no other folder's names are routed through it, and the port asked
/// for is free (a held port is told first: it is the more useful error).
fn may_replace(
    rt: &dyn Runtime,
    r: &ContainerSummary,
    settings: &RouterSettings,
    routed: &[&ContainerSummary],
    owner: &str,
) -> Result<(), RouterError> {
    let running_port = r.labels.get(LABEL_ROUTER_PORT).and_then(|p| p.parse().ok());
    if !rt.engine().remote
        && running_port != Some(settings.port)
        && let Some(e) = port_held(settings.port)
    {
        return Err(port_taken_error(settings.port, &e));
    }
    let others: BTreeSet<&str> = routed
        .iter()
        .filter_map(|c| c.labels.get(LABEL_OWNER).map(String::as_str))
        .filter(|o| *o != owner)
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    let running = match (r.labels.get(LABEL_ROUTER_IMAGE), running_port) {
        (Some(image), Some(port)) => RouterSettings {
            image: crate::printable::line(image).into_owned(),
            port,
        }
        .describe(),
        _ => "settings an older devarch did not record".to_string(),
    };
    let holders: Vec<String> = others
        .iter()
        .map(|o| crate::printable::line(o).into_owned())
        .collect();
    Err(RouterError::SettingsConflict {
        running,
        asked: settings.describe(),
        holders: holders.join(", "),
    })
}

/// Detaches the router from a stack network about to be removed (an engine refuses to remove
/// a network a container is attached to). Errors are ignored: the router may not exist or
/// not be attached, and the removal that follows reports what matters.
pub async fn release_network(rt: &dyn Runtime, network_id: &str) {
    if let Err(e) = rt.disconnect_network(network_id, ROUTER_NAME).await {
        tracing::debug!(network = network_id, "router not detached: {e}");
    }
}

/// Whether a listed container is the router.
pub fn is_router(c: &ContainerSummary) -> bool {
    c.name == ROUTER_NAME
        && c.labels.get(LABEL_ROUTER).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// The stack of a devarch container with routed host names.
fn routed_stack(c: &ContainerSummary) -> Option<&str> {
    if c.labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE)
        || identity::is_next_container_name(&c.name)
        || c.labels.get(LABEL_DOMAINS).is_none_or(|d| d.is_empty())
    {
        return None;
    }
    c.labels.get(LABEL_STACK).map(String::as_str)
}

/// The stack and instance of a routed container, when both pass the manifests' name rules:
/// they go into the router's configuration, and a container anyone could have labelled must
/// not carry nginx syntax there. One that fails is skipped with a warning, never routed.
fn routed_identity(c: &ContainerSummary) -> Option<(&str, &str)> {
    let stack = routed_stack(c)?;
    let instance = c
        .labels
        .get(identity::LABEL_INSTANCE)
        .map_or("", String::as_str);
    let valid = identity::check_name(NameKind::Stack, stack).is_ok()
        && identity::check_name(NameKind::Instance, instance).is_ok();
    if !valid {
        tracing::warn!(
            container = %crate::printable::line(&c.name),
            "not routed: its stack or instance label is not a valid name"
        );
        return None;
    }
    Some((stack, instance))
}

/// Makes the router exist with `settings` and `reach` and run; its ID and the networks it is
/// attached to.
async fn ensure_running(
    rt: &dyn Runtime,
    settings: &RouterSettings,
    reach: Reach,
    router: Option<&ContainerSummary>,
    report: &mut RouterReport,
) -> Result<(String, BTreeSet<String>), RouterError> {
    let hash = settings.hash(reach);
    if let Some(r) = router {
        if r.labels.get(LABEL_ROUTER_HASH) == Some(&hash) {
            if !r.state.is_running() {
                start(rt, settings, &r.id).await?;
                report.changes.push(RouterChange::Started);
            }
            return Ok((r.id.clone(), r.networks.iter().cloned().collect()));
        }
        rt.remove_container(&r.id, true).await?;
    }
    if !rt.image_present(&settings.image).await? {
        rt.pull_image(&settings.image, &|_| {}).await?;
    }
    let first = match reach {
        // On the engine's default network, never a stack's: the engine publishes the port
        // through the network a container was created on, and a stack network goes away
        // (and is detached first) whenever its stack is removed — the router's port would go
        // with it while other folders' names still need it.
        Reach::Networks => String::new(),
        Reach::Host => {
            // nginx would retry a held port for seconds, then exit: on this machine the
            // kernel can tell at once.
            if !rt.engine().remote {
                port_free(settings.port).await?;
            }
            "host".to_string()
        }
    };
    let mut spec = ContainerSpec {
        name: ROUTER_NAME.into(),
        image: settings.image.clone(),
        labels: BTreeMap::from([
            (LABEL_MANAGED_BY.into(), MANAGED_BY_VALUE.into()),
            (LABEL_ROUTER.into(), MANAGED_BY_VALUE.into()),
            (LABEL_ROUTER_HASH.into(), hash),
            (LABEL_ROUTER_REACH.into(), reach.label().into()),
            (LABEL_ROUTER_IMAGE.into(), settings.image.clone()),
            (LABEL_ROUTER_PORT.into(), settings.port.to_string()),
        ]),
        network: first.clone(),
        ..ContainerSpec::default()
    };
    match reach {
        Reach::Networks => {
            spec.ports = vec![PortBinding {
                container_port: nginx::LISTEN_PORT,
                protocol: PortProtocol::Tcp,
                host_ip: Some(HOST_IP.into()),
                host_port: settings.port,
            }];
        }
        Reach::Host => {
            // In the host's namespace nginx must never start on the image's own server (port
            // 80 on every address): it starts on devarch's, with no names routed yet.
            spec.command = Some(vec![
                "sh".into(),
                "-c".into(),
                HOST_START.into(),
                nginx::render(&[], &settings.listen(reach)).concat(),
                nginx::CONFIG_PATH.into(),
            ]);
        }
    }
    let id = rt.create_container(&spec).await?;
    if let Err(e) = start(rt, settings, &id).await {
        // No half-made router left holding the name.
        let _ = rt.remove_container(&id, true).await;
        return Err(e);
    }
    report.changes.push(if router.is_some() {
        RouterChange::Recreated
    } else {
        RouterChange::Created
    });
    let attached = BTreeSet::from([first])
        .into_iter()
        .filter(|n| !n.is_empty());
    Ok((id, attached.collect()))
}

/// How long a held router port is waited for before it counts as taken: a router removed
/// a moment ago (by another folder's sync: nothing was routed any more) may still hold it.
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Waits until `port` on [`HOST_IP`] is free on this machine, up to [`PORT_RELEASE_WAIT`]; a
/// port still held then is [`RouterError::PortTaken`] (nginx would retry a held port for
/// seconds, then exit: the kernel can tell at once).
async fn port_free(port: u16) -> Result<(), RouterError> {
    let deadline = tokio::time::Instant::now() + PORT_RELEASE_WAIT;
    loop {
        let Some(e) = port_held(port) else {
            return Ok(());
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(port_taken_error(port, &e));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether something on this machine holds `port` on [`HOST_IP`]: the bind's error if so.
fn port_held(port: u16) -> Option<std::io::Error> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .err()
        .filter(|e| e.kind() == std::io::ErrorKind::AddrInUse)
}

fn port_taken_error(port: u16, e: &std::io::Error) -> RouterError {
    RouterError::PortTaken {
        port,
        source: RuntimeError::Api {
            operation: format!("start container {ROUTER_NAME}"),
            status: None,
            message: format!("listen tcp4 {HOST_IP}:{port}: {e}"),
        },
    }
}

/// The command of a [`Reach::Host`] router: its first configuration (`$0`) written to `$1`
/// ([`nginx::CONFIG_PATH`]) in place of the image's default server, then nginx in the
/// foreground.
const HOST_START: &str = r#"rm -f /etc/nginx/conf.d/default.conf && printf '%s' "$0" > "$1" && exec nginx -g 'daemon off;'"#;

/// Starts the router; a host port held by something else is [`RouterError::PortTaken`].
async fn start(rt: &dyn Runtime, settings: &RouterSettings, id: &str) -> Result<(), RouterError> {
    rt.start_container(id).await.map_err(|e| {
        if port_taken(&e) {
            RouterError::PortTaken {
                port: settings.port,
                source: e,
            }
        } else {
            RouterError::Runtime(e)
        }
    })
}

/// Whether a start failed because its host port is held: by another container ("port is
/// already allocated") or another process (Docker's proxy and Podman both say "address
/// already in use").
fn port_taken(e: &RuntimeError) -> bool {
    let text = e.to_string();
    text.contains("port is already allocated") || text.contains("address already in use")
}

/// Every routed host name with its instance's address on the stack network (read with one
/// inspect per running routed container, in parallel). Labels are checked again: a container
/// anyone could have labelled must not be able to write nginx directives.
///
/// A name claimed by containers of more than one stack (two folders that applied at the same
/// moment, or a container made by hand) is routed to none of them: which one serves it must
/// never depend on the order of applies or of this list. `devarch plan` shows such a claim as
/// a conflict before it is made.
async fn routes(rt: &dyn Runtime, routed: &[&ContainerSummary]) -> Result<Vec<Route>, RouterError> {
    let inspects = routed.iter().map(|c| async move {
        if c.state.is_running() {
            rt.inspect_container(&c.id).await.map(|d| Some(d.addresses))
        } else {
            Ok(None)
        }
    });
    let mut out: BTreeMap<String, Route> = BTreeMap::new();
    let mut claims: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for (c, addresses) in routed.iter().zip(join_all(inspects).await) {
        let addresses = match addresses {
            Ok(a) => a,
            // Removed since the list: not routed.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let Some((stack, instance)) = routed_identity(c) else {
            continue;
        };
        let folder = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        let port = c
            .labels
            .get(LABEL_DOMAIN_PORT)
            .and_then(|p| p.parse::<u16>().ok());
        let ip = addresses
            .as_ref()
            .and_then(|a| a.get(&identity::network_name(stack)))
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        let upstream = ip.zip(port);
        let names = identity::decode_domains(&c.labels[LABEL_DOMAINS]);
        for domain in names.iter().filter_map(|d| domains::check(d).ok()) {
            claims
                .entry(domain.clone())
                .or_default()
                .insert((folder.clone(), stack.to_string()));
            out.insert(
                domain.clone(),
                Route {
                    domain,
                    stack: stack.to_string(),
                    instance: instance.to_string(),
                    upstream,
                    disputed: false,
                },
            );
        }
    }
    for (domain, claimants) in claims.into_iter().filter(|(_, c)| c.len() > 1) {
        tracing::warn!(
            domain = %domain,
            claimants = claimants.len(),
            "host name claimed by more than one stack: routed to none of them"
        );
        if let Some(r) = out.get_mut(&domain) {
            r.disputed = true;
            r.upstream = None;
        }
    }
    Ok(out.into_values().collect())
}

/// Writes the configuration into the router and reloads nginx if it changed; whether it did.
/// On a configuration nginx refuses, the previous one is put back.
async fn push(rt: &dyn Runtime, id: &str, chunks: &[String]) -> Result<bool, RouterError> {
    // `nginx -s reload` only signals the master: the script then waits until the workers
    // that served the old configuration have stopped accepting (their title changes to
    // "worker process is shutting down"), so a request made after the sync gets the new one.
    const SCRIPT: &str = r#"c=$0
workers() {
  for p in /proc/[0-9]*; do
    t=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
    if [ "$t" = "nginx: worker process " ] || [ "$t" = "nginx: worker process" ]; then echo "${p#/proc/}"; fi
  done
}
rm -f /etc/nginx/conf.d/default.conf
printf '%s' "$@" > "$c.new" || exit 5
if [ -f "$c" ] && cmp -s "$c.new" "$c"; then rm -f "$c.new"; exit 0; fi
if [ -f "$c" ]; then cp "$c" "$c.old"; fi
mv "$c.new" "$c"
if ! out=$(nginx -t 2>&1); then
  echo "$out" >&2
  if [ -f "$c.old" ]; then mv "$c.old" "$c"; else rm -f "$c"; fi
  exit 3
fi
old=$(workers)
i=0
until nginx -s reload 2>/dev/null; do
  i=$((i+1))
  if [ $i -ge 100 ]; then echo "nginx did not take the reload signal" >&2; exit 4; fi
  sleep 0.05
done
i=0
while [ -n "$old" ]; do
  now=$(workers)
  left=
  for p in $old; do
    case " $(echo $now) " in *" $p "*) left="$left $p";; esac
  done
  old=$left
  [ -z "$old" ] && break
  i=$((i+1))
  if [ $i -ge 200 ]; then echo "nginx's old workers did not stop accepting within 10 s" >&2; exit 4; fi
  sleep 0.05
done
exit 10"#;
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        SCRIPT.to_string(),
        nginx::CONFIG_PATH.to_string(),
    ];
    cmd.extend(chunks.iter().cloned());
    let session = rt.exec(id, &cmd, false).await?;
    drop(session.input);
    let mut output = session.output;
    let mut stderr = Vec::new();
    while let Some(chunk) = output.next().await {
        let chunk = chunk?;
        if stderr.len() < 16 * 1024 {
            stderr.extend_from_slice(&chunk.bytes);
        }
    }
    match crate::runtime::exec_exit_code_after_output(rt, &session.id).await? {
        Some(0) => Ok(false),
        Some(10) => Ok(true),
        other => Err(RouterError::Config(format!(
            "exit code {other:?}: {}",
            crate::printable::block(String::from_utf8_lossy(&stderr).trim())
        ))),
    }
}

/// Takes the lock serialising syncs of the engine at `endpoint` by this user: in the user's
/// own lock folder ([`crate::state::user_lock_dir`]), never a shared one such as `/tmp` where
/// another user could create the file first and hold it.
async fn lock(endpoint: &str) -> Result<std::fs::File, RouterError> {
    let digest = hex::encode(Sha256::digest(endpoint.as_bytes()));
    let name = format!("router-{}.lock", &digest[..12]);
    let dir = crate::state::user_lock_dir().map_err(|e| RouterError::Lock {
        path: name.clone(),
        source: std::io::Error::other(e),
    })?;
    let path = dir.join(name);
    let shown = path.display().to_string();
    let err = |source| RouterError::Lock {
        path: shown.clone(),
        source,
    };
    let file =
        crate::state::home::open_lock_file(&path).map_err(|e| err(std::io::Error::other(e)))?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| err(std::io::Error::other(e)))?
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(message: &str) -> RuntimeError {
        RuntimeError::Api {
            operation: "start container devarch-router".into(),
            status: Some(500),
            message: message.into(),
        }
    }

    #[test]
    fn a_taken_host_port_is_told_apart_and_names_the_flag() {
        // As Docker 20.10 and Podman 4.3 answer (seen on this machine).
        for held in [
            "driver failed programming external connectivity on endpoint devarch-router (7712d5b3): Error starting userland proxy: listen tcp4 127.0.0.1:7999: bind: address already in use",
            "cannot listen on the TCP port: listen tcp4 127.0.0.1:7999: bind: address already in use",
            "driver failed programming external connectivity on endpoint devarch-router (1f2e): Bind for 127.0.0.1:80 failed: port is already allocated",
        ] {
            assert!(port_taken(&api(held)), "{held}");
        }
        assert!(!port_taken(&api("no such image")));
        let e = RouterError::PortTaken {
            port: 7999,
            source: api("bind: address already in use"),
        };
        let text = e.to_string();
        assert!(text.contains("127.0.0.1:7999"), "{text}");
        assert!(text.contains("--router-port"), "{text}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn urls_leave_out_port_80() {
        let mut s = RouterSettings::default();
        assert_eq!(s.url("web.blog.localhost"), "http://web.blog.localhost/");
        s.port = 7480;
        assert_eq!(
            s.url("web.blog.localhost"),
            "http://web.blog.localhost:7480/"
        );
    }
}
