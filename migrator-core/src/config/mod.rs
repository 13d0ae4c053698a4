//! The run's configuration: a plain struct that serde reads from TOML (the `--config` file);
//! per-table settings live here, flags cover the rest.

use serde::{Deserialize, Serialize};

mod store;
mod tables;

pub(crate) use store::{StoreUrl, check_template};
pub(crate) use tables::TableFilter;

use crate::error::{Error, Result};

/// Everything a migration can be told, beyond the two URLs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The target and its profile.
    pub target: TargetConfig,
    /// Which tables (and the objects in their schemas) move.
    pub tables: TableSelection,
    /// How the data is copied.
    pub copy: CopyConfig,
    /// What integer keys become in a DSQL target.
    pub keys: KeysConfig,
    /// Whether foreign keys are created in a DSQL target.
    pub foreign_keys: ForeignKeysConfig,
    /// How values of types a DSQL target lacks are stored.
    pub types: TypesConfig,
    /// DSQL's write path and limits.
    pub dsql: DsqlConfig,
    /// `bytea` columns moved to an object store.
    pub blobs: BlobsConfig,
    /// How `sync` finds what changed.
    pub sync: SyncConfig,
}

/// `[sync]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SyncConfig {
    /// How sync finds the rows that changed in a chunk since the copy (or the last sync).
    pub changes: ChangeDetection,
    /// Tables whose changed rows `sync` selects by a column the application sets on every
    /// insert and update (`updated_at`), instead of by fingerprints.
    pub watermarks: Vec<Watermark>,
    /// For a timestamp watermark: rows this many seconds older than the recorded value are
    /// taken too, since a transaction that started before the copy's snapshot but committed
    /// after it carries an older timestamp. Longer than your longest write transaction.
    pub overlap_seconds: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            changes: ChangeDetection::Xid,
            watermarks: Vec::new(),
            overlap_seconds: 600,
        }
    }
}

/// `[sync] changes`: how sync tells which rows changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChangeDetection {
    /// Rows whose inserting transaction (`xmin`) is not older than the snapshot of the copy
    /// or last sync, found by the source without sending the rest; deletes by the keys
    /// left. Used for chunks with stored row digests; others are fingerprinted.
    Xid,
    /// Every chunk streamed from the source and fingerprinted again: for a source whose
    /// transaction ids cannot be trusted to grow (restored to an earlier point in time).
    Fingerprints,
}

/// `[[sync.watermarks]]`: a table and its `updated_at`-style column.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Watermark {
    /// `schema.table` (or `table` in `public`).
    pub table: String,
    /// The column every insert and update sets to the current time (or a growing value).
    pub column: String,
}

impl Watermark {
    /// A table and its watermark column.
    pub fn new(table: impl Into<String>, column: impl Into<String>) -> Watermark {
        Watermark {
            table: table.into(),
            column: column.into(),
        }
    }
}

/// `[blobs]`: `bytea` columns whose values go to an object store during the copy, the row
/// keeping the object's key, size and SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BlobsConfig {
    /// `s3://bucket/prefix` or `file:///path`; none: no column is moved.
    pub store: Option<String>,
    /// The columns to move.
    pub columns: Vec<BlobColumn>,
    /// What the target row holds instead of the value.
    pub naming: BlobNaming,
    /// The object key: `{prefix}` (the store URL's path), `{schema}`, `{table}`
    /// (`schema.table`), `{column}`, `{sha256}` (required: objects are named by content).
    pub key_template: String,
    /// Values over this many MiB are uploaded in parts of this size (at least 5, S3's
    /// smallest part).
    pub multipart_threshold_mib: u64,
    /// Bytes of values being uploaded at once, per worker, in MiB.
    pub in_flight_mib: u64,
    /// S3 options.
    pub s3: S3Config,
}

impl Default for BlobsConfig {
    fn default() -> Self {
        BlobsConfig {
            store: None,
            columns: Vec::new(),
            naming: BlobNaming::Columns,
            key_template: "{prefix}/{table}/{column}/{sha256}".into(),
            multipart_threshold_mib: 8,
            in_flight_mib: 64,
            s3: S3Config::default(),
        }
    }
}

/// One `[[blobs.columns]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BlobColumn {
    /// `schema.table` (or `table` in `public`).
    pub table: String,
    /// A `bytea` column of that table.
    pub column: String,
    /// A column of the same row holding the value's MIME type, sent as the object's
    /// `Content-Type`.
    #[serde(default)]
    pub content_type_column: Option<String>,
}

impl BlobColumn {
    /// A blob column without a content type.
    pub fn new(table: impl Into<String>, column: impl Into<String>) -> BlobColumn {
        BlobColumn {
            table: table.into(),
            column: column.into(),
            content_type_column: None,
        }
    }
}

/// The target columns that stand for a moved value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BlobNaming {
    /// `<col>_key`, `<col>_size`, `<col>_sha256` in place of `<col>`.
    #[default]
    Columns,
    /// `<col>` itself holds the key (as `text`), with `<col>_size` and `<col>_sha256`.
    InPlace,
}

/// `[blobs.s3]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct S3Config {
    /// The bucket's region; default: the AWS environment's (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// An S3-compatible endpoint (`https://storage.example.com`).
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`); default: on with `endpoint`.
    pub path_style: Option<bool>,
    /// Server-side encryption: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// The KMS key for `sse = "aws:kms"` (default: the bucket's).
    pub kms_key_id: Option<String>,
    /// The storage class (`STANDARD`, `STANDARD_IA`, `INTELLIGENT_TIERING`, ...).
    pub storage_class: Option<String>,
    /// The SDK's checksum behaviour: `default` or `when_required` (for stores that reject
    /// the SDK's default checksums). Uploads carry their SHA-256 either way.
    pub checksum: ChecksumCalculation,
}

/// When the S3 SDK computes and validates its own checksums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChecksumCalculation {
    /// The SDK's default: whenever the operation supports one.
    #[default]
    Default,
    /// Only where the operation requires one.
    WhenRequired,
}

/// `[keys]`: integer primary keys in a DSQL target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KeysConfig {
    /// `uuid` (default), `identity` or `keep`.
    pub strategy: KeyStrategy,
    /// With `uuid`: also keep each old integer key in a `legacy_<column>` column.
    pub keep_legacy_id: bool,
    /// With `uuid`: the UUIDv5 namespace. The default is fixed, so the same source row
    /// gets the same UUID in every target; the namespace is recorded in the manifest.
    pub namespace: Option<uuid::Uuid>,
    /// With `uuid`: copy tables that have no primary key (they get no UUID key, an
    /// interrupted copy starts them again, and sync cannot carry their changes). Off by
    /// default: plan refuses such a table, naming it, so that this is found before the copy
    /// rather than at cutover.
    pub allow_keyless: bool,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            strategy: KeyStrategy::Uuid,
            keep_legacy_id: false,
            namespace: None,
            allow_keyless: false,
        }
    }
}

/// What an integer primary key (and every foreign key that references it) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum KeyStrategy {
    /// Deterministic UUIDv5 values: `UUIDv5(namespace, "<schema>.<table>:<key>")`.
    Uuid,
    /// `bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 65536)`, restarted past the copied
    /// maximum (needs a cluster with sequences).
    Identity,
    /// Plain integers with no default: the application assigns keys.
    Keep,
}

/// `[foreign_keys]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ForeignKeysConfig {
    /// `create` (default where the cluster supports them) or `omit`.
    pub mode: ForeignKeyMode,
}

/// Whether foreign keys are created in a DSQL target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ForeignKeyMode {
    /// Added `NOT VALID` after the data, then validated asynchronously.
    #[default]
    Create,
    /// Not created; recorded in the manifest so `verify` reports orphans.
    Omit,
}

/// `[types]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TypesConfig {
    /// Array columns in a DSQL target, which has none: `json` (default), `jsonb` (on a
    /// cluster that has jsonb columns) or `text`.
    pub arrays: ArrayMapping,
}

/// How an array column is stored where arrays are not column types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ArrayMapping {
    /// A JSON array in a `json` column (`to_json`).
    #[default]
    Json,
    /// A JSON array in a `jsonb` column (`to_jsonb`), where the cluster has them.
    Jsonb,
    /// The array's text form (`{1,2,3}`).
    Text,
}

/// `[dsql]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DsqlConfig {
    /// How rows are written: `copy` (COPY FROM STDIN in batches) or `insert` (multi-row
    /// INSERT with binary parameters).
    pub write: DsqlWrite,
    /// Modified rows per transaction, the manifest row included (DSQL's limit: 3,000).
    pub max_rows: u32,
    /// Modified bytes per transaction, secondary index entries included, in KiB
    /// (DSQL's limit: 10 MiB; the default leaves headroom).
    pub max_kib: u64,
    /// Sessions are replaced after this many seconds (DSQL closes connections at 60 minutes).
    pub max_session_seconds: u64,
}

impl Default for DsqlConfig {
    fn default() -> Self {
        DsqlConfig {
            write: DsqlWrite::Copy,
            max_rows: 3000,
            max_kib: 8 * 1024,
            max_session_seconds: 50 * 60,
        }
    }
}

/// The DSQL write path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DsqlWrite {
    /// `COPY ... FROM STDIN (FORMAT binary)`, one batch per transaction.
    Copy,
    /// Multi-row `INSERT ... VALUES` with binary parameters, one batch per transaction.
    Insert,
}

/// `[target]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TargetConfig {
    /// The target profile; default: `dsql` for a `*.dsql.<region>.on.aws` host, else
    /// `postgres`.
    pub profile: Option<Profile>,
}

/// A target profile: which rules and which write path the target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Profile {
    /// Amazon RDS for PostgreSQL, Aurora PostgreSQL, or any PostgreSQL.
    Postgres,
    /// Amazon Aurora DSQL.
    Dsql,
}

impl Profile {
    /// The profile's name as written in config and flags.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Postgres => "postgres",
            Profile::Dsql => "dsql",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Profile> {
        match s {
            "postgres" => Ok(Profile::Postgres),
            "dsql" => Ok(Profile::Dsql),
            other => Err(Error::config(format!(
                "unknown profile '{other}' (expected postgres or dsql)"
            ))),
        }
    }
}

/// `[tables]`: glob patterns over `schema.table` (`*` matches within a name part).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TableSelection {
    /// Tables to move; empty means every table of every non-system schema.
    pub include: Vec<String>,
    /// Tables to leave out, applied after `include`.
    pub exclude: Vec<String>,
}

/// `[copy]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CopyConfig {
    /// Parallel workers (connections to each side); default: the number of CPUs on the
    /// postgres profile, 4 per CPU (8 to 64) on the dsql profile.
    pub jobs: Option<usize>,
    /// Tables larger than this are cut into chunks of about this size, in MiB.
    pub chunk_mib: u64,
    /// Bytes buffered per worker between reading and writing, in KiB.
    pub buffer_kib: usize,
    /// Record each chunk's fingerprint (computed by the source after the chunk is read), so
    /// `sync` can skip what did not change. Off: a faster copy, and `sync` compares every
    /// row instead.
    pub fingerprints: bool,
    /// `ANALYZE` each table after its data, so the target plans queries well from the
    /// first one. Off: a shorter run, and the statistics are left to autovacuum.
    pub analyze: bool,
}

impl Default for CopyConfig {
    fn default() -> Self {
        CopyConfig {
            jobs: None,
            chunk_mib: 128,
            buffer_kib: 256,
            fingerprints: true,
            analyze: true,
        }
    }
}

impl Config {
    /// Reads a config from TOML text; any unknown key or wrong type is an error naming it.
    pub fn from_toml(text: &str) -> Result<Config> {
        let config: Config =
            toml::from_str(text).map_err(|e| Error::config(describe_toml_error(text, &e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a config file.
    pub fn from_file(path: &std::path::Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Config::from_toml(&text).map_err(|e| {
            Error::config(format!(
                "{}: {}",
                path.display(),
                e.to_string().trim_start_matches("config: ")
            ))
        })
    }

    /// Checks values serde cannot check.
    pub fn validate(&self) -> Result<()> {
        if self.copy.jobs == Some(0) {
            return Err(Error::config("copy.jobs must be at least 1"));
        }
        if self.copy.chunk_mib == 0 {
            return Err(Error::config("copy.chunk_mib must be at least 1"));
        }
        if self.copy.buffer_kib < 8 {
            return Err(Error::config("copy.buffer_kib must be at least 8"));
        }
        if self.dsql.max_rows < 2 || self.dsql.max_rows > 3000 {
            return Err(Error::config("dsql.max_rows must be between 2 and 3000"));
        }
        if self.dsql.max_kib < 64 || self.dsql.max_kib > 10 * 1024 {
            return Err(Error::config("dsql.max_kib must be between 64 and 10240"));
        }
        for p in self.tables.include.iter().chain(&self.tables.exclude) {
            TableFilter::check_pattern(p)?;
        }
        let b = &self.blobs;
        if let Some(store) = &b.store {
            StoreUrl::parse(store)?;
        } else if let Some(c) = b.columns.first() {
            return Err(Error::config(format!(
                "blobs.columns names {}.{} but blobs.store is not set",
                c.table, c.column
            )));
        }
        check_template(&b.key_template)?;
        if b.multipart_threshold_mib < 5 || b.multipart_threshold_mib > 5 * 1024 {
            return Err(Error::config(
                "blobs.multipart_threshold_mib must be between 5 and 5120",
            ));
        }
        if b.in_flight_mib == 0 {
            return Err(Error::config("blobs.in_flight_mib must be at least 1"));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &b.columns {
            if !seen.insert((c.table.as_str(), c.column.as_str())) {
                return Err(Error::config(format!(
                    "blobs.columns names {}.{} twice",
                    c.table, c.column
                )));
            }
        }
        Ok(())
    }

    /// The number of workers on the postgres profile: `copy.jobs`, else the number of CPUs.
    /// (On the dsql profile, whose sessions wait on commit latency rather than on the
    /// client's CPUs, an unset `copy.jobs` means more workers: see the README.)
    pub fn jobs(&self) -> usize {
        self.copy.jobs.unwrap_or_else(cpus)
    }
}

/// The number of CPUs this process may use.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// A TOML error in one line: the key at fault as `section.key`, its line, what is wrong, and
/// for an unknown key or value the known one it most resembles (or the known ones).
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return format!("config: {msg}");
    };
    let at = span.start.min(text.len());
    let line = text[..at].matches('\n').count() + 1;
    let key = key_at(text, at);
    for (prefix, what) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        let Some(rest) = msg.strip_prefix(prefix) else {
            continue;
        };
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        // serde lists the known names between backticks: "expected one of `a`, `b`".
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = match nearest(name, &known) {
            Some(k) => format!("; did you mean `{k}`?"),
            None if known.is_empty() => String::new(),
            None => format!("; expected one of {}", known.join(", ")),
        };
        return match (what, key) {
            ("key", Some(k)) => format!("config: unknown key `{k}` (line {line}){hint}"),
            (_, Some(k)) => format!("config: `{k}` (line {line}): unknown {what} `{name}`{hint}"),
            (_, None) => format!("config: unknown {what} `{name}` (line {line}){hint}"),
        };
    }
    match key {
        Some(k) => format!("config: `{k}` (line {line}): {msg}"),
        None => format!("config: {msg} (line {line})"),
    }
}

/// The dotted key (`section.key`) written on the line that holds byte `at`, or the section
/// when that line is a `[section]` header. A line of a value spread over several lines
/// belongs to the nearest key above it.
fn key_at(text: &str, at: usize) -> Option<String> {
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let mut key: Option<String> = None;
    for (i, line) in text[..end].lines().rev().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            let section = line.trim_start_matches('[').split(']').next()?.trim();
            return match key {
                Some(k) => Some(format!("{section}.{k}")),
                None if i == 0 => Some(section.to_string()),
                None => None,
            };
        }
        if key.is_none()
            && let Some((k, _)) = line.split_once('=')
        {
            key = Some(k.trim().trim_matches('"').to_string());
        }
    }
    key
}

/// The known name closest to `name`, if any is close enough to be what was meant.
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml() {
        let c = Config::from_toml(
            "[target]\nprofile = \"postgres\"\n[tables]\ninclude = [\"public.*\"]\n[copy]\njobs = 3\n",
        )
        .unwrap();
        assert_eq!(c.target.profile, Some(Profile::Postgres));
        assert_eq!(c.tables.include, vec!["public.*"]);
        assert_eq!(c.jobs(), 3);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_toml("[copy]\njbos = 3\n").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("unknown key `copy.jbos`"), "{s}");
        assert!(s.contains("line 2"), "{s}");
        assert!(s.ends_with("did you mean `jobs`?"), "{s}");
        assert!(!s.contains('\n'), "{s}");
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        // A misspelt section, and a key like none of the known ones.
        let s = Config::from_toml("[target]\nprofile = \"postgres\"\n[cpoy]\njobs = 3\n")
            .unwrap_err()
            .to_string();
        assert!(s.contains("unknown key `cpoy` (line 3)"), "{s}");
        assert!(s.ends_with("did you mean `copy`?"), "{s}");
        let s = Config::from_toml("[copy]\nzzzz = 1\n")
            .unwrap_err()
            .to_string();
        assert!(s.contains("unknown key `copy.zzzz`"), "{s}");
        assert!(
            s.contains("expected one of") && s.contains("chunk_mib"),
            "{s}"
        );
    }

    #[test]
    fn unknown_value_is_named_with_the_nearest() {
        let s = Config::from_toml("[keys]\nstrategy = \"uuuid\"\n")
            .unwrap_err()
            .to_string();
        assert!(s.contains("`keys.strategy` (line 2)"), "{s}");
        assert!(s.contains("did you mean `uuid`?"), "{s}");
    }

    #[test]
    fn dsql_sections() {
        let c = Config::from_toml(
            "[keys]\nstrategy = \"identity\"\n[foreign_keys]\nmode = \"omit\"\n[types]\narrays = \"text\"\n[dsql]\nwrite = \"insert\"\nmax_rows = 1000\n",
        )
        .unwrap();
        assert_eq!(c.keys.strategy, KeyStrategy::Identity);
        assert_eq!(c.foreign_keys.mode, ForeignKeyMode::Omit);
        assert_eq!(c.types.arrays, ArrayMapping::Text);
        assert_eq!(c.dsql.write, DsqlWrite::Insert);
        let e = Config::from_toml("[dsql]\nmax_rows = 5000\n").unwrap_err();
        assert!(e.to_string().contains("dsql.max_rows"), "{e}");
        let e = Config::from_toml("[keys]\nstrategy = \"serial\"\n").unwrap_err();
        assert!(e.to_string().contains("serial"), "{e}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Config::from_toml("[copy]\njobs = \"four\"\n").unwrap_err();
        assert!(e.to_string().contains("`copy.jobs` (line 2)"), "{e}");
        // A value spread over lines is named by the key above it.
        let e = Config::from_toml("[tables]\ninclude = [\n  \"a\",\n  3,\n]\n").unwrap_err();
        assert!(e.to_string().contains("`tables.include` (line 4)"), "{e}");
    }
}
