//! Verification: compares source and target table by table and gives one verdict per
//! table. Counts are exact `count(*)` on both sides, the source's under one snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use crate::Ctx;
use crate::catalog::{self, TableFilter};
use crate::config::Profile;
use crate::context::Purpose;
use crate::copy::snapshot;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink, Stage};
use crate::sql::{QualName, ident};

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
    /// Rows point at missing parents through a foreign key the target does not enforce.
    Orphans,
}

/// One table's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TableVerdict {
    pub(crate) table: QualName,
    pub(crate) source_rows: u64,
    pub(crate) target_rows: Option<u64>,
    /// Rows whose parent is missing, for foreign keys the target does not enforce.
    pub(crate) orphans: Option<u64>,
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
    /// Rows whose parent row is missing (only for foreign keys the target does not
    /// enforce; `None` where there are none to check).
    pub fn orphans(&self) -> Option<u64> {
        self.orphans
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
    let coordinator = ctx.source_session().await?;
    let target = ctx.target_session(Purpose::Plain).await?;
    crate::state::ensure_distinct(&coordinator, &target).await?;
    let cat = catalog::load(&coordinator, &filter).await?;
    // Each target table and the source tables whose rows it holds (a DSQL target holds a
    // partitioned table's partitions in one table).
    let mut groups: BTreeMap<QualName, Vec<QualName>> = BTreeMap::new();
    for t in cat.data_tables() {
        let target_name = match ctx.profile {
            Profile::Dsql => {
                let mut root = t;
                while let Some(parent) = root.partition_of.as_ref().and_then(|(p, _)| cat.table(*p))
                {
                    root = parent;
                }
                root.name.clone()
            }
            _ => t.name.clone(),
        };
        groups.entry(target_name).or_default().push(t.name.clone());
    }
    let orphans = orphan_counts(&target).await?;
    drop(target);

    let snapshot = snapshot::export(&coordinator).await?;
    let work: Vec<(QualName, Vec<QualName>)> = groups.into_iter().collect();
    let jobs = ctx.config.jobs().min(work.len()).max(1);
    let queue = Arc::new(std::sync::Mutex::new(work));
    let orphans = Arc::new(orphans);
    let mut set = JoinSet::new();
    for _ in 0..jobs {
        let ctx = ctx.clone();
        let queue = queue.clone();
        let snapshot = snapshot.clone();
        let events = events.clone();
        let orphans = orphans.clone();
        set.spawn(
            async move {
                let source = ctx.source_session().await?;
                snapshot::import(&source, &snapshot).await?;
                let target = ctx.target_session(Purpose::Plain).await?;
                let mut out = Vec::new();
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some((t, sources)) = next else { break };
                    let span = tracing::info_span!("verify_table", table = %t);
                    let (src, dst) = count_both(&source, &target, &t, &sources)
                        .instrument(span)
                        .await?;
                    let orphan_rows = orphans.get(&t).copied();
                    let verdict = match dst {
                        None => Verdict::Missing,
                        Some(n) if n != src => Verdict::CountMismatch,
                        _ if orphan_rows.is_some_and(|n| n > 0) => Verdict::Orphans,
                        _ => Verdict::Match,
                    };
                    events.send(Event::TableVerified {
                        table: t.clone(),
                        verdict,
                    });
                    out.push(TableVerdict {
                        table: t,
                        source_rows: src,
                        target_rows: dst,
                        orphans: orphan_rows,
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

/// For foreign keys the target does not have (recorded in the manifest when omitted), the
/// number of child rows per table whose parent is missing.
async fn orphan_counts(target: &Client) -> Result<HashMap<QualName, u64>> {
    let err = |e| Error::db(ErrorKind::Target, "looking for orphans", e);
    let mut out: HashMap<QualName, u64> = HashMap::new();
    let has: bool = target
        .query_one(
            "SELECT pg_catalog.to_regclass('_migrator.foreign_key') IS NOT NULL",
            &[],
        )
        .await
        .map_err(err)?
        .get(0);
    if !has {
        return Ok(out);
    }
    let fks = target
        .query(
            "SELECT child, columns, parent, parent_columns FROM _migrator.foreign_key",
            &[],
        )
        .await
        .map_err(err)?;
    for fk in fks {
        let child = QualName::parse(&fk.get::<_, String>(0));
        let parent = QualName::parse(&fk.get::<_, String>(2));
        let cols: Vec<String> = serde_json::from_str(&fk.get::<_, String>(1)).unwrap_or_default();
        let pcols: Vec<String> = serde_json::from_str(&fk.get::<_, String>(3)).unwrap_or_default();
        let c: Vec<String> = cols.iter().map(|c| format!("c.{}", ident(c))).collect();
        let p: Vec<String> = pcols.iter().map(|c| format!("p.{}", ident(c))).collect();
        let not_null: Vec<String> = c.iter().map(|c| format!("{c} IS NOT NULL")).collect();
        let sql = format!(
            "SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE ({}) = ({}))",
            child.sql(),
            not_null.join(" AND "),
            parent.sql(),
            p.join(", "),
            c.join(", ")
        );
        let n: i64 = target.query_one(&sql, &[]).await.map_err(err)?.get(0);
        *out.entry(child).or_default() += n as u64;
    }
    Ok(out)
}

/// Exact row counts: the source tables' sum and the target table's; `None` for the target
/// if it lacks the table.
async fn count_both(
    source: &Client,
    target: &Client,
    t: &QualName,
    sources: &[QualName],
) -> Result<(u64, Option<u64>)> {
    let mut src: i64 = 0;
    for s in sources {
        let n: i64 = source
            .query_one(&format!("SELECT count(*) FROM ONLY {}", s.sql()), &[])
            .await
            .map_err(|e| Error::db(ErrorKind::Source, "counting", e).with_table(s))?
            .get(0);
        src += n;
    }
    let count_sql = format!("SELECT count(*) FROM ONLY {}", t.sql());
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
