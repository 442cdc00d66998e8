/*! Config files: written under `--home` before the containers that bind-mount them are
created. */

use std::path::Path;

use crate::safe_fs::{FileMode, write_atomic};

use crate::resolve::desired::MaterializedFile;

/// Writes a config file through [`crate::safe_fs::write_atomic`] with its mode; a file
/// already holding this content and mode is left untouched.
///
/// # Errors
/// The I/O error of creating the folder or writing.
pub fn materialize(f: &MaterializedFile) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = f.host_path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    if std::fs::read(&f.host_path).ok().as_deref() == Some(f.content.as_bytes())
        && std::fs::metadata(&f.host_path)
            .map(|m| m.permissions().mode() & 0o7777 == f.mode)
            .unwrap_or(false)
    {
        return Ok(());
    }
    write_atomic(&f.host_path, f.content.as_bytes(), FileMode::Exact(f.mode))
}
