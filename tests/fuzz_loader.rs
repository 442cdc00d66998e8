//! Property tests: whatever text is in a manifest file, loading, validating, resolving it and
//! building its desired state never panics (bad input is always a diagnostic or a desired-state
//! error), every diagnostic can be rendered, and apply's health deadline stays bounded. Numbers
//! and durations at and far beyond their bounds are either located errors or used as written.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use devarch::apply::ApplyOptions;
use devarch::apply::health::health_deadline;
use devarch::catalog;
use devarch::manifests::diagnostics::Diagnostic;
use devarch::manifests::load::{ManifestSet, load_text};
use devarch::manifests::types::{
    MAX_CPUS, MAX_HEALTH_DURATION, MAX_HEALTH_RETRIES, MAX_MEMORY_BYTES, MIN_CPUS,
    MIN_MEMORY_BYTES, parse_duration, parse_memory,
};
use devarch::manifests::validate::build_model;
use devarch::resolve::desired::DesiredStack;
use devarch::resolve::{ResolvedStack, resolve};
use devarch::runtime::{ContainerSpec, HealthSpec};
use proptest::prelude::*;

/// The longest health deadline a manifest within bounds can produce:
/// `startPeriod + (interval + timeout) × (retries + 1) + 30 s`, each at its bound.
fn max_deadline() -> Duration {
    MAX_HEALTH_DURATION
        + 2 * MAX_HEALTH_DURATION * (MAX_HEALTH_RETRIES + 1)
        + Duration::from_secs(30)
}

/// Build the desired state of a resolved stack in a fresh home (own secrets and host ports),
/// as `reconcile::plan_with` does: allocate, then the pure build.
fn build_desired(stack: &ResolvedStack) -> Result<DesiredStack, String> {
    let home = tempfile::tempdir().unwrap();
    common::allocate_and_build(stack, home.path(), "/fuzz").map(|(_, desired)| desired)
}

/// What a built container may hold, whatever the manifest said: values within the manifest
/// bounds, and a health deadline within [`max_deadline`].
fn assert_sane(spec: &ContainerSpec, deadline: Duration) {
    if let Some(h) = &spec.healthcheck {
        for d in [h.interval, h.timeout, h.start_period]
            .into_iter()
            .flatten()
        {
            assert!(d <= MAX_HEALTH_DURATION, "{h:?}");
        }
        assert!(h.retries.is_none_or(|r| r <= MAX_HEALTH_RETRIES), "{h:?}");
    }
    if let Some(n) = spec.nano_cpus {
        assert!(
            (10_000_000..=1_024_000_000_000).contains(&n),
            "nano_cpus {n}"
        );
    }
    if let Some(m) = spec.memory {
        assert!(m >= 0 && m.unsigned_abs() <= MAX_MEMORY_BYTES, "memory {m}");
    }
    assert!(
        deadline >= Duration::from_secs(30) && deadline <= max_deadline(),
        "{deadline:?}"
    );
}

/// Everything the pipeline produced from some files' texts.
struct Outcome {
    diagnostics: Vec<Diagnostic>,
    /// Desired state of every stack that resolved (or why it could not be built).
    desired: Vec<Result<DesiredStack, String>>,
}

/// Run the whole pipeline on some files' texts: load → validate → resolve → desired state →
/// health deadlines of every container.
fn run(texts: &[String]) -> Outcome {
    let mut set = ManifestSet::default();
    let mut diags = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        load_text(
            &mut set,
            &mut diags,
            PathBuf::from(format!("fuzz/{i}.yaml")),
            text.as_str().into(),
        );
    }
    let (model, more) = build_model(&set, catalog::templates());
    diags.extend(more);
    let (stacks, more) = resolve(&model);
    diags.extend(more);
    for d in &diags {
        let _ = d.to_string();
        if let Some(report) = d.to_report(&set.sources) {
            let _ = format!("{report:?}");
        }
    }
    let desired: Vec<_> = stacks.values().map(build_desired).collect();
    for d in desired.iter().flatten() {
        for c in d.containers.values() {
            assert_sane(&c.spec, health_deadline(c, &ApplyOptions::default()));
        }
    }
    Outcome {
        diagnostics: diags,
        desired,
    }
}

/// [`run`], returning the diagnostics.
fn pipeline(texts: &[String]) -> Vec<Diagnostic> {
    run(texts).diagnostics
}

const TOKENS: &[&str] = &[
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "---\n",
    "...\n",
    "\n",
    "\n  ",
    "\n    ",
    " ",
    "  ",
    "\t",
    "#",
    "'",
    "\"",
    "|\n",
    ">-\n",
    "!!str ",
    "!tag ",
    "?",
    "null",
    "~",
    "no",
    "yes",
    "0755",
    "0o17",
    "1e999",
    ".nan",
    "-1",
    "70000",
    "é",
    "\u{feff}",
    "kind: Stack\n",
    "kind: Instance\n",
    "kind: Template\n",
    "apiVersion: devarch.io/v1alpha1\n",
    "metadata:",
    "metadata: {name: s}\n",
    "name: ",
    "spec:",
    "spec: {stack: s, template: redis}\n",
    "instances:",
    "template: ",
    "postgres",
    "django",
    "redis",
    "db",
    "web",
    "env:",
    "ports:",
    "volumes:",
    "dependsOn:",
    "wires:",
    "exports:",
    "imports:",
    "container: ",
    "host: ",
    "target: ",
    "\"8080:80\"",
    "\"data:/data\"",
    "{{host}}",
    "{secret: pw}",
];

fn token_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.concat())
}

/// Valid manifests (one deliberate semantic problem: host port 8080 claimed twice), the
/// starting point of [`mutated_manifest`].
const BASE: &str = r#"apiVersion: devarch.io/v1alpha1
kind: Stack
metadata:
  name: blog
spec:
  instances:
    db: {template: postgres}
    web:
      template: django
      env: {DEBUG: "1", DB_HOST: null}
      ports: ["8080:8000", {container: 9000, host: auto}]
      volumes: ["data:/data"]
      dependsOn: [db]
      wires: {database: db}
---
apiVersion: devarch.io/v1alpha1
kind: Instance
metadata: {name: cache}
spec: {stack: blog, template: redis, ports: ["8080:6379"]}
---
apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: box}
spec:
  image: busybox
  command: "sh -c 'x'"
  dependsOn: [{name: web, condition: healthy}]
  exports: [{name: e, type: postgres, port: 1, attributes: {user: u}}]
  imports: [{name: i, type: redis, env: {X: "{{host}}:{{nope}}"}}]
"#;

/// [`BASE`] with a few tokens spliced in at random places: gets past the parser often
/// enough to exercise the schema, semantic and resolve stages.
fn mutated_manifest() -> impl Strategy<Value = String> {
    prop::collection::vec((0..BASE.len(), prop::sample::select(TOKENS)), 1..6).prop_map(|edits| {
        let mut s = BASE.to_string();
        for (at, tok) in edits {
            let mut at = at.min(s.len());
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, tok);
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        pipeline(&[String::from_utf8_lossy(&bytes).into_owned()]);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,256}") {
        pipeline(&[text]);
    }

    #[test]
    fn yaml_ish_token_soup_never_panics(a in token_text(), b in token_text()) {
        pipeline(&[a, b]);
    }

    #[test]
    fn mutated_manifests_never_panic(a in mutated_manifest(), b in mutated_manifest()) {
        pipeline(&[a, b]);
    }
}

#[test]
fn the_base_manifest_reaches_resolve() {
    // Sanity check of the strategy: unmutated, BASE parses, validates and fails only in
    // resolve, so small mutations exercise every stage.
    let diags = pipeline(&[BASE.to_string()]);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0].message.contains("host port 8080/tcp"),
        "{}",
        diags[0]
    );
}

// Numbers and durations at and beyond their bounds, with an oracle computed here in exact
// integer arithmetic (the code under test parses through f64): each value is either surely
// within its bound, surely beyond it, or within a hair of it (then either answer is right).

/// Where a value lies relative to its bound, by the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Within,
    Beyond,
    AtTheEdge,
}

impl Verdict {
    /// Compare an exact `value` (None: too large to count) with `bound`, both in the same
    /// fine unit, with `slack` of that unit for rounding.
    fn of(value: Option<u128>, bound: u128, slack: u128) -> Verdict {
        match value {
            None => Verdict::Beyond,
            Some(v) if v + slack <= bound => Verdict::Within,
            Some(v) if v >= bound + slack => Verdict::Beyond,
            Some(_) => Verdict::AtTheEdge,
        }
    }
}

/// A number as written in a manifest: integer digits and optional fraction digits.
#[derive(Clone, Debug)]
struct Decimal {
    int: String,
    frac: String,
}

impl Decimal {
    fn text(&self) -> String {
        if self.frac.is_empty() {
            self.int.clone()
        } else {
            format!("{}.{}", self.int, self.frac)
        }
    }

    /// `self × unit`, in the same unit as `unit`, fractions truncated (an error below one
    /// unit per number); None when it does not fit a u128.
    fn times(&self, unit: u128) -> Option<u128> {
        let int: u128 = self.int.parse().ok()?;
        let frac = if self.frac.is_empty() {
            0
        } else {
            let digits: u128 = self.frac.parse().ok()?;
            digits.checked_mul(unit)? / 10u128.checked_pow(self.frac.len() as u32)?
        };
        int.checked_mul(unit)?.checked_add(frac)
    }
}

/// A text's `NUMBER UNIT` parts, read exactly (`1.5h30m` → 1.5 h + 30 m) in the fine unit of
/// `units`; None when a unit is unknown or the total does not fit a u128.
fn exact(text: &str, units: &[(&str, u128)]) -> Option<u128> {
    let mut total = 0u128;
    let mut rest = text;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let u = rest[n..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| n + i);
        let (int, frac) = rest[..n].split_once('.').unwrap_or((&rest[..n], ""));
        let number = Decimal {
            int: int.into(),
            frac: frac.into(),
        };
        let unit = units.iter().find(|(name, _)| *name == &rest[n..u])?.1;
        total = total.checked_add(number.times(unit)?)?;
        rest = &rest[u..];
    }
    Some(total)
}

/// Small, around-the-bound and absurdly large numbers.
fn decimal() -> impl Strategy<Value = Decimal> {
    let int = prop_oneof![
        4 => (0u64..4000).prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => "[1-9][0-9]{19,40}",
        1 => Just("0".to_string()),
    ];
    let frac = prop_oneof![3 => Just(String::new()), 1 => "[0-9]{1,9}"];
    (int, frac).prop_map(|(int, frac)| Decimal { int, frac })
}

/// Picoseconds per duration unit.
const DURATION_UNITS: &[(&str, u128)] = &[
    ("ns", 1_000),
    ("us", 1_000_000),
    ("ms", 1_000_000_000),
    ("s", 1_000_000_000_000),
    ("m", 60_000_000_000_000),
    ("h", 3_600_000_000_000_000),
];

/// A value within `bound` in one of `units` (`3599s`, `59.5m`, `1h`; `512Mi`, `0.5Ti`), with
/// up to `frac` fraction digits, and its verdict; `bound` and `units` in the same fine unit.
fn within(
    units: &'static [(&'static str, u128)],
    bound: u128,
    frac: &'static str,
) -> impl Strategy<Value = (String, Verdict)> {
    prop::sample::select(units).prop_flat_map(move |(unit, size)| {
        // One less than the bound in this unit, so that a fraction keeps it within.
        let most = u64::try_from(bound / size - 1).unwrap();
        (0..=most, prop_oneof![Just(String::new()), frac]).prop_map(move |(n, frac)| {
            let n = Decimal {
                int: n.to_string(),
                frac,
            };
            let verdict = Verdict::of(n.times(size), bound, 1_000_000);
            (format!("{}{unit}", n.text()), verdict)
        })
    })
}

/// A value of `parts` `NUMBER UNIT` parts anywhere (`1h30m`, `99999999999999999999999h`),
/// and its verdict against `bound` (a millionth of a unit of slack).
fn anywhere(
    units: &'static [(&'static str, u128)],
    bound: u128,
    parts: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = (String, Verdict)> {
    prop::collection::vec((decimal(), prop::sample::select(units)), parts).prop_map(move |parts| {
        let text: String = parts
            .iter()
            .map(|(n, (unit, _))| format!("{}{unit}", n.text()))
            .collect();
        let total = parts.iter().try_fold(0u128, |acc, (n, (_, size))| {
            acc.checked_add(n.times(*size)?)
        });
        (text, Verdict::of(total, bound, 1_000_000))
    })
}

/// [`MAX_HEALTH_DURATION`] in picoseconds.
fn duration_bound() -> u128 {
    MAX_HEALTH_DURATION.as_nanos() * 1000
}

/// A duration within [`MAX_HEALTH_DURATION`].
fn duration_within() -> impl Strategy<Value = (String, Verdict)> {
    within(DURATION_UNITS, duration_bound(), "[0-9]{1,9}")
}

/// A duration of one to three parts, within or anywhere, and its verdict against
/// [`MAX_HEALTH_DURATION`] (a microsecond of slack) and the spellings the schema can bound.
fn duration() -> impl Strategy<Value = (String, Verdict)> {
    prop_oneof![
        duration_within(),
        anywhere(DURATION_UNITS, duration_bound(), 1..=3)
    ]
    .prop_map(|(text, verdict)| {
        let verdict = duration_spelling(&text, verdict);
        (text, verdict)
    })
}

/// A text's `NUMBER UNIT` parts.
fn parts(text: &str) -> Vec<(Decimal, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let u = rest[n..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| n + i);
        let (int, frac) = rest[..n].split_once('.').unwrap_or((&rest[..n], ""));
        out.push((
            Decimal {
                int: int.into(),
                frac: frac.into(),
            },
            &rest[n..u],
        ));
        rest = &rest[u..];
    }
    out
}

/// `verdict` with the spellings the schema's pattern bounds: one part, its whole number
/// below the bound in its unit (else at the edge); or whole numbers in units largest first,
/// each below the next unit (`1m30s`: else refused, whatever the total).
fn duration_spelling(text: &str, verdict: Verdict) -> Verdict {
    let parts = parts(text);
    if let [(n, unit)] = parts.as_slice() {
        let size = DURATION_UNITS.iter().find(|(u, _)| u == unit).unwrap().1;
        let whole: Option<u128> = n.int.parse().ok();
        return match verdict {
            Verdict::Within if whole.is_none_or(|w| w >= duration_bound() / size) => {
                Verdict::AtTheEdge
            }
            v => v,
        };
    }
    let order = ["m", "s", "ms", "us", "ns"];
    let most = [59u128, 59, 999, 999, 999];
    let mut last = None;
    let spelled = parts.iter().all(|(n, unit)| {
        let Some(i) = order.iter().position(|u| u == unit) else {
            return false;
        };
        let fits = n.frac.is_empty()
            && n.int.parse::<u128>().is_ok_and(|w| w <= most[i])
            && last.is_none_or(|l| l < i);
        last = Some(i);
        fits
    });
    if spelled { verdict } else { Verdict::Beyond }
}

/// Millionths of a byte per memory unit.
const MEMORY_UNITS: &[(&str, u128)] = &[
    ("", 1_000_000),
    ("b", 1_000_000),
    ("k", 1_000_000_000),
    ("Ki", 1_024_000_000),
    ("M", 1_000_000_000_000),
    ("Mi", 1_048_576_000_000),
    ("g", 1_000_000_000_000_000),
    ("Gi", 1_073_741_824_000_000),
    ("T", 1_000_000_000_000_000_000),
    ("Ti", 1_099_511_627_776_000_000),
];

/// [`MAX_MEMORY_BYTES`] in millionths of a byte.
fn memory_bound() -> u128 {
    u128::from(MAX_MEMORY_BYTES) * 1_000_000
}

/// A memory size within [`MAX_MEMORY_BYTES`] (and its verdict against [`MIN_MEMORY_BYTES`]).
fn memory_within() -> impl Strategy<Value = (String, Verdict)> {
    within(MEMORY_UNITS, memory_bound(), "[0-9]{1,6}").prop_map(|(text, verdict)| {
        let verdict = memory_spelling(&text, verdict);
        (text, verdict)
    })
}

/// A memory size (`512Mi`, `1.5Ti`, `99999999999999999999Ti`), within or anywhere, and its
/// verdict against [`MIN_MEMORY_BYTES`] and [`MAX_MEMORY_BYTES`] (a byte of slack: the code
/// rounds to whole bytes).
fn memory() -> impl Strategy<Value = (String, Verdict)> {
    prop_oneof![
        memory_within(),
        anywhere(MEMORY_UNITS, memory_bound(), 1..=1)
    ]
    .prop_map(|(text, verdict)| {
        let verdict = memory_spelling(&text, verdict);
        (text, verdict)
    })
}

/// `verdict` with the lower bound and the spellings the schema's pattern bounds: a whole
/// number from the bounds' in its unit (`6292k` up, below `1100g`), else at the edge.
fn memory_spelling(text: &str, verdict: Verdict) -> Verdict {
    let parts = parts(text);
    let [(n, unit)] = parts.as_slice() else {
        unreachable!("one part")
    };
    let size = MEMORY_UNITS.iter().find(|(u, _)| u == unit).unwrap().1;
    let min = u128::from(MIN_MEMORY_BYTES) * 1_000_000;
    let (Some(total), Ok(whole)) = (n.times(size), n.int.parse::<u128>()) else {
        return verdict;
    };
    match verdict {
        Verdict::Within if total + 1_000_000 <= min => Verdict::Beyond,
        Verdict::Within if total < min + 1_000_000 => Verdict::AtTheEdge,
        Verdict::Within if whole < min.div_ceil(size) || whole >= memory_bound() / size => {
            Verdict::AtTheEdge
        }
        v => v,
    }
}

/// The most CPUs a manifest may give here: the schema's bound, or this machine's CPU count
/// when it has fewer (the engine refuses more than it has).
fn max_cpus() -> f64 {
    MAX_CPUS.min(devarch::manifests::values::machine_cpus() as f64)
}

/// A CPU count within its bounds, as YAML writes it.
fn cpus_within() -> impl Strategy<Value = (String, Verdict)> {
    (MIN_CPUS..=max_cpus()).prop_map(|c| (format!("{c:?}"), Verdict::Within))
}

/// A CPU count around and far beyond its bounds, as YAML writes it, and whether it is within.
/// Within the schema's bound but beyond this machine is [`Verdict::AtTheEdge`]: a located
/// error, unless another error in the instance keeps the machine check from running.
fn cpus() -> impl Strategy<Value = (String, Verdict)> {
    let any = prop_oneof![
        3 => 0.0..2048.0f64,
        1 => -10.0..0.02f64,
        1 => prop::sample::select(vec![MIN_CPUS, MAX_CPUS, 0.0, 1024.000001, 0.00999, 1e300, f64::MAX]),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
    .prop_map(|c| {
        let verdict = if (MIN_CPUS..=max_cpus()).contains(&c) {
            Verdict::Within
        } else if (MIN_CPUS..=MAX_CPUS).contains(&c) {
            Verdict::AtTheEdge
        } else {
            Verdict::Beyond
        };
        (format!("{c:?}"), verdict)
    });
    prop_oneof![cpus_within(), any]
}

/// Health check retries within the bound, as YAML writes them.
fn retries_within() -> impl Strategy<Value = (String, bool)> {
    (0..=MAX_HEALTH_RETRIES).prop_map(|r| (r.to_string(), true))
}

/// Health check retries as YAML writes them, and whether they are within the bound.
fn retries() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        2 => retries_within(),
        2 => (0u64..=200).prop_map(|r| (r.to_string(), r <= u64::from(MAX_HEALTH_RETRIES))),
        1 => any::<u64>().prop_map(|r| (r.to_string(), r <= u64::from(MAX_HEALTH_RETRIES))),
        1 => "[1-9][0-9]{20,30}".prop_map(|r| (r, false)),
    ]
}

/// The numbers of one instance's health check and resources.
#[derive(Clone, Debug)]
struct Limits {
    interval: (String, Verdict),
    timeout: (String, Verdict),
    start_period: (String, Verdict),
    retries: (String, bool),
    cpus: (String, Verdict),
    memory: (String, Verdict),
}

/// Limits all within their bounds (a third of the cases), or each anywhere.
fn limits() -> impl Strategy<Value = Limits> {
    let within = (
        duration_within(),
        duration_within(),
        duration_within(),
        retries_within(),
        cpus_within(),
        memory_within(),
    );
    let anywhere = (
        duration(),
        duration(),
        duration(),
        retries(),
        cpus(),
        memory(),
    );
    prop_oneof![1 => within, 2 => anywhere].prop_map(
        |(interval, timeout, start_period, retries, cpus, memory)| Limits {
            interval,
            timeout,
            start_period,
            retries,
            cpus,
            memory,
        },
    )
}

/// A stack `p` with one instance `a` overriding a built-in template's health check and limits
/// with these values as written: interval, timeout, startPeriod, retries, cpus, memory.
fn manifest([interval, timeout, start_period, retries, cpus, memory]: [&str; 6]) -> String {
    format!(
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: p}}\nspec:\n  instances:\n    a:\n      template: redis\n      healthcheck: {{test: [CMD, \"true\"], interval: \"{interval}\", timeout: \"{timeout}\", startPeriod: \"{start_period}\", retries: {retries}}}\n      resources: {{cpus: {cpus}, memory: \"{memory}\"}}\n",
    )
}

impl Limits {
    /// [`manifest`] with these values.
    fn manifest(&self) -> String {
        manifest([
            &self.interval.0,
            &self.timeout.0,
            &self.start_period.0,
            &self.retries.0,
            &self.cpus.0,
            &self.memory.0,
        ])
    }

    /// Fields the oracle says are beyond their bounds, as messages name them.
    fn beyond(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (field, verdict) in [
            ("healthcheck.interval", self.interval.1),
            ("healthcheck.timeout", self.timeout.1),
            ("healthcheck.startPeriod", self.start_period.1),
            ("resources.memory", self.memory.1),
        ] {
            if verdict == Verdict::Beyond {
                out.push(field);
            }
        }
        if !self.retries.1 {
            out.push("healthcheck.retries");
        }
        if self.cpus.1 == Verdict::Beyond {
            out.push("resources.cpus");
        }
        out
    }

    /// Whether the oracle is sure every value is within its bound.
    fn all_within(&self) -> bool {
        [
            self.interval.1,
            self.timeout.1,
            self.start_period.1,
            self.memory.1,
            self.cpus.1,
        ]
        .iter()
        .all(|v| *v == Verdict::Within)
            && self.retries.1
    }
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..=7_200_000).prop_map(Duration::from_millis),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::MAX),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Durations, retries, CPUs and memory at and far beyond their bounds: a located error on
    /// each value beyond its bound, or (all within) a desired state that uses them as written.
    #[test]
    fn numbers_beyond_their_bounds_are_located_errors(l in limits()) {
        let out = run(&[l.manifest()]);
        for field in l.beyond() {
            let named = out.diagnostics.iter().find(|d| d.message.contains(&format!("spec.instances.a.{field}:")));
            let d = named.unwrap_or_else(|| panic!("no error for {field} in {:?}", out.diagnostics));
            let pos = d.pos.expect("located");
            prop_assert!(pos.line >= 8 && pos.column > 1, "{d}");
        }
        if l.all_within() {
            prop_assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
            prop_assert_eq!(out.desired.len(), 1);
            let stack = out.desired[0].as_ref().expect("desired state");
            let spec = &stack.containers["a"].spec;
            let h = spec.healthcheck.as_ref().expect("health check");
            // As written, to a microsecond (durations) or a byte (memory: rounded).
            let close = |got: u128, text: &str, units: &[(&str, u128)]| {
                let want = exact(text, units).expect("within its bound");
                got.abs_diff(want) <= 1_000_000
            };
            for (got, (text, _)) in [
                (h.interval, &l.interval),
                (h.timeout, &l.timeout),
                (h.start_period, &l.start_period),
            ] {
                let got = got.expect("set").as_nanos() * 1000;
                prop_assert!(close(got, text, DURATION_UNITS), "{got} ps for {text}");
            }
            let memory = u128::try_from(spec.memory.expect("set")).unwrap() * 1_000_000;
            prop_assert!(close(memory, &l.memory.0, MEMORY_UNITS), "{memory} for {}", l.memory.0);
            prop_assert_eq!(h.retries.map(|r| r.to_string()), Some(l.retries.0.clone()));
            let cpus: f64 = l.cpus.0.parse().unwrap();
            let nanos = spec.nano_cpus.expect("set");
            prop_assert!((nanos as f64 - cpus * 1e9).abs() <= 0.5 + cpus * 1e9 * f64::EPSILON, "{nanos} for {cpus}");
            let deadline = health_deadline(&stack.containers["a"], &ApplyOptions::default());
            prop_assert_eq!(Some(deadline.as_nanos()), exact_deadline(h));
        }
        if !l.beyond().is_empty() {
            prop_assert!(out.desired.is_empty(), "a stack with an error was built");
        }
    }

    /// Parsers: any text is a value within the bound or an error, never a panic.
    #[test]
    fn parsers_never_exceed_their_bounds(text in ".{0,48}", (d, _) in duration(), (m, _) in memory()) {
        for t in [&text, &d] {
            if let Ok(v) = parse_duration(t, MAX_HEALTH_DURATION) {
                prop_assert!(v <= MAX_HEALTH_DURATION);
            }
        }
        for t in [&text, &m] {
            if let Ok(v) = parse_memory(t) {
                prop_assert!(v <= MAX_MEMORY_BYTES);
            }
        }
    }

    /// The health deadline of any health check, in bounds or not, never panics; it is exact
    /// where it fits and saturates where it does not.
    #[test]
    fn health_deadline_never_overflows(
        interval in prop::option::of(any_duration()),
        timeout in prop::option::of(any_duration()),
        start_period in prop::option::of(any_duration()),
        retries in prop::option::of(any::<u32>()),
    ) {
        let h = HealthSpec { test: vec!["CMD".into(), "true".into()], interval, timeout, retries, start_period };
        let c = devarch::resolve::desired::DesiredContainer {
            instance: "a".into(),
            spec: ContainerSpec { healthcheck: Some(h.clone()), ..ContainerSpec::default() },
            config_hash: String::new(),
            field_hashes: Default::default(),
            files: vec![],
            depends_on: vec![],
            has_healthcheck: true,
        };
        let deadline = health_deadline(&c, &ApplyOptions::default());
        let exact = exact_deadline(&h);
        match exact {
            Some(n) if n <= Duration::MAX.as_nanos() => prop_assert_eq!(deadline.as_nanos(), n),
            _ => prop_assert_eq!(deadline, Duration::MAX),
        }
    }
}

/// A resolved stack of one valid instance `a` with a health check and limits, to change
/// behind validation's back.
fn resolved_stack() -> ResolvedStack {
    let text = manifest(["5s", "3s", "1s", "3", "1.5", "512Mi"]);
    let mut set = ManifestSet::default();
    let mut diags = Vec::new();
    load_text(&mut set, &mut diags, "fuzz/0.yaml".into(), text.into());
    let (model, more) = build_model(&set, catalog::templates());
    diags.extend(more);
    let (mut stacks, more) = resolve(&model);
    diags.extend(more);
    assert!(diags.is_empty(), "{diags:?}");
    stacks.remove("p").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Building desired state bounds every value itself, even one that never met the schema
    /// (an API body, a future caller): an error naming the field, or a value within bounds.
    #[test]
    fn desired_state_bounds_what_validation_did_not_see(
        (interval, _) in duration(),
        timeout in prop_oneof![duration().prop_map(|d| d.0), ".{0,12}"],
        retries in any::<u32>(),
        cpus in prop_oneof![
            MIN_CPUS..=MAX_CPUS,
            any::<f64>(),
            prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, 1024.5, 1e300]),
        ],
        memory in prop_oneof![memory().prop_map(|m| m.0), ".{0,12}"],
        mode in prop_oneof!["0?[0-7]{3}", "[0-9]{1,12}", ".{0,6}"],
    ) {
        let mut stack = resolved_stack();
        let spec = &mut stack.instances.get_mut("a").unwrap().spec;
        let h = spec.healthcheck.as_mut().unwrap();
        h.interval = Some(interval.clone());
        h.timeout = Some(timeout.clone());
        h.retries = Some(retries);
        let r = spec.resources.as_mut().unwrap();
        r.cpus = Some(cpus);
        r.memory = Some(memory.clone());
        spec.config_files = vec![serde_json::from_value(serde_json::json!(
            {"path": "/etc/x.conf", "content": "x", "mode": mode}
        )).unwrap()];
        match build_desired(&stack) {
            Ok(d) => {
                let c = &d.containers["a"];
                assert_sane_but_retries(&c.spec);
                prop_assert!(c.files[0].mode <= 0o777);
                // Saturates rather than overflows for any retries.
                let deadline = health_deadline(c, &ApplyOptions::default());
                prop_assert!(deadline >= Duration::from_secs(30));
            }
            Err(e) => {
                let named = ["healthcheck interval", "healthcheck timeout", "cpus", "memory", "config file mode"];
                prop_assert!(named.iter().any(|n| e.contains(n)), "{e}");
                prop_assert!(e.starts_with("instance \"a\": "), "{e}");
            }
        }
    }
}

/// [`assert_sane`] without the retries and deadline checks (values validation bounds).
fn assert_sane_but_retries(spec: &ContainerSpec) {
    let mut spec = spec.clone();
    if let Some(h) = spec.healthcheck.as_mut() {
        h.retries = None;
    }
    assert_sane(&spec, Duration::from_secs(30));
}

/// Exact `startPeriod + (interval + timeout) × (retries + 1) + 30 s` in nanoseconds, with the
/// engines' defaults; None when it does not fit a u128.
fn exact_deadline(h: &HealthSpec) -> Option<u128> {
    let d =
        |d: Option<Duration>, default: u64| d.unwrap_or(Duration::from_secs(default)).as_nanos();
    let tries = u128::from(h.retries.unwrap_or(3)) + 1;
    d(h.start_period, 0)
        .checked_add(
            d(h.interval, 30)
                .checked_add(d(h.timeout, 30))?
                .checked_mul(tries)?,
        )?
        .checked_add(30_000_000_000)
}

#[test]
fn values_at_their_bounds_are_valid_and_built_as_written() {
    let cpus = max_cpus();
    // `59m60s` is an hour too, but in a spelling the schema cannot bound (seconds past 59
    // after minutes): tests/fixtures/bad/duration-and-memory-bounds refuses it.
    let at = manifest(["1h", "60m", "3600000ms", "100", &cpus.to_string(), "1Ti"]);
    let out = run(&[at]);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let stack = out.desired[0].as_ref().unwrap();
    let c = &stack.containers["a"];
    assert_eq!(c.spec.nano_cpus, Some((cpus * 1e9) as i64));
    assert_eq!(c.spec.memory, Some(1 << 40));
    assert_eq!(health_deadline(c, &ApplyOptions::default()), max_deadline());
}

#[test]
fn the_reported_huge_values_are_located_errors() {
    let huge = manifest([
        "99999999999999999999999h",
        "1h1ns",
        "0s",
        "4294967296",
        "1e300",
        "9223372036854775808",
    ]);
    let out = run(&[huge]);
    assert!(out.desired.is_empty());
    // Text (durations, memory) and numbers (retries, cpus) are checked in one pass: every
    // value beyond its bound is reported at once, where it is written.
    let shown: Vec<String> = out.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "fuzz/0.yaml:8:52: error: invalid value \"99999999999999999999999h\" for spec.instances.a.healthcheck.interval: more than the limit of 1h",
            "fuzz/0.yaml:8:89: error: invalid value \"1h1ns\" for spec.instances.a.healthcheck.timeout: more than the limit of 1h",
            "fuzz/0.yaml:8:126: error: invalid value 4294967296 for spec.instances.a.healthcheck.retries: more than the limit of 100",
            "fuzz/0.yaml:9:25: error: invalid value 1e+300 for spec.instances.a.resources.cpus: more than the limit of 1024",
            "fuzz/0.yaml:9:40: error: invalid value \"9223372036854775808\" for spec.instances.a.resources.memory: more than the limit of 1Ti",
        ]
    );
}
