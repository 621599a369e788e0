//! Uploads kept off the heap and out of each other's way: an upload streams to a temporary
//! file as it arrives (refused once it passes the size limit), only so many are received at
//! once (more get `RATE_LIMITED`), only so many are converted at once (the rest wait with their
//! bytes on disk), and a file is made durable (written, flushed to the disk, renamed, its
//! directory flushed) before the event that acknowledges it is recorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::error::ApiError;

/// Uploads received at once on a node.
pub const MAX_CONCURRENT_UPLOADS: usize = 4;

/// How many uploads a node takes and converts at once.
#[derive(Debug, Clone)]
pub struct UploadGate {
    receiving: Arc<Semaphore>,
    converting: Arc<Semaphore>,
}

impl Default for UploadGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            receiving: Arc::new(Semaphore::new(MAX_CONCURRENT_UPLOADS)),
            converting: Arc::new(Semaphore::new((cores / 2).max(1))),
        }
    }
}

impl UploadGate {
    /// A place for one more upload, or `RATE_LIMITED` when all are taken.
    pub fn receive(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.receiving.clone().try_acquire_owned().map_err(|_| {
            ApiError::RateLimited(format!(
                "{MAX_CONCURRENT_UPLOADS} uploads are already being received; try again shortly"
            ))
        })
    }

    /// A turn to convert, waited for (the upload is on disk meanwhile).
    pub async fn convert(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.converting
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)
    }
}

/// An upload on disk, removed when dropped.
#[derive(Debug)]
pub struct Spooled {
    path: PathBuf,
    /// Its size in bytes.
    pub size: usize,
}

impl Spooled {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `field` to a new file under `dir` as it arrives; refuses it, leaving nothing, once
/// it passes `limit` bytes (`too_large` names the problem).
pub async fn spool(
    field: &mut axum::extract::multipart::Field<'_>,
    dir: &Path,
    limit: usize,
    too_large: impl Fn() -> ApiError,
    malformed: impl Fn(axum::extract::multipart::MultipartError) -> ApiError,
) -> Result<Spooled, ApiError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(ApiError::internal)?;
    let spooled = Spooled {
        path: dir.join(format!("upload-{}.part", Uuid::new_v4().simple())),
        size: 0,
    };
    let mut file = tokio::fs::File::create(&spooled.path)
        .await
        .map_err(ApiError::internal)?;
    let mut spooled = spooled;
    while let Some(chunk) = field.chunk().await.map_err(&malformed)? {
        spooled.size += chunk.len();
        if spooled.size > limit {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok(spooled)
}

/// Writes `bytes` to `path` so that it survives a crash once this returns: a temporary file
/// written and flushed to the disk, renamed into place, and the directory flushed.
pub async fn write_durably(path: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        std::fs::create_dir_all(&dir)?;
        let partial = path.with_extension(format!("{}.part", Uuid::new_v4().simple()));
        let written = (|| {
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)?;
            std::fs::File::open(&dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_durable_write_leaves_the_file_and_no_partial() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let path = dir.path().join("voices").join("a.wav");
        write_durably(&path, b"RIFF".to_vec())
            .await
            .unwrap_or_else(|e| panic!("written: {e}"));
        assert_eq!(std::fs::read(&path).ok(), Some(b"RIFF".to_vec()));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("voices"))
            .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[tokio::test]
    async fn uploads_beyond_the_limit_are_refused_at_once() {
        let gate = UploadGate::default();
        let held: Vec<_> = (0..MAX_CONCURRENT_UPLOADS)
            .map(|_| gate.receive())
            .collect();
        assert!(held.iter().all(Result::is_ok));
        assert_eq!(
            gate.receive().map(|_| ()).map_err(|e| e.code()),
            Err("RATE_LIMITED")
        );
        drop(held);
        assert!(gate.receive().is_ok());
    }
}
