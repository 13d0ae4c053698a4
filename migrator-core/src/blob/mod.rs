//! Blob stores: where `bytea` values configured under `[blobs]` go instead of the target
//! row. One trait, [`BlobStore`], over S3 ([`s3`], through `aws-sdk-s3`) and a local
//! directory ([`local`]); [`open`] picks one from the store URL. Objects are
//! content-addressed (the key holds the value's SHA-256), so a value uploaded twice is
//! stored once, and a retried or resumed upload rewrites the same bytes under the same key.

pub(crate) mod local;
pub(crate) mod s3;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::config::{BlobsConfig, S3Config, StoreUrl};
use crate::error::{Error, ErrorKind, Result};

/// What a store knows about an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectInfo {
    pub size: u64,
    /// The SHA-256 of the whole object, when the store itself vouches for it (S3's checksum
    /// of a single-part upload).
    pub sha256: Option<[u8; 32]>,
    /// The SHA-256 recorded with the object at upload (object metadata), which the store
    /// keeps but did not compute (a multipart upload's parts were checked one by one).
    pub recorded_sha256: Option<[u8; 32]>,
}

/// One object to write.
#[derive(Debug, Clone)]
pub(crate) struct Upload<'a> {
    pub key: &'a str,
    pub data: Bytes,
    pub sha256: [u8; 32],
    pub content_type: Option<&'a str>,
}

/// An object store.
#[async_trait::async_trait]
pub(crate) trait BlobStore: Send + Sync {
    /// The object's size and checksum, or `None` if there is no such object.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// Writes the object (replacing any object of that key). The store checks the content
    /// against `sha256` where it can, and the write is atomic: a failed upload leaves no
    /// object behind.
    async fn put(&self, upload: Upload<'_>) -> Result<()>;
    /// Reads the whole object.
    async fn get(&self, key: &str) -> Result<Bytes>;
}

/// The SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Opens the configured store, or `None` when no blob column is configured.
pub(crate) async fn open(config: &BlobsConfig) -> Result<Option<Arc<dyn BlobStore>>> {
    let Some(url) = &config.store else {
        return Ok(None);
    };
    Ok(Some(match StoreUrl::parse(url)? {
        StoreUrl::S3 { bucket, .. } => {
            Arc::new(s3::S3Store::new(bucket, &config.s3, config.multipart_threshold_mib).await?)
        }
        StoreUrl::Local { path } => Arc::new(local::LocalStore::new(path)?),
    }))
}

/// Renders the object key of a value from `template` (`{prefix}`, `{schema}`, `{table}`,
/// `{column}`, `{sha256}`), with empty path segments (an empty prefix) dropped.
pub(crate) fn object_key(
    template: &str,
    prefix: &str,
    schema: &str,
    table: &str,
    column: &str,
    sha256_hex: &str,
) -> String {
    let key = template
        .replace("{prefix}", prefix)
        .replace("{schema}", schema)
        .replace("{table}", table)
        .replace("{column}", column)
        .replace("{sha256}", sha256_hex);
    key.split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Keys known to exist in the store during this run, so a value seen again is neither
/// uploaded nor looked up again.
#[derive(Default)]
pub(crate) struct KnownKeys(Mutex<HashSet<String>>);

impl KnownKeys {
    pub fn contains(&self, key: &str) -> bool {
        self.0.lock().expect("not poisoned").contains(key)
    }

    pub fn insert(&self, key: &str) {
        self.0.lock().expect("not poisoned").insert(key.to_string());
    }
}

/// Uploads `upload` unless an object of that key and size already exists (content
/// addressing makes the key a promise about the bytes); retries what can be retried.
pub(crate) async fn ensure(
    store: &dyn BlobStore,
    known: &KnownKeys,
    upload: Upload<'_>,
    events: Option<&crate::events::EventSink>,
) -> Result<()> {
    if known.contains(upload.key) {
        return Ok(());
    }
    let size = upload.data.len() as u64;
    crate::retry::retrying(
        crate::retry::RetryPolicy::default(),
        &format!("uploading {}", upload.key),
        events,
        || {
            let upload = upload.clone();
            async move {
                match store.head(upload.key).await? {
                    Some(info) if info.size == size => Ok(()),
                    _ => store.put(upload).await,
                }
            }
        },
    )
    .await?;
    known.insert(upload.key);
    Ok(())
}

/// A value whose object the copy must write before the row that names it commits.
#[derive(Debug, Clone)]
pub(crate) struct PendingObject {
    pub key: String,
    pub data: Bytes,
    pub sha256: [u8; 32],
    pub content_type: Option<String>,
}

/// Uploads in flight per worker, whatever their size.
const UPLOADS_PER_WORKER: usize = 8;

/// Uploads the values of one copy run: names objects, bounds the bytes in flight, skips
/// what is known to exist.
pub(crate) struct Uploader {
    store: Arc<dyn BlobStore>,
    known: Arc<KnownKeys>,
    budget: Arc<tokio::sync::Semaphore>,
    budget_kib: u32,
    /// Uploads at once: each holds a connection and its buffers.
    slots: Arc<tokio::sync::Semaphore>,
    template: String,
    prefix: String,
}

impl Uploader {
    /// The uploader of a run: `None` unless a store is configured and the run has values
    /// that go to it (`needed`).
    pub(crate) async fn for_run(
        config: &crate::config::Config,
        jobs: usize,
        needed: bool,
    ) -> Result<Option<Arc<Uploader>>> {
        if !needed {
            return Ok(None);
        }
        match open(&config.blobs).await? {
            Some(store) => Ok(Some(Arc::new(Uploader::new(store, &config.blobs, jobs)?))),
            None => Ok(None),
        }
    }

    /// `in_flight_mib` per worker, for `jobs` workers.
    pub fn new(store: Arc<dyn BlobStore>, config: &BlobsConfig, jobs: usize) -> Result<Uploader> {
        let prefix = config
            .store
            .as_deref()
            .map(StoreUrl::parse)
            .transpose()?
            .map(|u| u.prefix().to_string())
            .unwrap_or_default();
        let budget_kib = (config.in_flight_mib * 1024)
            .saturating_mul(jobs.max(1) as u64)
            .min(u32::MAX as u64 / 2) as u32;
        Ok(Uploader {
            store,
            known: Arc::default(),
            budget: Arc::new(tokio::sync::Semaphore::new(budget_kib as usize)),
            budget_kib,
            slots: Arc::new(tokio::sync::Semaphore::new(
                UPLOADS_PER_WORKER * jobs.max(1),
            )),
            template: config.key_template.clone(),
            prefix,
        })
    }

    /// The object key of a value of `table`.`column` with this SHA-256.
    pub fn key(&self, table: &crate::sql::QualName, column: &str, sha256: &[u8; 32]) -> String {
        object_key(
            &self.template,
            &self.prefix,
            &table.schema,
            &table.to_string(),
            column,
            &hex::encode(sha256),
        )
    }

    /// Starts writing `object` into `tasks`, after waiting for room in the in-flight budget
    /// (so a fast reader waits for the store). Known objects are skipped.
    pub async fn start(
        &self,
        object: PendingObject,
        tasks: &mut tokio::task::JoinSet<Result<()>>,
        events: &crate::events::EventSink,
    ) -> Result<()> {
        if self.known.contains(&object.key) {
            return Ok(());
        }
        // A value bigger than the whole budget takes all of it.
        let kib = (object.data.len().div_ceil(1024) as u32).clamp(1, self.budget_kib);
        let closed = |_| Error::internal("the upload budget was closed");
        let slot = self.slots.clone().acquire_owned().await.map_err(closed)?;
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(closed)?;
        let store = self.store.clone();
        let known = self.known.clone();
        let events = events.clone();
        tasks.spawn(async move {
            let _permits = (slot, permit);
            ensure(
                &*store,
                &known,
                Upload {
                    key: &object.key,
                    data: object.data,
                    sha256: object.sha256,
                    content_type: object.content_type.as_deref(),
                },
                Some(&events),
            )
            .await
        });
        Ok(())
    }
}

/// Waits for every upload in `tasks`; the first failure is returned (the others are
/// dropped with the set).
pub(crate) async fn finish(tasks: &mut tokio::task::JoinSet<Result<()>>) -> Result<()> {
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(r) => r?,
            Err(e) => return Err(Error::internal(format!("an upload task failed: {e}"))),
        }
    }
    Ok(())
}

/// An error of the blob store, retryable when a retry can help (a lost connection, a
/// throttle, a server error).
pub(crate) fn store_error(what: String, retryable: bool) -> Error {
    Error::new(ErrorKind::Blob, what).retryable(retryable)
}

/// The S3 options for messages (which bucket, endpoint, region), never credentials.
pub(crate) fn describe_s3(bucket: &str, config: &S3Config) -> String {
    let mut s = format!("s3://{bucket}");
    if let Some(e) = &config.endpoint {
        s.push_str(&format!(" at {e}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_templates() {
        let t = "{prefix}/{table}/{column}/{sha256}";
        crate::config::check_template(t).unwrap();
        assert_eq!(
            object_key(t, "app", "public", "public.doc", "data", "ab12"),
            "app/public.doc/data/ab12"
        );
        assert_eq!(
            object_key(t, "", "public", "public.doc", "data", "ab12"),
            "public.doc/data/ab12"
        );
        assert_eq!(
            hex::encode(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
