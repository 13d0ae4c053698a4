//! Migrator's engine: moves a live PostgreSQL database (Neon, Replit, any PostgreSQL) onto
//! Amazon RDS for PostgreSQL or Aurora DSQL, under one consistent snapshot, resumable at any
//! point, and proves afterwards that nothing was lost.
//!
//! ```no_run
//! # async fn run() -> migrator_core::Result<()> {
//! use migrator_core::{Event, Migration, VerifyLevel};
//!
//! let migration = Migration::builder()
//!     .source("postgres://app@old-host/app")
//!     .target("postgres://app@new-host/app?sslmode=verify-full")
//!     .build()
//!     .await?;
//! let plan = migration.plan().await?;
//! let mut run = migration.copy(&plan);
//! while let Some(event) = run.next_event().await {
//!     if let Event::TableDone { table, rows } = event {
//!         println!("{table}: {rows} rows");
//!     }
//! }
//! let summary = run.finish().await?;
//! let report = migration.verify(VerifyLevel::Counts).await?;
//! assert!(report.is_clean());
//! # let _ = summary;
//! # Ok(())
//! # }
//! ```
//!
//! The data's path is the module layout: [`conn`] (connections), `catalog` (what the source
//! holds), [`plan`] (what will happen), `target` (each target profile's DDL and rules),
//! `copy` (the engine), `state` (the manifest in the target), [`verify`].

mod catalog;
mod config;
pub mod conn;
mod copy;
mod error;
mod events;
pub mod plan;
mod retry;
mod sql;
mod state;
mod target;
pub mod verify;

use std::sync::Arc;

pub use catalog::TableFilter;
pub use config::{Config, CopyConfig, Profile, TableSelection, TargetConfig};
pub use conn::Endpoint;
pub use copy::CopySummary;
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, RunHandle, Stage};
pub use plan::Plan;
pub use sql::QualName;
pub use verify::{VerifyLevel, VerifyReport};

use conn::Side;

/// What every stage of a migration shares.
pub(crate) struct Ctx {
    pub source: Endpoint,
    pub target: Endpoint,
    pub config: Config,
    pub profile: Profile,
    pub data_only: bool,
    pub restart: bool,
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
        if profile == Profile::Dsql {
            return Err(Error::config(
                "the dsql profile is not available in this version of Migrator",
            ));
        }
        Ok(Migration {
            ctx: Arc::new(Ctx {
                source,
                target,
                config: self.config,
                profile,
                data_only: self.data_only,
                restart: self.restart,
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
    pub async fn plan(&self) -> Result<Plan> {
        let ctx = &self.ctx;
        let filter = TableFilter::new(&ctx.config.tables)?;
        let source = ctx.source.connect(Side::Source).await?;
        let target = ctx.target.connect(Side::Target).await?;
        state::ensure_distinct(&source, &target).await?;
        let cat = catalog::load(&source, &filter).await?;
        let tinfo = state::inspect(&target, &cat, ctx.data_only).await?;
        let mut plan = plan::build(
            &source,
            plan::PlanInput {
                cat: &cat,
                target: &tinfo,
                config: &ctx.config,
                profile: ctx.profile,
                data_only: ctx.data_only,
                source: plan::ServerInfo {
                    url: ctx.source.redacted(),
                    version: cat.server_version.clone(),
                    database: cat.database.clone(),
                },
                target_server: plan::ServerInfo {
                    url: ctx.target.redacted(),
                    version: tinfo.version.clone(),
                    database: tinfo.database.clone(),
                },
            },
        )
        .await?;
        if ctx.restart {
            // What --restart will discard is not in the way.
            plan.resume = None;
        }
        Ok(plan)
    }

    /// Starts copying per `plan`: schema (unless data-only), data, then indexes,
    /// constraints and the rest. Re-running after any interruption resumes.
    pub fn copy(&self, plan: &Plan) -> RunHandle<CopySummary> {
        let ctx = self.ctx.clone();
        let plan = plan.clone();
        let restart = ctx.restart;
        RunHandle::spawn(move |events, cancel| copy::run(ctx, plan, restart, events, cancel))
    }

    /// Compares source and target.
    pub async fn verify(&self, level: VerifyLevel) -> Result<VerifyReport> {
        verify::run(self.ctx.clone(), level).await
    }
}
