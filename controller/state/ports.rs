//! Host ports picked for `host: auto`, kept in `{home}/ports.json` so that a port,
//! once given to `(manifests folder, stack, instance, container port, protocol)`, stays the
//! same across re-plans and restarts, and two stacks never get the same one. The folder is its
//! owner label ([`crate::identity::owner_of`]): the same stack name applied from two folders
//! with one home gets its own ports.
//!
//! Records written before ports were kept per folder (version 1, no `owner`) stay reserved
//! and are taken over, on first use, by the first folder that asks for that slot.
//!
//! Several devarch processes may allocate at once: do load-modify-save inside
//! [`PortStore::with_locked`], which holds an exclusive lock on `{home}/ports.lock`.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::home::{self, STATE_FILE_LIMIT};
use super::{FileMode, Home, HomeError, lock_exclusive, write_atomic};
use crate::manifests::types::Protocol;

/// File name of the port records under `--home`.
pub const PORTS_FILE: &str = "ports.json";
/// File name of the lock under `--home`.
pub const LOCK_FILE: &str = "ports.lock";
/// Version written in `ports.json` (2: records carry their folder).
const FORMAT_VERSION: u32 = 2;
/// Version of the records written before they were kept per folder.
const LEGACY_VERSION: u32 = 1;
/// Kernel-chosen candidates tried before giving up.
const MAX_ATTEMPTS: usize = 200;

/// Errors of the port store; every message names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A file-system or socket operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The home, or `ports.json` or its lock, failed its checks (link, owner, mode).
    #[error(transparent)]
    Home(#[from] HomeError),
    /// `ports.json` is not valid.
    #[error("port records {} are not valid: {detail}", path.display())]
    Corrupt {
        /// The records file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// No free host port was found.
    #[error(
        "no free host port found for {stack}/{instance} port {port}/{protocol} after {MAX_ATTEMPTS} tries (records in {})",
        path.display()
    )]
    Exhausted {
        /// The records file.
        path: PathBuf,
        /// Stack of the port that needed a host port.
        stack: String,
        /// Instance of the port within that stack.
        instance: String,
        /// The port inside the container.
        port: u16,
        /// Its protocol (`tcp` or `udp`).
        protocol: Protocol,
    },
}

/// Result of port store operations.
pub type Result<T, E = PortError> = std::result::Result<T, E>;

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> PortError {
    move |source| PortError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Identity of an auto-published port: owner (`None` for a record written before ports were
/// kept per folder), stack, instance, container port, protocol.
type Slot = (Option<String>, String, String, u16, Protocol);

/// Who holds a recorded host port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortHolder {
    /// The manifests folder (owner label); `None` for a record from before ports were kept
    /// per folder.
    pub owner: Option<String>,
    /// The stack.
    pub stack: String,
    /// The instance.
    pub instance: String,
}

/// One line of `ports.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    stack: String,
    instance: String,
    container_port: u16,
    protocol: Protocol,
    host_port: u16,
}

/// On-disk shape of `ports.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortsFile {
    version: u32,
    ports: Vec<Record>,
}

/// The recorded host ports of one `--home`.
#[derive(Debug)]
pub struct PortStore {
    path: PathBuf,
    slots: BTreeMap<Slot, u16>,
    dirty: bool,
}

impl PortStore {
    /// Load `{home}/ports.json` (empty when it does not exist) from a checked home, never
    /// through a link. Prefer [`PortStore::with_locked`] when the store will be changed.
    pub fn load(home: &Path) -> Result<Self> {
        Home::open(home)?;
        let path = home.join(PORTS_FILE);
        let slots = match home::read_file(&path, STATE_FILE_LIMIT)? {
            Some(bytes) => parse(&path, &bytes)?,
            None => BTreeMap::new(),
        };
        Ok(PortStore {
            path,
            slots,
            dirty: false,
        })
    }

    /// Run `f` on the store with `{home}/ports.lock` held exclusively: load, call `f`,
    /// save if anything changed, unlock. When `f` fails nothing is saved.
    pub fn with_locked<T, E>(
        home: &Path,
        f: impl FnOnce(&mut PortStore) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<PortError>,
    {
        Home::open(home).map_err(PortError::from)?;
        let _lock = lock_exclusive(&home.join(LOCK_FILE)).map_err(PortError::from)?;
        let mut store = PortStore::load(home)?;
        let out = f(&mut store)?;
        if store.dirty {
            store.save()?;
        }
        Ok(out)
    }

    /// Path of `ports.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The host port recorded for this container port of the folder `owner`, if any (a
    /// record from before ports were kept per folder counts).
    pub fn assigned(
        &self,
        owner: &str,
        stack: &str,
        instance: &str,
        port: u16,
        proto: Protocol,
    ) -> Option<u16> {
        self.slots
            .get(&slot(Some(owner), stack, instance, port, proto))
            .or_else(|| self.slots.get(&slot(None, stack, instance, port, proto)))
            .copied()
    }

    /// The host port for this container port: the recorded one, or else a newly
    /// picked free one, recorded (call [`PortStore::save`], or use
    /// [`PortStore::with_locked`]). A new port is a random one outside the kernel's
    /// ephemeral range (`auto_range`), bindable on 0.0.0.0 right now, not recorded for
    /// anyone and not in `fixed_in_use` (the fixed host ports of all stacks). A recorded port that
    /// has since become a fixed port somewhere is given up and replaced.
    ///
    /// A record from before ports were kept per folder is taken over by `owner`.
    pub fn assign_auto(
        &mut self,
        owner: &str,
        stack: &str,
        instance: &str,
        port: u16,
        proto: Protocol,
        fixed_in_use: &HashSet<u16>,
    ) -> Result<u16> {
        self.assign_auto_where(
            (owner, stack, instance, port, proto),
            fixed_in_use,
            &Self::is_free_on_host,
        )
    }

    /// [`PortStore::assign_auto`] with what says a port is free given (a remote engine's
    /// published ports, rather than this machine's kernel).
    pub fn assign_auto_where(
        &mut self,
        id: (&str, &str, &str, u16, Protocol),
        fixed_in_use: &HashSet<u16>,
        is_free: &dyn Fn(u16, Protocol) -> bool,
    ) -> Result<u16> {
        let range = auto_range(&local_port_range());
        let candidates = std::iter::repeat_with(|| random_port(&range));
        self.assign_from(id, fixed_in_use, candidates, is_free)
    }

    /// [`PortStore::assign_auto`] with the candidate ports given.
    fn assign_from(
        &mut self,
        (owner, stack, instance, port, proto): (&str, &str, &str, u16, Protocol),
        fixed_in_use: &HashSet<u16>,
        candidates: impl Iterator<Item = io::Result<u16>>,
        is_free: &dyn Fn(u16, Protocol) -> bool,
    ) -> Result<u16> {
        let key = slot(Some(owner), stack, instance, port, proto);
        if let Some(host) = self.slots.remove(&slot(None, stack, instance, port, proto)) {
            // Recorded before ports were kept per folder: this folder's now.
            self.slots.entry(key.clone()).or_insert(host);
            self.dirty = true;
        }
        if let Some(&host) = self.slots.get(&key) {
            if !fixed_in_use.contains(&host) {
                return Ok(host);
            }
            self.slots.remove(&key);
            self.dirty = true;
        }
        let taken: HashSet<u16> = self.slots.values().copied().collect();
        for candidate in candidates.take(MAX_ATTEMPTS) {
            let candidate = candidate.map_err(io_err("probe a free port for", &self.path))?;
            if candidate == 0
                || taken.contains(&candidate)
                || fixed_in_use.contains(&candidate)
                || !is_free(candidate, proto)
            {
                continue;
            }
            self.slots.insert(key, candidate);
            self.dirty = true;
            return Ok(candidate);
        }
        Err(PortError::Exhausted {
            path: self.path.clone(),
            stack: stack.to_string(),
            instance: instance.to_string(),
            port,
            protocol: proto,
        })
    }

    /// Forget every port of `stack` of the folder `owner` (and its records from before
    /// ports were kept per folder); returns how many were released.
    pub fn release_stack(&mut self, owner: &str, stack: &str) -> usize {
        self.release(|(o, s, _, _, _)| o.as_deref().is_none_or(|o| o == owner) && s == stack)
    }

    /// Forget every port of `instance` in `stack` of the folder `owner` (and its records from
    /// before ports were kept per folder); returns how many were released.
    pub fn release_instance(&mut self, owner: &str, stack: &str, instance: &str) -> usize {
        self.release(|(o, s, i, _, _)| {
            o.as_deref().is_none_or(|o| o == owner) && s == stack && i == instance
        })
    }

    /// Forget the ports of every instance of `stack` (folder `owner`) not in `keep`: the
    /// instances removed from the stack.
    pub fn release_instances_except(
        &mut self,
        owner: &str,
        stack: &str,
        keep: &std::collections::BTreeSet<&str>,
    ) -> usize {
        self.release(|(o, s, i, _, _)| {
            o.as_deref().is_none_or(|o| o == owner) && s == stack && !keep.contains(i.as_str())
        })
    }

    fn release(&mut self, matches: impl Fn(&Slot) -> bool) -> usize {
        let before = self.slots.len();
        self.slots.retain(|k, _| !matches(k));
        let released = before - self.slots.len();
        self.dirty |= released > 0;
        released
    }

    /// Who holds host port `port`, for error messages.
    pub fn holder(&self, port: u16, proto: Protocol) -> Option<PortHolder> {
        self.slots
            .iter()
            .find(|((_, _, _, _, p), host)| **host == port && *p == proto)
            .map(|((o, s, i, _, _), _)| PortHolder {
                owner: o.clone(),
                stack: s.clone(),
                instance: i.clone(),
            })
    }

    /// Whether `port` can be bound on 0.0.0.0 right now (nothing listens on it).
    pub fn is_free_on_host(port: u16, proto: Protocol) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        match proto {
            Protocol::Tcp => TcpListener::bind(addr).is_ok(),
            Protocol::Udp => UdpSocket::bind(addr).is_ok(),
        }
    }

    /// Write `ports.json` atomically (temporary file + rename, mode 0600).
    pub fn save(&mut self) -> Result<()> {
        let file = PortsFile {
            version: FORMAT_VERSION,
            ports: self
                .slots
                .iter()
                .map(|((owner, stack, instance, port, proto), host)| Record {
                    owner: owner.clone(),
                    stack: stack.clone(),
                    instance: instance.clone(),
                    container_port: *port,
                    protocol: *proto,
                    host_port: *host,
                })
                .collect(),
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|e| PortError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        json.push(b'\n');
        if let Some(dir) = self.path.parent() {
            Home::open(dir)?;
        }
        write_atomic(&self.path, &json, FileMode::Private).map_err(io_err("write", &self.path))?;
        self.dirty = false;
        Ok(())
    }
}

fn slot(owner: Option<&str>, stack: &str, instance: &str, port: u16, proto: Protocol) -> Slot {
    (
        owner.map(str::to_string),
        stack.to_string(),
        instance.to_string(),
        port,
        proto,
    )
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`; Linux's default when it
/// cannot be read).
fn local_port_range() -> std::ops::RangeInclusive<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some(it.next()??..=it.next()??)
        })
        .filter(|r| !r.is_empty())
        .unwrap_or(32768..=60999)
}

/// Where `host: auto` ports are picked: outside the kernel's ephemeral range, so that no
/// outgoing connection can take the port between the plan and the container's start (the
/// kernel hands those out from the ephemeral range). Below the range from 10000 when there is
/// room for a few thousand ports there, else the larger side.
fn auto_range(ephemeral: &std::ops::RangeInclusive<u16>) -> std::ops::RangeInclusive<u16> {
    const LOW: u16 = 10000;
    const ENOUGH: u16 = 4096;
    let below = LOW..=ephemeral.start().saturating_sub(1);
    let above = ephemeral.end().saturating_add(1)..=u16::MAX;
    let size = |r: &std::ops::RangeInclusive<u16>| {
        if r.is_empty() { 0 } else { r.end() - r.start() }
    };
    if size(&below) >= ENOUGH || (size(&below) >= size(&above) && size(&below) > 0) {
        below
    } else if size(&above) > 0 {
        above
    } else {
        // Every port is ephemeral: nothing to avoid.
        1024..=u16::MAX
    }
}

/// A random port of `range` (the caller checks that it is free).
fn random_port(range: &std::ops::RangeInclusive<u16>) -> io::Result<u16> {
    use ring::rand::{SecureRandom, SystemRandom};
    if range.is_empty() {
        return Ok(0);
    }
    let mut bytes = [0u8; 4];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("no randomness from the system"))?;
    let span = u32::from(range.end() - range.start()) + 1;
    let offset = u32::from_le_bytes(bytes) % span;
    Ok(range.start() + offset as u16)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<Slot, u16>> {
    let corrupt = |detail: String| PortError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let file: PortsFile = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.version != FORMAT_VERSION && file.version != LEGACY_VERSION {
        return Err(corrupt(format!(
            "version {} is not supported (expected {FORMAT_VERSION})",
            file.version
        )));
    }
    let mut slots = BTreeMap::new();
    for r in file.ports {
        if file.version == LEGACY_VERSION && r.owner.is_some() {
            return Err(corrupt(format!(
                "version {LEGACY_VERSION} records have no owner ({}/{})",
                r.stack, r.instance
            )));
        }
        let key = slot(
            r.owner.as_deref(),
            &r.stack,
            &r.instance,
            r.container_port,
            r.protocol,
        );
        if slots.insert(key, r.host_port).is_some() {
            return Err(corrupt(format!(
                "{}/{} port {}/{} is recorded twice",
                r.stack, r.instance, r.container_port, r.protocol
            )));
        }
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: &str = "/work/manifests";
    const TCP: Protocol = Protocol::Tcp;
    const UDP: Protocol = Protocol::Udp;

    fn held(owner: &str, stack: &str, instance: &str) -> PortHolder {
        PortHolder {
            owner: Some(owner.into()),
            stack: stack.into(),
            instance: instance.into(),
        }
    }

    fn none() -> HashSet<u16> {
        HashSet::new()
    }

    /// A port nothing listens on right now.
    fn free_port(proto: Protocol) -> u16 {
        let range = auto_range(&local_port_range());
        loop {
            let p = random_port(&range).unwrap();
            if PortStore::is_free_on_host(p, proto) {
                return p;
            }
        }
    }

    #[test]
    fn assignment_is_stable_across_reload() {
        let home = tempfile::tempdir().unwrap();
        let first = PortStore::with_locked(home.path(), |s| {
            let p = s.assign_auto(O, "blog", "db", 5432, TCP, &none())?;
            assert_eq!(s.assign_auto(O, "blog", "db", 5432, TCP, &none())?, p);
            Ok::<_, PortError>(p)
        })
        .unwrap();
        let store = PortStore::load(home.path()).unwrap();
        assert_eq!(store.assigned(O, "blog", "db", 5432, TCP), Some(first));
        assert_eq!(store.assigned(O, "blog", "db", 5432, UDP), None);
        assert_eq!(store.holder(first, TCP), Some(held(O, "blog", "db")));
        assert_eq!(store.holder(first, UDP), None);
        let again = PortStore::with_locked(home.path(), |s| {
            s.assign_auto(O, "blog", "db", 5432, TCP, &none())
        })
        .unwrap();
        assert_eq!(again, first);
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(home.path().join(PORTS_FILE))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn two_stacks_get_different_ports() {
        let home = tempfile::tempdir().unwrap();
        let mut store = PortStore::load(home.path()).unwrap();
        let mut seen = HashSet::new();
        for stack in ["blog", "shop", "wiki"] {
            for (port, proto) in [(5432, TCP), (80, TCP), (53, UDP)] {
                let p = store
                    .assign_auto(O, stack, "db", port, proto, &none())
                    .unwrap();
                assert!(seen.insert(p), "port {p} handed out twice");
            }
        }
        store.save().unwrap();
    }

    #[test]
    fn concurrent_allocations_do_not_collide() {
        let home = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let home = home.path();
                    scope.spawn(move || {
                        PortStore::with_locked(home, |s| {
                            s.assign_auto(O, &format!("stack{i}"), "web", 80, TCP, &none())
                        })
                        .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        let store = PortStore::load(home.path()).unwrap();
        for (i, p) in ports.iter().enumerate() {
            assert_eq!(
                store.assigned(O, &format!("stack{i}"), "web", 80, TCP),
                Some(*p)
            );
        }
    }

    #[test]
    fn auto_ports_come_from_outside_the_ephemeral_range() {
        assert_eq!(auto_range(&(32768..=60999)), 10000..=32767);
        // Little room below: above instead.
        assert_eq!(auto_range(&(12000..=40000)), 40001..=65535);
        // The whole space ephemeral: anything.
        assert_eq!(auto_range(&(1024..=65535)), 1024..=65535);
        let range = auto_range(&local_port_range());
        let home = tempfile::tempdir().unwrap();
        let mut store = PortStore::load(home.path()).unwrap();
        for i in 0..20 {
            let p = store
                .assign_auto(O, &format!("s{i}"), "web", 80, TCP, &none())
                .unwrap();
            assert!(range.contains(&p), "{p} not in {range:?}");
            assert!(!local_port_range().contains(&p), "{p} is ephemeral");
        }
        let r = 20000..=20001;
        assert!((0..50).all(|_| r.contains(&random_port(&r).unwrap())));
    }

    #[test]
    fn live_listener_recorded_and_fixed_ports_are_skipped() {
        let home = tempfile::tempdir().unwrap();
        let mut store = PortStore::load(home.path()).unwrap();
        let tcp = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let busy_tcp = tcp.local_addr().unwrap().port();
        let busy_udp = udp.local_addr().unwrap().port();
        assert!(!PortStore::is_free_on_host(busy_tcp, TCP));
        assert!(!PortStore::is_free_on_host(busy_udp, UDP));

        let recorded = store
            .assign_auto(O, "shop", "web", 80, TCP, &none())
            .unwrap();
        let fixed = free_port(TCP);
        let good = loop {
            let p = free_port(TCP);
            if p != fixed && p != recorded {
                break p;
            }
        };
        let fixed_in_use = HashSet::from([fixed]);
        let candidates = [busy_tcp, recorded, fixed, good].map(Ok).into_iter();
        let got = store
            .assign_from(
                (O, "blog", "web", 80, TCP),
                &fixed_in_use,
                candidates,
                &PortStore::is_free_on_host,
            )
            .unwrap();
        assert_eq!(got, good);

        let udp_good = free_port(UDP);
        let candidates = [busy_udp, udp_good].map(Ok).into_iter();
        let got = store
            .assign_from(
                (O, "blog", "dns", 53, UDP),
                &none(),
                candidates,
                &PortStore::is_free_on_host,
            )
            .unwrap();
        assert_eq!(got, udp_good);

        // Only busy candidates: a clear error, nothing recorded.
        let candidates = std::iter::repeat_with(|| Ok(busy_tcp));
        let err = store
            .assign_from(
                (O, "blog", "api", 8080, TCP),
                &none(),
                candidates,
                &PortStore::is_free_on_host,
            )
            .unwrap_err();
        assert!(matches!(err, PortError::Exhausted { .. }), "{err:?}");
        assert!(err.to_string().contains(PORTS_FILE));
        assert_eq!(store.assigned(O, "blog", "api", 8080, TCP), None);

        // With the real kernel source the busy ports are never handed out either.
        for i in 0..20 {
            let p = store
                .assign_auto(O, "many", &format!("i{i}"), 80, TCP, &none())
                .unwrap();
            assert_ne!(p, busy_tcp);
        }
        drop((tcp, udp));
    }

    #[test]
    fn recorded_port_that_became_fixed_is_replaced() {
        let home = tempfile::tempdir().unwrap();
        let mut store = PortStore::load(home.path()).unwrap();
        let p = store
            .assign_auto(O, "blog", "db", 5432, TCP, &none())
            .unwrap();
        let fixed = HashSet::from([p]);
        let q = store
            .assign_auto(O, "blog", "db", 5432, TCP, &fixed)
            .unwrap();
        assert_ne!(p, q);
        assert_eq!(store.assigned(O, "blog", "db", 5432, TCP), Some(q));
    }

    #[test]
    fn release_frees_ports() {
        let home = tempfile::tempdir().unwrap();
        let (a, b, c) = PortStore::with_locked(home.path(), |s| {
            let a = s.assign_auto(O, "blog", "db", 5432, TCP, &none())?;
            let b = s.assign_auto(O, "blog", "web", 80, TCP, &none())?;
            let c = s.assign_auto(O, "shop", "db", 5432, TCP, &none())?;
            Ok::<_, PortError>((a, b, c))
        })
        .unwrap();
        PortStore::with_locked(home.path(), |s| {
            assert_eq!(s.release_instance(O, "blog", "web"), 1);
            assert_eq!(s.release_instance(O, "blog", "web"), 0);
            Ok::<_, PortError>(())
        })
        .unwrap();
        let store = PortStore::load(home.path()).unwrap();
        assert_eq!(store.assigned(O, "blog", "web", 80, TCP), None);
        assert_eq!(store.holder(b, TCP), None);
        assert_eq!(store.assigned(O, "blog", "db", 5432, TCP), Some(a));

        PortStore::with_locked(home.path(), |s| {
            assert_eq!(s.release_stack(O, "blog"), 1);
            Ok::<_, PortError>(())
        })
        .unwrap();
        let mut store = PortStore::load(home.path()).unwrap();
        assert_eq!(store.holder(a, TCP), None);
        assert_eq!(store.holder(c, TCP), Some(held(O, "shop", "db")));
        // A released port may be handed out again (unless something else took it).
        if PortStore::is_free_on_host(a, TCP) {
            let again = store
                .assign_from(
                    (O, "wiki", "db", 5432, TCP),
                    &none(),
                    [a].map(Ok).into_iter(),
                    &PortStore::is_free_on_host,
                )
                .unwrap();
            assert_eq!(again, a);
        }
    }

    #[test]
    fn failed_closure_saves_nothing_and_corrupt_file_is_reported() {
        let home = tempfile::tempdir().unwrap();
        let result: Result<(), PortError> = PortStore::with_locked(home.path(), |s| {
            s.assign_auto(O, "blog", "db", 5432, TCP, &none())?;
            Err(PortError::Corrupt {
                path: s.path().to_path_buf(),
                detail: "test".into(),
            })
        });
        assert!(result.is_err());
        assert!(!home.path().join(PORTS_FILE).exists());

        std::fs::write(
            home.path().join(PORTS_FILE),
            b"{\"version\": 9, \"ports\": []}",
        )
        .unwrap();
        let err = PortStore::load(home.path()).unwrap_err();
        assert!(matches!(err, PortError::Corrupt { .. }));
        assert!(err.to_string().contains(PORTS_FILE));
    }

    #[test]
    fn two_folders_with_one_home_get_their_own_ports() {
        let home = tempfile::tempdir().unwrap();
        let (a, b) = PortStore::with_locked(home.path(), |s| {
            let a = s.assign_auto("/work/a", "blog", "web", 80, TCP, &none())?;
            let b = s.assign_auto("/work/b", "blog", "web", 80, TCP, &none())?;
            Ok::<_, PortError>((a, b))
        })
        .unwrap();
        assert_ne!(a, b);
        let store = PortStore::load(home.path()).unwrap();
        assert_eq!(store.assigned("/work/a", "blog", "web", 80, TCP), Some(a));
        assert_eq!(store.holder(b, TCP), Some(held("/work/b", "blog", "web")));
        PortStore::with_locked(home.path(), |s| {
            assert_eq!(s.release_stack("/work/b", "blog"), 1);
            Ok::<_, PortError>(())
        })
        .unwrap();
        let store = PortStore::load(home.path()).unwrap();
        assert_eq!(store.assigned("/work/a", "blog", "web", 80, TCP), Some(a));
        assert_eq!(store.assigned("/work/b", "blog", "web", 80, TCP), None);
    }

    #[test]
    fn records_from_before_per_folder_keys_are_taken_over_on_first_use() {
        let home = tempfile::tempdir().unwrap();
        let old = free_port(TCP);
        std::fs::write(
            home.path().join(PORTS_FILE),
            format!(
                r#"{{"version": 1, "ports": [{{"stack": "blog", "instance": "db", "containerPort": 5432, "protocol": "tcp", "hostPort": {old}}}]}}"#
            ),
        )
        .unwrap();
        let store = PortStore::load(home.path()).unwrap();
        assert_eq!(store.assigned(O, "blog", "db", 5432, TCP), Some(old));
        let got = PortStore::with_locked(home.path(), |s| {
            s.assign_auto(O, "blog", "db", 5432, TCP, &none())
        })
        .unwrap();
        assert_eq!(got, old);
        let text = std::fs::read_to_string(home.path().join(PORTS_FILE)).unwrap();
        assert!(text.contains(r#""version": 2"#), "{text}");
        assert!(text.contains(O), "{text}");
        let store = PortStore::load(home.path()).unwrap();
        assert_eq!(store.assigned("/work/other", "blog", "db", 5432, TCP), None);
    }
}
