//! A local directory as a blob store (`file:///path`): an object is a file at
//! `<path>/<key>`, written to a temporary file beside it and renamed into place, so a
//! reader never sees half an object.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{BlobStore, ObjectInfo, Upload, store_error};
use crate::error::{Error, ErrorKind, Result};

pub(crate) struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Result<LocalStore> {
        std::fs::create_dir_all(&root).map_err(|e| {
            Error::new(
                ErrorKind::Blob,
                format!("blobs.store file://{}: {e}", root.display()),
            )
        })?;
        Ok(LocalStore { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        // Keys are made from table and column names: refuse anything that would leave the
        // root.
        if key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(Error::internal(format!(
                "object key {key:?} is not a plain path"
            )));
        }
        Ok(self.root.join(key))
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    store_error(format!("{what} {}: {e}", path.display()), false)
}

#[async_trait::async_trait]
impl BlobStore for LocalStore {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(ObjectInfo {
                size: m.len(),
                sha256: None,
                recorded_sha256: None,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading", &path, e)),
        }
    }

    async fn put(&self, upload: Upload<'_>) -> Result<()> {
        let path = self.path(upload.key)?;
        let dir = path.parent().expect("a key has a file name");
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_error("creating", dir, e))?;
        let tmp = dir.join(format!(
            ".{}.{}.part",
            path.file_name().expect("a file name").to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        ));
        let written = async {
            tokio::fs::write(&tmp, &upload.data)
                .await
                .map_err(|e| io_error("writing", &tmp, e))?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| io_error("renaming", &tmp, e))
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|e| io_error("reading", &path, e))
    }
}
