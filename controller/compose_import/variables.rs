/*! Compose's variable syntax (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
`${VAR:?error}`, `${VAR:+alt}`, `$$`) resolved the way Compose resolves it, with one
difference that keeps the importer's own environment out of shared manifests: a variable
only the importing shell sets ([`Var::ShellOnly`], when `--env-from-shell` was not given) is
left as the reference it was (`${HOME}`), or takes its default, and is reported. */

/// What a variable's name looks up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Var {
    /// A value (from the project's `.env` file, or from the shell when it may be read).
    Value(String),
    /// Set in the importing shell only, whose values are not taken (no `--env-from-shell`).
    ShellOnly,
    /// Set nowhere.
    Unset,
}

/// A variable that did not resolve to a value, for the notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Unresolved {
    /// Set nowhere and without a default: an empty value, as Compose does.
    Unset(String),
    /// Set only in the shell: the reference was kept as it was.
    KeptReference(String),
    /// Set only in the shell: its default was used.
    UsedDefault(String),
}

/// Compose's variable syntax resolved in `s`; variables that did not resolve to a value are
/// pushed to `unresolved`. `Err` for `${VAR:?message}` with VAR unset (or empty), and for a
/// `${` never closed.
pub(super) fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Var,
    unresolved: &mut Vec<Unresolved>,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            // The matching `}` (defaults may nest `${...}`).
            let mut depth = 1;
            let mut end = None;
            for (j, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(j);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let end = end.ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
            out.push_str(&expand(&body[..end], lookup, unresolved)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
                rest = after;
                continue;
            }
            let name = &after[..len];
            match lookup(name) {
                Var::Value(v) => out.push_str(&v),
                Var::ShellOnly => {
                    unresolved.push(Unresolved::KeptReference(name.to_string()));
                    out.push('$');
                    out.push_str(name);
                }
                Var::Unset => unresolved.push(Unresolved::Unset(name.to_string())),
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The inside of one `${...}`.
fn expand(
    body: &str,
    lookup: &dyn Fn(&str) -> Var,
    unresolved: &mut Vec<Unresolved>,
) -> Result<String, String> {
    let len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(len);
    let word = |w: &str, unresolved: &mut Vec<Unresolved>| interpolate(w, lookup, unresolved);
    let value = match lookup(name) {
        Var::Value(v) => Some(v),
        Var::Unset => None,
        // The shell's value is not taken: a default stands in for it, anything else keeps
        // the reference as it was written.
        Var::ShellOnly => {
            if let Some(default) = op.strip_prefix(":-").or_else(|| op.strip_prefix('-')) {
                unresolved.push(Unresolved::UsedDefault(name.to_string()));
                return word(default, unresolved);
            }
            if !is_known_op(op) {
                return Err(format!("unknown variable syntax ${{{body}}}"));
            }
            unresolved.push(Unresolved::KeptReference(name.to_string()));
            return Ok(format!("${{{body}}}"));
        }
    };
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op {
        "" => Ok(value.unwrap_or_else(|| {
            unresolved.push(Unresolved::Unset(name.to_string()));
            String::new()
        })),
        o if o.starts_with(":-") => {
            if set_nonempty {
                Ok(value.unwrap_or_default())
            } else {
                word(&o[2..], unresolved)
            }
        }
        o if o.starts_with('-') => match value {
            Some(v) => Ok(v),
            None => word(&o[1..], unresolved),
        },
        o if o.starts_with(":?") => {
            if set_nonempty {
                Ok(value.unwrap_or_default())
            } else {
                Err(format!("variable {name} is required: {}", &o[2..]))
            }
        }
        o if o.starts_with('?') => {
            value.ok_or_else(|| format!("variable {name} is required: {}", &o[1..]))
        }
        o if o.starts_with(":+") => {
            if set_nonempty {
                word(&o[2..], unresolved)
            } else {
                Ok(String::new())
            }
        }
        o if o.starts_with('+') => {
            if value.is_some() {
                word(&o[1..], unresolved)
            } else {
                Ok(String::new())
            }
        }
        _ => Err(format!("unknown variable syntax ${{{body}}}")),
    }
}

/// Whether `op` (what follows the name inside `${...}`) is one Compose knows.
fn is_known_op(op: &str) -> bool {
    op.is_empty()
        || [":-", "-", ":?", "?", ":+", "+"]
            .iter()
            .any(|o| op.starts_with(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Var {
        match name {
            "SET" => Var::Value("value".into()),
            "EMPTY" => Var::Value(String::new()),
            "SHELL" => Var::ShellOnly,
            _ => Var::Unset,
        }
    }

    fn interp(s: &str) -> (Result<String, String>, Vec<Unresolved>) {
        let mut unresolved = Vec::new();
        let r = interpolate(s, &vars, &mut unresolved);
        (r, unresolved)
    }

    #[test]
    fn variables_resolve_as_compose_resolves_them() {
        for (text, want) in [
            ("$SET and ${SET}", "value and value"),
            ("${UNSET:-dflt}", "dflt"),
            ("${EMPTY:-dflt}", "dflt"),
            ("${EMPTY-dflt}", ""),
            ("${UNSET-dflt}", "dflt"),
            ("${SET:+alt}", "alt"),
            ("${UNSET:+alt}", ""),
            ("$$SET costs $$5", "$SET costs $5"),
            ("${UNSET:-${SET}}", "value"),
            ("a $ b", "a $ b"),
        ] {
            assert_eq!(interp(text).0.as_deref(), Ok(want), "{text}");
        }
        assert_eq!(
            interp("x${UNSET}y"),
            (Ok("xy".into()), vec![Unresolved::Unset("UNSET".into())])
        );
        assert!(
            interp("${UNSET:?need it}")
                .0
                .unwrap_err()
                .contains("need it")
        );
        assert!(interp("${SET").0.is_err());
    }

    #[test]
    fn a_shell_only_variable_keeps_its_reference_or_takes_its_default() {
        let kept = |name: &str| vec![Unresolved::KeptReference(name.into())];
        assert_eq!(interp("$SHELL/x"), (Ok("$SHELL/x".into()), kept("SHELL")));
        assert_eq!(
            interp("a ${SHELL} b"),
            (Ok("a ${SHELL} b".into()), kept("SHELL"))
        );
        assert_eq!(
            interp("${SHELL:?needed}"),
            (Ok("${SHELL:?needed}".into()), kept("SHELL"))
        );
        assert_eq!(
            interp("${SHELL:+on}"),
            (Ok("${SHELL:+on}".into()), kept("SHELL"))
        );
        for text in ["${SHELL:-dflt}", "${SHELL-dflt}"] {
            assert_eq!(
                interp(text),
                (
                    Ok("dflt".into()),
                    vec![Unresolved::UsedDefault("SHELL".into())]
                ),
                "{text}"
            );
        }
        assert!(interp("${SHELL%x}").0.is_err());
    }
}
