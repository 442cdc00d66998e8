/*! Bounded quantities from manifests and flags: durations, memory sizes and CPU counts. Each
parser refuses values beyond its bound with a [`QuantityError`] (never a panic or an
overflow); the schema carries the same bounds in its patterns ([`health_duration_pattern`],
[`memory_pattern`]), which every JSON Schema validator checks. */

use schemars::JsonSchema;

/// Schema-only: a Go-style duration such as `1m30s`, `500ms`, `5s`, at most 1 hour
/// ([`health_duration_pattern`]).
#[allow(dead_code)]
pub(super) struct DurationText(String);

impl JsonSchema for DurationText {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DurationText".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "pattern": health_duration_pattern()})
    }
}

/// Units of a duration with their length in seconds, largest first.
const DURATION_UNITS: [(&str, f64); 6] = [
    ("h", 3600.0),
    ("m", 60.0),
    ("s", 1.0),
    ("ms", 1e-3),
    ("us", 1e-6),
    ("ns", 1e-9),
];

/// Schema pattern of a health check duration at most [`MAX_HEALTH_DURATION`]: one number
/// and unit (`90s`, `1.5m`, `1h`), or whole numbers in units largest first, each below the
/// next unit (`1m30s`, `2s500ms`; no hours).
pub fn health_duration_pattern() -> &'static str {
    static PATTERN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        let max = MAX_HEALTH_DURATION.as_secs_f64();
        let single: Vec<String> = DURATION_UNITS
            .iter()
            .map(|(unit, secs)| {
                format!(
                    "({}){unit}",
                    super::bounded_pattern::number_within(0.0, max / secs)
                )
            })
            .collect();
        // Compound: minutes 0-59, seconds 0-59, ms/us/ns 0-999, at least one unit.
        let whole = |hi: f64| format!("0*({})", super::bounded_pattern::number_within(0.0, hi));
        let parts: Vec<String> = [
            ("m", 59.0),
            ("s", 59.0),
            ("ms", 999.0),
            ("us", 999.0),
            ("ns", 999.0),
        ]
        .iter()
        .map(|(unit, hi)| {
            format!(
                "({}){unit}",
                whole(*hi)
                    .replace("(\\.[0-9]+)?", "")
                    .replace("(\\.0+)?", "")
            )
        })
        .collect();
        let compound: Vec<String> = (0..parts.len())
            .map(|i| {
                let rest: String = parts[i + 1..].iter().map(|p| format!("({p})?")).collect();
                format!("{}{rest}", parts[i])
            })
            .collect();
        format!("^({}|{})$", single.join("|"), compound.join("|"))
    })
}

/// Smallest `resources.memory`, in bytes: 6 MiB (Docker refuses less at create).
pub const MIN_MEMORY_BYTES: u64 = 6 << 20;

/// [`MIN_MEMORY_BYTES`] as a manifest writes it.
pub const MIN_MEMORY_TEXT: &str = "6Mi";

/// Schema pattern of a memory size from [`MIN_MEMORY_BYTES`] to [`MAX_MEMORY_BYTES`], in
/// any unit [`parse_memory`] reads.
pub fn memory_pattern() -> &'static str {
    static PATTERN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        #[allow(clippy::cast_precision_loss)]
        let (min, max) = (MIN_MEMORY_BYTES as f64, MAX_MEMORY_BYTES as f64);
        let alts: Vec<String> = MEMORY_UNITS
            .iter()
            .map(|(suffixes, factor)| {
                let n = super::bounded_pattern::number_within(min / factor, max / factor);
                format!("({n})({suffixes})")
            })
            .collect();
        format!("^({})$", alts.join("|"))
    })
}

/// Suffixes of memory sizes (as a regular expression) with their size in bytes.
const MEMORY_UNITS: [(&str, f64); 9] = [
    ("|b|B", 1.0),
    ("k|K", 1e3),
    ("Ki|ki", 1024.0),
    ("m|M", 1e6),
    ("Mi|mi", 1_048_576.0),
    ("g|G", 1e9),
    ("Gi|gi", 1_073_741_824.0),
    ("t|T", 1e12),
    ("Ti|ti", 1_099_511_627_776.0),
];

/// Longest health check `interval`, `timeout` and `startPeriod` a manifest may give: 1 hour.
pub const MAX_HEALTH_DURATION: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Most health check `retries` a manifest may give: 100.
pub const MAX_HEALTH_RETRIES: u32 = 100;

/// Fewest CPU cores `resources.cpus` may give: 0.01.
pub const MIN_CPUS: f64 = 0.01;

/// Most CPU cores `resources.cpus` may give: 1024.
pub const MAX_CPUS: f64 = 1024.0;

/// Largest `resources.memory`, in bytes: 1 TiB.
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;

/// [`MAX_MEMORY_BYTES`] as a manifest writes it.
pub const MAX_MEMORY_TEXT: &str = "1Ti";

/// A duration, memory quantity or CPU count from input that cannot be used. `Display` says
/// what is wrong with the value, without repeating it (callers name the value and field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not written like the quantity; holds an example of what is expected.
    #[error("not {0}")]
    Syntax(&'static str),
    /// Over the limit; holds the limit as the user would write it (`1h`, `1Ti`, `1024`).
    #[error("more than the limit of {0}")]
    TooLarge(String),
    /// Under the minimum; holds the minimum as the user would write it.
    #[error("less than the minimum of {0}")]
    TooSmall(String),
}

/// What a duration looks like, for [`QuantityError::Syntax`].
const DURATION_SYNTAX: &str = "a duration like 30s, 1m30s or 500ms";

/// Parse a duration like `1m30s`, `500ms`, `2h` (units `ns`, `us`, `ms`, `s`, `m`, `h`; each
/// number may have a fraction), at most `max`.
///
/// # Errors
/// [`QuantityError::Syntax`] for text that is not a duration, [`QuantityError::TooLarge`]
/// for a duration over `max` (however many digits it has: never a panic or an overflow).
pub fn parse_duration(
    s: &str,
    max: std::time::Duration,
) -> Result<std::time::Duration, QuantityError> {
    let syntax = || QuantityError::Syntax(DURATION_SYNTAX);
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(syntax());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().map_err(|_| syntax())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(syntax()),
        };
        rest = &rest[unit_len..];
        total += num * factor;
    }
    // Digits and dots only: `total` is non-negative, and +inf for a huge number.
    // Seconds as f64 (not integer nanoseconds) keep every valid value, and so every config
    // hash, as it was.
    let too_large = || QuantityError::TooLarge(format_duration(max));
    if !total.is_finite() || total > max.as_secs_f64() {
        return Err(too_large());
    }
    std::time::Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| *d <= max)
        .ok_or_else(too_large)
}

/// A duration as a user would write it, in its largest whole unit: `1h`, `90s`, `500ms`
/// (for bounds in messages).
pub fn format_duration(d: std::time::Duration) -> String {
    let nanos = d.as_nanos();
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos >= size && nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// Parse a memory quantity (`512Mi`, `1Gi`, `256m`, `1g`, `1000`) into bytes, at most
/// [`MAX_MEMORY_BYTES`].
///
/// # Errors
/// [`QuantityError::Syntax`] for text that is not a quantity, [`QuantityError::TooLarge`]
/// for more than [`MAX_MEMORY_BYTES`] (however many digits: never an overflow).
pub fn parse_memory(s: &str) -> Result<u64, QuantityError> {
    let syntax = || QuantityError::Syntax("a memory size like 512Mi, 1Gi or 256m");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let num: f64 = s[..split].parse().map_err(|_| syntax())?;
    let suffix = &s[split..];
    let factor = MEMORY_UNITS
        .iter()
        .find(|(suffixes, _)| suffixes.split('|').any(|x| x == suffix))
        .map(|(_, f)| *f)
        .ok_or_else(syntax)?;
    let bytes = (num * factor).round();
    // Non-negative (digits and dots only); +inf for a huge number. 2^40 is exact in f64.
    if !bytes.is_finite() || bytes > MAX_MEMORY_BYTES as f64 {
        return Err(QuantityError::TooLarge(MAX_MEMORY_TEXT.into()));
    }
    Ok(bytes as u64)
}

/// A CPU limit in cores as the engines' nano-CPUs (`cpus × 10⁹`), for
/// [`MIN_CPUS`]`..=`[`MAX_CPUS`] cores (so at most 1.024 × 10¹², far inside `i64`).
///
/// # Errors
/// [`QuantityError`] for a value outside the bounds, NaN or infinite.
pub fn nano_cpus(cpus: f64) -> Result<i64, QuantityError> {
    if cpus.is_nan() {
        return Err(QuantityError::Syntax("a number of CPU cores"));
    }
    if cpus < MIN_CPUS {
        return Err(QuantityError::TooSmall(MIN_CPUS.to_string()));
    }
    if cpus > MAX_CPUS {
        return Err(QuantityError::TooLarge(MAX_CPUS.to_string()));
    }
    Ok((cpus * 1e9).round() as i64)
}

/// Most processes `resources.pids` may allow: 4194304, the largest `kernel.pid_max`.
pub const MAX_PIDS: i64 = 4_194_304;

/// Nano-CPUs as cores, the way manifests write them: `2`, `1.5`, `0.25`.
pub fn format_cpus(nano_cpus: i64) -> String {
    let whole = nano_cpus / 1_000_000_000;
    let frac = nano_cpus % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Bytes as the largest binary unit that divides them exactly (`512Mi`, `1Gi`), else plain
/// bytes: text [`parse_memory`] reads back to the same number.
pub fn format_memory(bytes: i64) -> String {
    for (unit, size) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        let schema = serde_json::json!({"pattern": pattern});
        jsonschema::is_valid(&schema, &serde_json::json!(text))
    }

    /// The schema's patterns accept only what the parsers accept within the bounds, and refuse
    /// everything beyond them.
    #[test]
    fn patterns_accept_only_values_within_the_bounds() {
        let numbers = [
            "0",
            "1",
            "1.5",
            "0.5",
            "6",
            "59",
            "60",
            "61",
            "90",
            "999",
            "1000",
            "1024",
            "1099",
            "1099.4",
            "1100",
            "3599.9",
            "3600",
            "3600.5",
            "3601",
            "6291455",
            "6291456",
            "3600000",
            "3600001",
            "1048576",
            "1048577",
            "0.01",
            "0.001",
            "1099511627776",
            "1099511627777",
            "007",
        ];
        let mut accepted = 0;
        for n in numbers {
            for unit in ["h", "m", "s", "ms", "us", "ns"] {
                let text = format!("{n}{unit}");
                let ok = parse_duration(&text, MAX_HEALTH_DURATION).is_ok();
                let m = matches(health_duration_pattern(), &text);
                assert!(
                    !m || ok,
                    "{text}: the pattern accepts what the parser refuses"
                );
                accepted += usize::from(m);
            }
            for unit in ["", "b", "k", "Ki", "m", "Mi", "g", "Gi", "t", "Ti"] {
                let text = format!("{n}{unit}");
                let ok = parse_memory(&text).is_ok_and(|b| b >= MIN_MEMORY_BYTES);
                let m = matches(memory_pattern(), &text);
                assert!(
                    !m || ok,
                    "{text}: the pattern accepts what the parser refuses"
                );
                accepted += usize::from(m);
            }
        }
        assert!(accepted > 100, "only {accepted} accepted");
        for compound in ["1m30s", "59m59s999ms", "2s500ms", "1s1ns"] {
            assert!(matches(health_duration_pattern(), compound), "{compound}");
        }
        for refused in ["1h1s", "59m60s", "1m30.5s30ms", "2h", "1.5h"] {
            assert!(!matches(health_duration_pattern(), refused), "{refused}");
        }
    }

    #[test]
    fn limits_format_as_manifests_write_them_and_read_back() {
        for (nanos, text) in [
            (2_000_000_000, "2"),
            (1_500_000_000, "1.5"),
            (10_000_000, "0.01"),
        ] {
            assert_eq!(format_cpus(nanos), text);
            assert_eq!(nano_cpus(text.parse().unwrap()).unwrap(), nanos);
        }
        for (bytes, text) in [
            (512 << 20, "512Mi"),
            (1 << 30, "1Gi"),
            (1000, "1000"),
            (1536, "1536"),
        ] {
            assert_eq!(format_memory(bytes), text);
            assert_eq!(parse_memory(text).unwrap() as i64, bytes);
        }
        assert_eq!(format_memory(3 << 29), "1536Mi");
    }

    #[test]
    fn durations_and_memory_parse() {
        let hour = MAX_HEALTH_DURATION;
        assert_eq!(parse_duration("1m30s", hour).unwrap().as_secs(), 90);
        assert_eq!(parse_duration("500ms", hour).unwrap().as_millis(), 500);
        assert_eq!(
            parse_duration("5 s", hour),
            Err(QuantityError::Syntax(DURATION_SYNTAX))
        );
        assert_eq!(parse_memory("512Mi"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory("1g"), Ok(1_000_000_000));
        assert!(matches!(parse_memory("12x"), Err(QuantityError::Syntax(_))));
    }

    #[test]
    fn durations_are_bounded_without_overflow() {
        let hour = MAX_HEALTH_DURATION;
        let too_large = Err(QuantityError::TooLarge("1h".into()));
        // At the bound, however it is written.
        for at in [
            "1h",
            "60m",
            "3600s",
            "59m60s",
            "3600000ms",
            "3600000000000ns",
            "0.5h30m",
        ] {
            assert_eq!(parse_duration(at, hour), Ok(hour), "{at}");
        }
        // Just past it, and far past it: an error, never a panic or a wrapped value.
        for over in [
            "1h1ns",
            "3600.000001s",
            "61m",
            "2h",
            "99999999999999999999999h",
            "18446744073709551616s",
            &"9".repeat(400),
        ] {
            let text = if over.ends_with(|c: char| c.is_ascii_digit()) {
                format!("{over}h")
            } else {
                over.to_string()
            };
            assert_eq!(parse_duration(&text, hour), too_large, "{text}");
        }
        assert_eq!(parse_duration("0s", hour), Ok(std::time::Duration::ZERO));
        assert_eq!(parse_duration("1ns", hour).unwrap().as_nanos(), 1);
        for bad in [
            "", "s", "1", "1d", "-1s", "1.2.3s", "1e9s", "NaNs", "infs", "1s ",
        ] {
            assert_eq!(
                parse_duration(bad, hour),
                Err(QuantityError::Syntax(DURATION_SYNTAX)),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_duration("25h", std::time::Duration::from_secs(24 * 3600))
                .unwrap_err()
                .to_string(),
            "more than the limit of 24h"
        );
    }

    #[test]
    fn memory_is_bounded_without_overflow() {
        assert_eq!(parse_memory(MAX_MEMORY_TEXT), Ok(MAX_MEMORY_BYTES));
        assert_eq!(parse_memory("1024Gi"), Ok(MAX_MEMORY_BYTES));
        assert_eq!(parse_memory("1099511627776"), Ok(MAX_MEMORY_BYTES));
        assert_eq!(parse_memory("0"), Ok(0));
        let too_large = Err(QuantityError::TooLarge("1Ti".into()));
        for over in [
            "1099511627777",
            "1.0001Ti",
            "2T",
            "9223372036854775808",
            "18446744073709551616Ti",
            "99999999999999999999Ti",
        ] {
            assert_eq!(parse_memory(over), too_large, "{over}");
        }
        assert_eq!(parse_memory(&"9".repeat(400)), too_large);
        for bad in ["", "Mi", "-1Mi", "1.2.3M", "1e9", "1 Mi"] {
            assert!(
                matches!(parse_memory(bad), Err(QuantityError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cpus_are_bounded_without_overflow() {
        assert_eq!(nano_cpus(1.5), Ok(1_500_000_000));
        assert_eq!(nano_cpus(MIN_CPUS), Ok(10_000_000));
        assert_eq!(nano_cpus(MAX_CPUS), Ok(1_024_000_000_000));
        assert_eq!(nano_cpus(0.0), Err(QuantityError::TooSmall("0.01".into())));
        assert_eq!(nano_cpus(-1.0), Err(QuantityError::TooSmall("0.01".into())));
        assert_eq!(
            nano_cpus(1024.5),
            Err(QuantityError::TooLarge("1024".into()))
        );
        assert_eq!(
            nano_cpus(f64::INFINITY),
            Err(QuantityError::TooLarge("1024".into()))
        );
        assert_eq!(
            nano_cpus(f64::MAX),
            Err(QuantityError::TooLarge("1024".into()))
        );
        assert!(matches!(nano_cpus(f64::NAN), Err(QuantityError::Syntax(_))));
    }

    #[test]
    fn bounds_read_as_written() {
        assert_eq!(format_duration(MAX_HEALTH_DURATION), "1h");
        assert_eq!(format_duration(std::time::Duration::from_secs(90)), "90s");
        assert_eq!(
            format_duration(std::time::Duration::from_millis(300)),
            "300ms"
        );
        assert_eq!(format_duration(std::time::Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(std::time::Duration::ZERO), "0ns");
    }
}
