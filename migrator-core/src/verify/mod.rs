//! Verification: compares source and target table by table and gives one verdict per
//! table. Counts are exact `count(*)` on both sides, the source's under one snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use crate::Ctx;
use crate::catalog::{self, TableFilter};
use crate::conn::Side;
use crate::copy::snapshot;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink, Stage};
use crate::sql::QualName;

/// How deep verification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyLevel {
    /// Exact row counts on both sides.
    Counts,
}

/// A table's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Source and target agree.
    Match,
    /// The row counts differ.
    CountMismatch,
    /// The table does not exist in the target.
    Missing,
}

/// One table's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TableVerdict {
    pub(crate) table: QualName,
    pub(crate) source_rows: u64,
    pub(crate) target_rows: Option<u64>,
    pub(crate) verdict: Verdict,
}

impl TableVerdict {
    /// The table.
    pub fn table(&self) -> &QualName {
        &self.table
    }
    /// Rows in the source.
    pub fn source_rows(&self) -> u64 {
        self.source_rows
    }
    /// Rows in the target, if the table exists there.
    pub fn target_rows(&self) -> Option<u64> {
        self.target_rows
    }
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub(crate) tables: Vec<TableVerdict>,
    #[serde(serialize_with = "as_secs")]
    pub(crate) elapsed: Duration,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl VerifyReport {
    /// One verdict per table, in name order.
    pub fn tables(&self) -> &[TableVerdict] {
        &self.tables
    }
    /// Whether every table matches.
    pub fn is_clean(&self) -> bool {
        self.tables.iter().all(|t| t.verdict == Verdict::Match)
    }
    /// Wall time.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
    /// The report as one JSON document.
    pub fn to_json(&self) -> String {
        let doc = serde_json::json!({
            "clean": self.is_clean(),
            "tables": self.tables,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
        });
        serde_json::to_string_pretty(&doc).expect("report serializes")
    }
}

/// Compares every selected table of the source with the target.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    _level: VerifyLevel,
    events: EventSink,
) -> Result<VerifyReport> {
    let started = Instant::now();
    events.send(Event::Stage(Stage::Verify));
    let filter = TableFilter::new(&ctx.config.tables)?;
    let coordinator = ctx.source.connect(Side::Source).await?;
    let target = ctx.target.connect(Side::Target).await?;
    crate::state::ensure_distinct(&coordinator, &target).await?;
    drop(target);
    let cat = catalog::load(&coordinator, &filter).await?;
    let mut names: Vec<QualName> = cat.data_tables().map(|t| t.name.clone()).collect();
    names.sort();

    let snapshot = snapshot::export(&coordinator).await?;

    let queue = Arc::new(std::sync::Mutex::new(names.clone()));
    let jobs = ctx.config.jobs().min(names.len()).max(1);
    let mut set = JoinSet::new();
    for _ in 0..jobs {
        let ctx = ctx.clone();
        let queue = queue.clone();
        let snapshot = snapshot.clone();
        let events = events.clone();
        set.spawn(
            async move {
                let source = ctx.source.connect(Side::Source).await?;
                snapshot::import(&source, &snapshot).await?;
                let target = ctx.target.connect(Side::Target).await?;
                let mut out = Vec::new();
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some(t) = next else { break };
                    let span = tracing::info_span!("verify_table", table = %t);
                    let (src, dst) = count_both(&source, &target, &t).instrument(span).await?;
                    let verdict = match dst {
                        None => Verdict::Missing,
                        Some(n) if n == src => Verdict::Match,
                        Some(_) => Verdict::CountMismatch,
                    };
                    events.send(Event::TableVerified {
                        table: t.clone(),
                        verdict,
                    });
                    out.push(TableVerdict {
                        table: t,
                        source_rows: src,
                        target_rows: dst,
                        verdict,
                    });
                }
                Ok::<_, Error>(out)
            }
            .with_current_subscriber(),
        );
    }
    let mut tables = Vec::new();
    while let Some(r) = set.join_next().await {
        tables.extend(r.map_err(|e| Error::internal(format!("verify worker failed: {e}")))??);
    }
    let _ = coordinator.batch_execute("COMMIT").await;
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(VerifyReport {
        tables,
        elapsed: started.elapsed(),
    })
}

/// Exact row counts of a table on both sides; `None` for the target if it lacks the table.
async fn count_both(source: &Client, target: &Client, t: &QualName) -> Result<(u64, Option<u64>)> {
    let count_sql = format!("SELECT count(*) FROM ONLY {}", t.sql());
    let src: i64 = source
        .query_one(&count_sql, &[])
        .await
        .map_err(|e| Error::db(ErrorKind::Source, "counting", e).with_table(t))?
        .get(0);
    let exists: bool = target
        .query_one("SELECT pg_catalog.to_regclass($1) IS NOT NULL", &[&t.sql()])
        .await
        .map_err(|e| Error::db(ErrorKind::Target, "looking up", e).with_table(t))?
        .get(0);
    if !exists {
        return Ok((src as u64, None));
    }
    let dst: i64 = target
        .query_one(&count_sql, &[])
        .await
        .map_err(|e| Error::db(ErrorKind::Target, "counting", e).with_table(t))?
        .get(0);
    Ok((src as u64, Some(dst as u64)))
}
