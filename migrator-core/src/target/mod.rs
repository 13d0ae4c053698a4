//! Target profiles: `postgres` (RDS and any PostgreSQL) and, later, `dsql`. Each profile owns
//! its DDL rendering, its limits and capabilities, and how its sessions are set up for writing.

pub(crate) mod postgres;

use crate::catalog::Catalog;
use crate::config::Profile;
use crate::plan::StepSpec;

/// The schema as DDL steps for `profile`.
pub(crate) fn schema_steps(profile: Profile, cat: &Catalog) -> Vec<StepSpec> {
    match profile {
        Profile::Postgres | Profile::Dsql => postgres::schema_steps(cat),
    }
}

/// The steps that follow the data: sequence values, statistics.
pub(crate) fn data_steps(profile: Profile, cat: &Catalog, data_only: bool) -> Vec<StepSpec> {
    match profile {
        Profile::Postgres | Profile::Dsql => postgres::data_steps(cat, data_only),
    }
}

/// Session settings for a target session that writes rows: commits need not wait for the
/// disk, since a chunk lost to a server crash is lost with its manifest row and redone on
/// resume; the run's last commit is made durable explicitly.
pub(crate) const WRITER_SESSION: &str = "SET synchronous_commit = off";

/// Session settings for a target session that runs DDL. Every name in the rendered DDL is
/// qualified, so the session keeps the server's `search_path` and time zone: functions that
/// run during an index build or a materialized view refresh see what they see in the source.
pub(crate) const DDL_SESSION: &str =
    "SET check_function_bodies = false; SET client_min_messages = warning";
