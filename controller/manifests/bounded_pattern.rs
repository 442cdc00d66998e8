/*! Regular expressions that carry a numeric bound, so a JSON Schema `pattern` (which every
validator checks, unlike a custom `format`) refuses what the binary refuses: health check
durations up to 1 hour and memory sizes from 6 MiB to 1 TiB. Each pattern accepts only values
within the bound (a few exact spellings at its edges, like `1099.5g`, are refused though
within it: say them in a smaller unit); the binary validates with the same schema, so the two
agree by construction. */

/// Alternatives matching the decimal integers `lo..=hi` written without leading zeros (the
/// caller puts `0*` in front).
fn int_range(lo: u64, hi: u64) -> String {
    let (lo_s, hi_s) = (lo.to_string(), hi.to_string());
    let mut alts = Vec::new();
    for len in lo_s.len()..=hi_s.len() {
        let seg_lo = if len == lo_s.len() {
            lo_s.clone()
        } else {
            format!("1{}", "0".repeat(len - 1))
        };
        let seg_hi = if len == hi_s.len() {
            hi_s.clone()
        } else {
            "9".repeat(len)
        };
        alts.push(same_len(seg_lo.as_bytes(), seg_hi.as_bytes()));
    }
    alts.join("|")
}

/// Digit strings of one length between `lo` and `hi` (same length, `lo <= hi`).
fn same_len(lo: &[u8], hi: &[u8]) -> String {
    let n = lo.len();
    if n == 0 {
        return String::new();
    }
    if lo.iter().all(|d| *d == b'0') && hi.iter().all(|d| *d == b'9') {
        return if n == 1 {
            "[0-9]".into()
        } else {
            format!("[0-9]{{{n}}}")
        };
    }
    let (l, h) = (lo[0], hi[0]);
    if l == h {
        return format!("{}{}", l as char, group(&same_len(&lo[1..], &hi[1..])));
    }
    let nines = vec![b'9'; n - 1];
    let zeros = vec![b'0'; n - 1];
    let mut alts = vec![format!(
        "{}{}",
        l as char,
        group(&same_len(&lo[1..], &nines))
    )];
    if h - l > 1 {
        let rest = if n > 1 {
            format!("[0-9]{{{}}}", n - 1)
        } else {
            String::new()
        };
        alts.push(format!("[{}-{}]{rest}", (l + 1) as char, (h - 1) as char));
    }
    alts.push(format!(
        "{}{}",
        h as char,
        group(&same_len(&zeros, &hi[1..]))
    ));
    alts.join("|")
}

fn group(alts: &str) -> String {
    if alts.contains('|') {
        format!("({alts})")
    } else {
        alts.to_string()
    }
}

/// A number (`[0-9]+(\.[0-9]+)?`) within `lo..=hi` of some unit, as alternatives: a whole
/// part in `ceil(lo)..floor(hi)` with any fraction, `floor(hi)` with a zero fraction, and
/// below 1 (when `lo < 1`) a fraction of at least `10^-k >= lo`.
pub fn number_within(lo: f64, hi: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (a, b) = (lo.ceil().max(0.0) as u64, hi.floor() as u64);
    let mut alts = Vec::new();
    if a < b {
        alts.push(format!("0*({})(\\.[0-9]+)?", int_range(a, b - 1)));
    }
    if a <= b && b > 0 {
        alts.push(format!("0*{b}(\\.0+)?"));
    }
    if lo > 0.0 && lo < 1.0 {
        // Fractions of at least 10^-k, k the largest with 10^-k >= lo.
        let mut k = 0u32;
        while 10f64.powi(-i32::try_from(k + 1).unwrap_or(i32::MAX)) >= lo {
            k += 1;
        }
        if k >= 1 {
            let zeros = if k > 1 {
                format!("0{{0,{}}}", k - 1)
            } else {
                String::new()
            };
            alts.push(format!("0+\\.{zeros}[1-9][0-9]*"));
        }
    }
    alts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        let schema = serde_json::json!({"pattern": format!("^({pattern})$")});
        jsonschema::is_valid(&schema, &serde_json::json!(text))
    }

    #[test]
    fn integer_ranges_match_exactly_their_numbers() {
        for (lo, hi) in [
            (0, 9),
            (0, 59),
            (6, 1_048_576),
            (6292, 1_099_511_627),
            (1, 1),
        ] {
            let p = int_range(lo, hi);
            for n in (0..2_000).chain(hi.saturating_sub(1_000)..hi + 1_000) {
                assert_eq!(
                    matches(&p, &n.to_string()),
                    (lo..=hi).contains(&n),
                    "{p} on {n}"
                );
            }
        }
    }

    #[test]
    fn numbers_within_stay_within() {
        let p = number_within(0.0063, 1099.5);
        for (text, ok) in [
            ("0.01", true),
            ("0.5", true),
            ("1", true),
            ("1098.99", true),
            ("1099", true),
            ("1099.0", true),
            ("1099.4", false),
            ("1100", false),
            ("0.006", false),
            ("0.001", false),
            ("0", false),
            ("0001", true),
        ] {
            assert_eq!(matches(&p, text), ok, "{p} on {text}");
        }
        let h = number_within(0.0, 1.0);
        for (text, ok) in [
            ("1", true),
            ("0.5", true),
            ("1.0", true),
            ("1.5", false),
            ("2", false),
            ("0", true),
        ] {
            assert_eq!(matches(&h, text), ok, "{h} on {text}");
        }
    }
}
