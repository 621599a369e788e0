//! Where data files live and how one becomes durable: under `files/<enterprise>/` in the data
//! directory; a job writes to a temporary name of its own (`.<id>.<attempt>.part`), flushes
//! it to the disk, renames it into place and flushes the directory, and only then is the event
//! that says it is ready recorded. A crash leaves at most a `.part`, never a file marked ready
//! that is half written; `.part` files older than any job are swept at start.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

/// The data directory's folder of data files.
pub const FILES_DIR: &str = "files";

/// The file of `id` in `tenant`'s folder, relative to the data directory.
pub fn relative_path(tenant: Uuid, id: Uuid, suffix: &str) -> String {
    format!("{FILES_DIR}/{tenant}/{id}{suffix}")
}

/// A temporary name beside `target` for one attempt.
pub fn partial_path(target: &Path, attempt: u32) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{attempt}.part"))
}

/// Flushes `partial` to the disk, renames it to `target` and flushes the directory.
pub fn make_durable(partial: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::File::open(partial)?.sync_all()?;
    std::fs::rename(partial, target)?;
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// Removes `.part` files under `data_dir/files` last changed more than `older_than` ago.
pub fn sweep_partials(data_dir: &Path, older_than: Duration) -> usize {
    let mut removed = 0;
    let Ok(tenants) = std::fs::read_dir(data_dir.join(FILES_DIR)) else {
        return 0;
    };
    for tenant in tenants.flatten() {
        let Ok(entries) = std::fs::read_dir(tenant.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > older_than);
            if path.extension().is_some_and(|e| e == "part")
                && stale
                && std::fs::remove_file(&path).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_file_replaces_its_partial() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let target = dir.path().join("a.xlsx");
        let partial = partial_path(&target, 2);
        assert_eq!(
            partial
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            Some(".a.xlsx.2.part".into())
        );
        std::fs::write(&partial, b"x").unwrap_or_else(|e| panic!("written: {e}"));
        make_durable(&partial, &target).unwrap_or_else(|e| panic!("durable: {e}"));
        assert!(target.exists() && !partial.exists());
    }
}
