/*! Text from input, made safe to show on a terminal: the one home of that escaping.

A manifests folder may come from someone else, and anything it holds (a description, an
image, a field name, a file name, a file's lines) can carry terminal control sequences: an
OSC sequence sets the window title, `ESC [2K CR` erases the line being read, a bidi override
reorders what is shown. Everything printed from input goes through [`line`] (one-line
values: table cells, plan lines, messages) or [`block`] (multi-line text whose line breaks
are meant, such as a file shown in a diagnostic snippet). Names need none: they are DNS
labels. JSON output needs none either: serde escapes control characters itself.

# Guarantees
The result holds no C0 control character (except `\n` and `\t` in [`block`]), no DEL, no C1
control character (U+0080 to U+009F, which some terminals read as CSI and OSC) and no bidi
embedding, override or isolate (U+202A to U+202E, U+2066 to U+2069, U+200E, U+200F,
U+061C). Each is shown as `\u{hex}`, the way Rust's `{:?}` shows it. Text without such a
character is returned as it is, borrowed.
*/

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal raw.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) && !keep(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A one-line value with every unsafe character escaped, line breaks and tabs included.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// Multi-line text with every unsafe character escaped except `\n` and `\t`.
pub fn block(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_c1_and_bidi_characters_are_escaped() {
        let evil = "a\u{1b}]0;pwned\u{7}b\u{1b}[2K\r\u{9b}31m\u{202e}cba\u{2066}\u{7f}";
        let l = line(evil);
        assert!(!l.chars().any(is_unsafe), "{l}");
        assert_eq!(
            l,
            "a\\u{1b}]0;pwned\\u{7}b\\u{1b}[2K\\u{d}\\u{9b}31m\\u{202e}cba\\u{2066}\\u{7f}"
        );
        assert_eq!(line("x\ny\tz"), "x\\u{a}y\\u{9}z");
        assert_eq!(block("x\ny\tz\u{1b}"), "x\ny\tz\\u{1b}");
    }

    #[test]
    fn safe_text_is_borrowed() {
        assert!(matches!(line("postgres:16 é ✓"), Cow::Borrowed(_)));
    }
}
