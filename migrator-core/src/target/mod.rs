//! Target profiles: `postgres` (RDS and any PostgreSQL) and `dsql` (Aurora DSQL). Each
//! profile owns its DDL rendering and its rules; [`Rules`] is the one place that knows each
//! profile's limits and session settings.

pub(crate) mod dsql;
pub(crate) mod postgres;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio_postgres::Client;

use crate::catalog::Catalog;
use crate::config::{Config, Profile};
use crate::ddl::StepSpec;
use crate::error::{Error, ErrorKind, Result};

/// What a profile allows and needs.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// A transaction may hold one DDL statement and no DML with it.
    pub one_ddl_per_transaction: bool,
    /// Modified rows per transaction, the manifest's rows included.
    pub max_rows: Option<u32>,
    /// Modified bytes per transaction, secondary index entries included.
    pub max_bytes: Option<u64>,
    /// Session-level advisory locks exist (else the run lock is a lease row).
    pub advisory_locks: bool,
    /// Run on every target session.
    pub session_setup: &'static str,
    /// Run on sessions that write rows.
    pub writer_setup: &'static str,
    /// Run on sessions that run DDL.
    pub ddl_setup: &'static str,
    /// Output settings that make values print the same as the source prints them (for
    /// comparing rows as text).
    pub compare_setup: &'static str,
    /// Sessions are replaced before this age.
    pub max_session_age: Option<Duration>,
    /// New sessions are opened no faster than this many a second.
    pub max_new_sessions_per_second: Option<u32>,
    /// Workers when `copy.jobs` is not set (`None`: the number of CPUs).
    pub default_jobs: Option<usize>,
}

impl Rules {
    pub fn of(profile: Profile, config: &Config) -> Rules {
        match profile {
            Profile::Dsql => Rules {
                one_ddl_per_transaction: true,
                max_rows: Some(config.dsql.max_rows),
                max_bytes: Some(config.dsql.max_kib * 1024),
                advisory_locks: false,
                // DSQL accepts only a few session parameters, none of these.
                session_setup: "",
                writer_setup: "",
                ddl_setup: "",
                // Not bytea_output, which DSQL does not let a session set: it prints hex.
                compare_setup: crate::conn::CANONICAL_OUTPUT,
                // DSQL closes connections after 60 minutes.
                max_session_age: Some(Duration::from_secs(config.dsql.max_session_seconds)),
                max_new_sessions_per_second: Some(dsql::types::MAX_CONNECTION_RATE.value as u32),
                default_jobs: Some(dsql::default_jobs(crate::config::cpus())),
            },
            _ => Rules {
                one_ddl_per_transaction: false,
                max_rows: None,
                max_bytes: None,
                advisory_locks: true,
                session_setup: "SET statement_timeout = 0; SET lock_timeout = 0; \
                     SET idle_in_transaction_session_timeout = 0",
                // A chunk lost to a server crash is lost with its manifest row and redone on
                // resume, so commits need not wait for the disk; the run's last commit is
                // made durable explicitly.
                writer_setup: "SET synchronous_commit = off",
                // Every name in the rendered DDL is qualified, so the session keeps the
                // server's search_path and time zone: functions that run during an index build
                // or a materialized view refresh see what they see in the source.
                ddl_setup: "SET check_function_bodies = false; SET client_min_messages = warning",
                compare_setup: crate::conn::CANONICAL_FORMAT,
                max_session_age: None,
                max_new_sessions_per_second: None,
                default_jobs: None,
            },
        }
    }

    /// Whether writes are cut into batches under per-transaction limits.
    pub fn batched(&self) -> bool {
        self.max_rows.is_some()
    }
}

/// The schema as DDL steps, for the postgres profile (the DSQL profile renders through
/// [`dsql::render`], which also decides how each table's rows are mapped).
pub(crate) fn schema_steps(cat: &Catalog) -> Vec<StepSpec> {
    postgres::schema_steps(cat)
}

/// The steps that follow the data for the postgres profile: sequence values, statistics.
pub(crate) fn data_steps(cat: &Catalog, data_only: bool) -> Vec<StepSpec> {
    postgres::data_steps(cat, data_only)
}

/// Each table's level in the target's foreign-key graph (`names`: the tables as the target
/// names them): 0 for a table that references none of the others, else one more than its
/// highest parent; tables in a foreign-key cycle share the level above all others.
pub(crate) async fn fk_levels(control: &Client, names: &[String]) -> Result<Vec<usize>> {
    let rows = control
        .query(
            "SELECT cn.nspname || '.' || cr.relname, fn.nspname || '.' || fr.relname \
             FROM pg_catalog.pg_constraint c \
             JOIN pg_catalog.pg_class cr ON cr.oid = c.conrelid \
             JOIN pg_catalog.pg_namespace cn ON cn.oid = cr.relnamespace \
             JOIN pg_catalog.pg_class fr ON fr.oid = c.confrelid \
             JOIN pg_catalog.pg_namespace fn ON fn.oid = fr.relnamespace \
             WHERE c.contype = 'f' AND c.conrelid <> c.confrelid",
            &[],
        )
        .await
        .map_err(|e| Error::db(ErrorKind::Target, "reading target foreign keys", e))?;
    let mut parents: HashMap<usize, HashSet<usize>> = HashMap::new();
    for r in rows {
        let (child, parent): (String, String) = (r.get(0), r.get(1));
        // Several tables may share a target name (partitions merged into one table).
        for c in (0..names.len()).filter(|&i| names[i] == child) {
            for p in (0..names.len()).filter(|&i| names[i] == parent) {
                parents.entry(c).or_default().insert(p);
            }
        }
    }
    let mut level = vec![usize::MAX; names.len()];
    for _ in 0..=names.len() {
        let mut changed = false;
        for i in 0..names.len() {
            let l = parents
                .get(&i)
                .map(|ps| ps.iter().map(|p| level[*p]).max().unwrap_or(0))
                .map(|m| if m == usize::MAX { usize::MAX } else { m + 1 })
                .unwrap_or(0);
            if l != usize::MAX && l != level[i] {
                level[i] = l;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Tables in a foreign-key cycle load last, together.
    let top = level
        .iter()
        .filter(|l| **l != usize::MAX)
        .max()
        .copied()
        .unwrap_or(0);
    for l in level.iter_mut() {
        if *l == usize::MAX {
            *l = top + 1;
        }
    }
    Ok(level)
}
