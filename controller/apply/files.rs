/*! Config files: written under `--home` before the containers that bind-mount them are
created. */

use std::io::Write;
use std::path::Path;

use crate::resolve::desired::MaterializedFile;

/// Writes a config file atomically (a temporary file in the same folder, then a rename) with
/// its mode; a file already holding this content and mode is left untouched.
///
/// # Errors
/// The I/O error of creating the folder, writing or renaming.
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
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(f.content.as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(f.mode))?;
    tmp.persist(&f.host_path).map_err(|e| e.error)?;
    Ok(())
}
