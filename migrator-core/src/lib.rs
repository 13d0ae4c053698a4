//! Migrator's engine: moves a live PostgreSQL database (Neon, Replit, any PostgreSQL) onto
//! Amazon RDS for PostgreSQL or Aurora DSQL under one consistent snapshot, resumable at any
//! point, and proves afterwards that nothing was lost. The `migrator` command is a thin layer
//! over this crate; everything it does, an embedding program can do too.
//!
//! # A migration, step by step
//!
//! 1. **Describe it.** A [`Migration`] is two connection strings and a [`Config`] (what a
//!    `migrator.toml` holds: which tables, how many workers, chunk sizes). Building one
//!    checks them and connects to nothing.
//! 2. **Plan it.** [`Migration::plan`] reads both databases and returns a [`Plan`]: the
//!    tables in copy order with their chunks and COPY format, every DDL step in dependency
//!    order, and [`plan::Finding`]s (an unsupported object, a target that is not empty, a
//!    column that does not match). Planning changes nothing anywhere; a plan with an
//!    error finding cannot be copied.
//! 3. **Copy it.** [`Migration::copy`] creates the schema, copies every chunk under one
//!    source snapshot with `jobs` workers, then builds indexes, constraints and the rest.
//!    It reports [`Event`]s as it goes (enough to draw progress and an ETA) and can be
//!    cancelled at any moment. A chunk's rows commit in the target together with a
//!    manifest row (schema `_migrator`), so calling `copy` again after any interruption,
//!    even a killed process, resumes without losing or doubling a row.
//! 4. **Sync it.** Minutes before cutover, [`Migration::sync`] brings the target up to date
//!    with the source under a new snapshot, moving only the rows that changed since the copy
//!    (found from the fingerprints and row digests the copy stored in the manifest).
//! 5. **Verify it.** [`Migration::verify`] compares source and target table by table; with
//!    [`VerifyLevel::Checksums`] every row, naming the keys that differ.
//!
//! ```no_run
//! use migrator_core::{Config, Event, Migration, VerifyLevel};
//!
//! # async fn run() -> migrator_core::Result<()> {
//! let config = Config::from_toml(r#"
//!     [tables]
//!     exclude = ["public.sessions"]
//!     [copy]
//!     jobs = 4
//! "#)?;
//! let migration = Migration::builder()
//!     .source("postgres://app@old-host/app")
//!     .target("postgres://app@new-host/app?sslmode=verify-full&sslrootcert=rds-ca.pem")
//!     .config(config)
//!     .build()
//!     .await?;
//!
//! let plan = migration.plan().await?;
//! for finding in plan.findings() {
//!     println!("{:?}: {}", finding.severity(), finding.message());
//! }
//!
//! let mut run = migration.copy(&plan);
//! while let Some(event) = run.next_event().await {
//!     match event {
//!         Event::TableDone { table, rows, .. } => println!("{table}: {rows} rows"),
//!         Event::Retry { what, reason, .. } => println!("retrying {what}: {reason}"),
//!         _ => {}
//!     }
//! }
//! let summary = run.finish().await?;
//! println!("{} rows in {:?}", summary.rows, summary.elapsed);
//!
//! let report = migration.verify(VerifyLevel::Counts).await?;
//! assert!(report.is_clean());
//! # Ok(())
//! # }
//! ```
//!
//! # Targets, keys and files
//!
//! The target's profile ([`Profile`], from the host name or [`MigrationBuilder::profile`])
//! decides the DDL and the write path: `postgres` streams COPY per chunk; `dsql` maps what
//! Aurora DSQL lacks, writes in transactions under its limits and turns integer keys into
//! UUIDs as [`KeysConfig`] says ([`key_uuid`] gives the UUID of an old id). With
//! [`BlobsConfig`], `bytea` columns go to S3 or a directory during the copy, on either
//! profile, and the rows keep each object's key, size and SHA-256; `verify` checks them.
//!
//! # Runs, events, cancellation
//!
//! `plan`, `copy`, `sync` and `verify` each return a [`RunHandle`]: `.await` it for the result, or
//! read its [`Event`]s with [`RunHandle::next_event`] and then call
//! [`RunHandle::finish`]. [`RunHandle::cancel`] (or dropping the handle) stops the run
//! within seconds; a cancelled copy leaves the target ready to resume.
//!
//! # Errors
//!
//! Every fallible call returns [`Error`]: one line that names the table, column or option
//! at fault and never contains a password, with an [`ErrorKind`], the table and chunk it
//! concerns, the server's SQLSTATE, and whether retrying can help
//! ([`Error::is_retryable`]). Transient failures inside a run (a dropped connection, a
//! serialization failure) are retried by the engine with backoff and reported as
//! [`Event::Retry`]; only what retrying cannot fix reaches the caller.
//!
//! # Observability
//!
//! Besides events, the engine emits `tracing` spans and events: a `worker` span per copy
//! worker, a `chunk` span (fields `table`, `chunk`) around every chunk, a `step` span (field
//! `id`) around every DDL step, and a `verify_table` span (field `table`). Stages log at
//! `info`, every event at `debug`. Install any subscriber to see them.
//!
//! # The data's path
//!
//! The source modules follow the data: `conn` (connection strings, TLS, sessions),
//! `catalog` (what the source holds, read with the server's own renderers), [`plan`]
//! (what will happen), `target` (each target profile's DDL and rules), `copy` (snapshot,
//! workers, the COPY pipe, post-data steps), `transform` (keys to UUIDs, blob columns),
//! `blob` (the object stores), `state` (the manifest in the target), `sync` (the final
//! catch-up) and [`verify`] (with the row digests both sync and verify compare).

#![deny(missing_docs)]

mod blob;
mod catalog;
mod chunk;
mod config;
mod conn;
mod context;
mod copy;
mod ddl;
mod digest;
mod error;
mod events;
mod faults;
mod findings;
mod frames;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hash;
pub mod plan;
mod retry;
mod snapshot;
mod sql;
mod state;
mod sync;
mod target;
mod transform;
pub mod verify;
mod watermark;

use std::sync::Arc;

/// Aurora DSQL's column types and per-table limits as data, each rule with where it was
/// read: what the `dsql` profile follows, for tools (and the test emulator) that need the
/// same picture.
pub mod dsql {
    pub use crate::target::dsql::types::*;
}
pub use config::{
    ArrayMapping, BlobColumn, BlobNaming, BlobsConfig, ChangeDetection, ChecksumCalculation,
    Config, CopyConfig, DsqlConfig, DsqlWrite, ForeignKeyMode, ForeignKeysConfig, KeyStrategy,
    KeysConfig, Profile, S3Config, SyncConfig, TableSelection, TargetConfig, TypesConfig,
    Watermark,
};
pub use conn::{Endpoint, TlsMode};
pub use copy::CopySummary;
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, RunHandle, Stage};
pub use plan::Plan;
pub use sql::QualName;
pub use sync::SyncSummary;
/// The `uuid` crate, whose `Uuid` appears in [`KeysConfig::namespace`] and [`key_uuid`].
pub use uuid;
pub use verify::{VerifyLevel, VerifyReport};

pub(crate) use context::Ctx;

/// The UUID that `keys.strategy = "uuid"` gives integer key `key` of `key_space`, for an
/// application that must translate old ids kept outside the database (URLs, other systems,
/// JSON documents, caches).
///
/// `key_space` is the one `plan` names for the column (`integer key stored as UUIDv5 of
/// "public.users:<key>"` names `public.users`): a table's single-column primary key, and
/// every foreign key column that leads to it, share the table's key space. `namespace` is
/// `keys.namespace` (`None`: the fixed default).
///
/// ```
/// let id = migrator_core::key_uuid(None, "public.users", 42);
/// assert_eq!(id.get_version_num(), 5);
/// assert_eq!(id, migrator_core::key_uuid(None, "public.users", 42));
/// assert_ne!(id, migrator_core::key_uuid(None, "public.orders", 42));
/// ```
pub fn key_uuid(namespace: Option<uuid::Uuid>, key_space: &str, key: i64) -> uuid::Uuid {
    let ns = namespace.unwrap_or_else(transform::keys::default_namespace);
    transform::keys::key_uuid(&ns, &format!("{key_space}:"), key)
}

/// A migration from one source database to one target database.
#[derive(Clone)]
pub struct Migration {
    ctx: Arc<Ctx>,
}

/// Builds a [`Migration`].
#[derive(Debug, Default)]
pub struct MigrationBuilder {
    source: Option<String>,
    target: Option<String>,
    config: Config,
    profile: Option<Profile>,
    data_only: bool,
    restart: bool,
    strict: bool,
}

impl MigrationBuilder {
    /// The source connection string (libpq URL or `key=value` form).
    pub fn source(mut self, url: impl Into<String>) -> Self {
        self.source = Some(url.into());
        self
    }

    /// The target connection string.
    pub fn target(mut self, url: impl Into<String>) -> Self {
        self.target = Some(url.into());
        self
    }

    /// The configuration (what a `--config` TOML file holds).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The target profile; overrides the config and the host-name default.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    /// Load into an existing schema (made by the application's own migrations) instead of
    /// creating it.
    pub fn data_only(mut self, yes: bool) -> Self {
        self.data_only = yes;
        self
    }

    /// Discard what an earlier, unfinished run left in the target and start over.
    pub fn restart(mut self, yes: bool) -> Self {
        self.restart = yes;
        self
    }

    /// Make every type or feature mapping an error instead of a warning (for a target
    /// profile that maps things, such as DSQL).
    pub fn strict(mut self, yes: bool) -> Self {
        self.strict = yes;
        self
    }

    /// Checks the URLs and the configuration. Connects to nothing.
    pub async fn build(self) -> Result<Migration> {
        let source_url = self
            .source
            .ok_or_else(|| Error::config("no source given (--source or SOURCE_DATABASE_URL)"))?;
        let target_url = self
            .target
            .ok_or_else(|| Error::config("no target given (--target or TARGET_DATABASE_URL)"))?;
        let source =
            Endpoint::parse(&source_url).map_err(|e| Error::config(format!("source: {e}")))?;
        let target =
            Endpoint::parse(&target_url).map_err(|e| Error::config(format!("target: {e}")))?;
        self.config.validate()?;
        if source.is_pooler() {
            return Err(Error::config(format!(
                "source host {} is a connection pooler, which cannot share one snapshot between \
                 connections: use the direct host (without '-pooler')",
                source.host().unwrap_or_default()
            )));
        }
        let profile = self
            .profile
            .or(self.config.target.profile)
            .unwrap_or(if target.is_dsql() {
                Profile::Dsql
            } else {
                Profile::Postgres
            });
        let rules = target::Rules::of(profile, &self.config);
        Ok(Migration {
            ctx: Arc::new(Ctx {
                source,
                target,
                pace: rules.max_new_sessions_per_second.map(context::Pace::new),
                rules,
                config: self.config,
                profile,
                data_only: self.data_only,
                restart: self.restart,
                strict: self.strict,
            }),
        })
    }
}

impl Migration {
    /// Starts building a migration.
    pub fn builder() -> MigrationBuilder {
        MigrationBuilder::default()
    }

    /// The source, as a URL without the password.
    pub fn source_display(&self) -> String {
        self.ctx.source.redacted()
    }

    /// The target, as a URL without the password.
    pub fn target_display(&self) -> String {
        self.ctx.target.redacted()
    }

    /// The target profile in use.
    pub fn profile(&self) -> Profile {
        self.ctx.profile
    }

    /// Reads both sides and says what a copy would do. Changes nothing anywhere.
    pub fn plan(&self) -> RunHandle<Plan> {
        let ctx = self.ctx.clone();
        RunHandle::spawn(move |events, cancel| async move {
            tokio::select! {
                plan = plan::run(ctx, events) => plan,
                _ = cancel.cancelled() => Err(Error::new(ErrorKind::Cancelled, "cancelled")),
            }
        })
    }

    /// Starts copying per `plan`: schema (unless data-only), data, then indexes,
    /// constraints and the rest. Re-running after any interruption resumes.
    pub fn copy(&self, plan: &Plan) -> RunHandle<CopySummary> {
        let ctx = self.ctx.clone();
        let plan = plan.clone();
        let restart = ctx.restart;
        RunHandle::spawn(move |events, cancel| copy::run(ctx, plan, restart, events, cancel))
    }

    /// Brings a target that [`Migration::copy`] filled up to date with the source: only
    /// the chunks whose rows changed since (and key ranges past each table's old end) are
    /// compared with the target, and only the rows that differ are written. Re-running
    /// after an interruption finishes it.
    pub fn sync(&self, plan: &Plan) -> RunHandle<SyncSummary> {
        let ctx = self.ctx.clone();
        let plan = plan.clone();
        RunHandle::spawn(move |events, cancel| sync::run(ctx, plan, events, cancel))
    }

    /// Compares source and target, one verdict per table.
    pub fn verify(&self, level: VerifyLevel) -> RunHandle<VerifyReport> {
        let ctx = self.ctx.clone();
        RunHandle::spawn(move |events, cancel| async move {
            tokio::select! {
                report = verify::run(ctx, level, events) => report,
                _ = cancel.cancelled() => Err(Error::new(ErrorKind::Cancelled, "cancelled")),
            }
        })
    }
}
