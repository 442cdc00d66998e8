/*! Env files of a Compose project (`env_file` entries and the `.env` file), read only from
inside the project's folder: an entry that is absolute, climbs out with `..`, or reaches a
file outside through a symbolic link is refused before anything is read, so a file such as
`../secret.key` can never end up in the manifests. A line the parser cannot read is an error
at its line (its text is not repeated: it may be a credential). */

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::manifests::yaml::MAX_FILE_BYTES;

/// Where an env file entry leads.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// This regular file (its real path), inside the project's folder.
    File(PathBuf),
    /// Nothing there.
    Missing,
}

/// Where `entry`, an env file path as the compose file in `base` names it, leads: refused
/// (`Err`, saying why) unless it is inside `base`, links resolved.
pub(super) fn locate(base: &Path, entry: &str) -> Result<Found, String> {
    let path = Path::new(entry);
    if path.is_absolute() || entry.starts_with('~') {
        return Err("is an absolute path".into());
    }
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "climbs out of the project's folder with `..`".to_string())?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("is an absolute path".into());
            }
        }
    }
    let root = std::fs::canonicalize(base)
        .map_err(|e| format!("cannot be checked: the project's folder cannot be resolved ({e})"))?;
    match std::fs::canonicalize(root.join(path)) {
        Ok(real) if real.starts_with(&root) => Ok(Found::File(real)),
        Ok(_) => Err("leads out of the project's folder through a symbolic link".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) => Err(format!("cannot be checked ({e})")),
    }
}

/// Why an env file was not read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadError {
    /// The file cannot be read (the reason).
    Unreadable(String),
    /// A line that is not `KEY=value`, a comment or blank: its 1-based number and why.
    Line(usize, &'static str),
}

/// The `KEY=value` lines of the env file at `path` (a path [`locate`] found).
pub(super) fn read(path: &Path) -> Result<BTreeMap<String, String>, ReadError> {
    let bytes = crate::safe_fs::read_limited(path, MAX_FILE_BYTES)
        .map_err(|e| ReadError::Unreadable(e.to_string()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| ReadError::Unreadable("not UTF-8 text".into()))?;
    parse(&text)
}

/// `KEY=value` lines (`#` comments and blank lines skipped, `export ` prefixes and quotes
/// removed); a line without `=`, or whose key is not a variable name, is an error.
pub(super) fn parse(text: &str) -> Result<BTreeMap<String, String>, ReadError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(ReadError::Line(
                i + 1,
                "not `KEY=value`, a comment or a blank line",
            ));
        };
        let k = k.trim();
        if !is_variable_name(k) {
            return Err(ReadError::Line(
                i + 1,
                "what comes before `=` is not a variable name (letters, digits, `_`, `.`, `-`)",
            ));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A name Compose's env files use: letters, digits, `_`, `.` and `-`, not starting with a
/// digit or `-`.
fn is_variable_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn entries_outside_the_project_are_refused() {
        let top = tempfile::tempdir().unwrap();
        let project = top.path().join("project");
        std::fs::create_dir_all(project.join("sub")).unwrap();
        std::fs::write(top.path().join("secret.key"), "KEY=x\n").unwrap();
        std::fs::write(project.join("sub/ok.env"), "A=1\n").unwrap();
        symlink(top.path().join("secret.key"), project.join("key.env")).unwrap();
        symlink(top.path(), project.join("up")).unwrap();
        symlink(project.join("sub/ok.env"), project.join("inside.env")).unwrap();
        for (entry, why) in [
            ("../secret.key", "`..`"),
            ("sub/../../secret.key", "`..`"),
            ("/etc/passwd", "absolute"),
            ("~/.ssh/id_rsa", "absolute"),
            ("key.env", "symbolic link"),
            ("up/secret.key", "symbolic link"),
        ] {
            let err = locate(&project, entry).unwrap_err();
            assert!(err.contains(why), "{entry}: {err}");
        }
        let real = std::fs::canonicalize(project.join("sub/ok.env")).unwrap();
        assert_eq!(
            locate(&project, "sub/ok.env"),
            Ok(Found::File(real.clone()))
        );
        assert_eq!(
            locate(&project, "./sub/../sub/ok.env"),
            Ok(Found::File(real.clone()))
        );
        assert_eq!(locate(&project, "inside.env"), Ok(Found::File(real)));
        assert_eq!(locate(&project, "none.env"), Ok(Found::Missing));
    }

    #[test]
    fn a_line_that_is_not_key_value_is_an_error_at_its_line() {
        assert_eq!(
            parse("# c\n\nA=1\nexport B=\"two\"\nC='3'\n").unwrap(),
            BTreeMap::from([
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two".to_string()),
                ("C".to_string(), "3".to_string()),
            ])
        );
        assert!(matches!(
            parse("A=1\nJUSTANAME\n"),
            Err(ReadError::Line(2, _))
        ));
        assert!(matches!(
            parse("-----BEGIN PRIVATE KEY-----\nMIIEv+Q/AB==\n"),
            Err(ReadError::Line(1, _))
        ));
        assert!(matches!(
            parse("A=1\nMIIEv+Q/AB==\n"),
            Err(ReadError::Line(2, _))
        ));
    }
}
