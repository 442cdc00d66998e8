/*! Config files: written under `--home` before the containers that bind-mount them are
created. */

use std::os::unix::fs::MetadataExt;

use crate::resolve::desired::MaterializedFile;
use crate::safe_fs::{FileMode, write_atomic};
use crate::state::{Home, HomeError, home};

/// Writes a config file through [`crate::safe_fs::write_atomic`] with its mode, in folders
/// created 0700 and checked on the way down from `--home` ([`Home::parent_dir_of`]: none may be
/// a link, another user's or writable by others); a file already holding this content and
/// mode is left untouched.
///
/// # Errors
/// [`HomeError`] for a folder that fails its checks, or the I/O error of writing.
pub fn materialize(f: &MaterializedFile) -> Result<(), HomeError> {
    Home::open(&f.home)?.parent_dir_of(&f.host_path)?;
    // The current file, read without following a link (a link or a stranger's file is
    // replaced by the write below, never written through).
    let same = home::open_file(&f.host_path)
        .ok()
        .flatten()
        .is_some_and(|(file, meta)| {
            meta.mode() & 0o7777 == f.mode && meta.len() == f.content.len() as u64 && {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(file, meta.len() + 1),
                    &mut bytes,
                )
                .is_ok()
                    && bytes == f.content.as_bytes()
            }
        });
    if same {
        return Ok(());
    }
    write_atomic(&f.host_path, f.content.as_bytes(), FileMode::Exact(f.mode)).map_err(|source| {
        HomeError::Io {
            action: "write",
            path: f.host_path.clone(),
            source,
        }
    })
}
