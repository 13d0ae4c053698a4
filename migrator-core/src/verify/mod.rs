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
use crate::transform::blobs::BlobColumnPlan;

/// How deep verification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyLevel {
    /// Exact row counts on both sides; for values moved to a blob store, the same values
    /// (by SHA-256 and size) on both sides and every object present with that size and,
    /// where the store vouches for one, that SHA-256.
    Counts,
    /// As `Counts`, and every blob object whose SHA-256 the store does not vouch for is
    /// read back and hashed.
    Checksums,
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
    /// Values moved to the blob store differ from the source's, or their objects are
    /// missing or differ.
    BlobMismatch,
}

/// What verify found about a table's values in the blob store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlobCheck {
    pub(crate) objects: u64,
    pub(crate) missing: u64,
    pub(crate) wrong: u64,
    pub(crate) values_differ: bool,
    pub(crate) read_back: u64,
}

impl BlobCheck {
    /// Distinct objects the target's rows name.
    pub fn objects(&self) -> u64 {
        self.objects
    }
    /// Objects the store does not have.
    pub fn missing(&self) -> u64 {
        self.missing
    }
    /// Objects whose size or SHA-256 differ from what the row records.
    pub fn wrong(&self) -> u64 {
        self.wrong
    }
    /// Whether the target rows' (SHA-256, size) differ from the source values'.
    pub fn values_differ(&self) -> bool {
        self.values_differ
    }
    /// Objects read back and hashed (no SHA-256 from the store, or `Checksums`).
    pub fn read_back(&self) -> u64 {
        self.read_back
    }
    fn is_clean(&self) -> bool {
        self.missing == 0 && self.wrong == 0 && !self.values_differ
    }
}

/// One table's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TableVerdict {
    pub(crate) table: QualName,
    pub(crate) source_rows: u64,
    pub(crate) target_rows: Option<u64>,
    /// Rows whose parent is missing, for foreign keys the target does not enforce.
    pub(crate) orphans: Option<u64>,
    /// Values moved to the blob store, where the table has some.
    pub(crate) blobs: Option<BlobCheck>,
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
    /// What was checked of values moved to the blob store (`None`: the table has none).
    pub fn blobs(&self) -> Option<&BlobCheck> {
        self.blobs.as_ref()
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
    level: VerifyLevel,
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
    // Blob columns, by the target table that holds them.
    let mut blob_columns: HashMap<QualName, Vec<BlobColumnPlan>> = HashMap::new();
    for b in crate::transform::blobs::resolve(&cat, &ctx.config.blobs)? {
        for (t, srcs) in &groups {
            let holds = srcs.iter().any(|s| {
                cat.tables
                    .iter()
                    .any(|x| &x.name == s && b.tables.contains(&x.oid))
            });
            if holds {
                blob_columns.entry(t.clone()).or_default().push(b.clone());
            }
        }
    }
    let store = if blob_columns.is_empty() {
        None
    } else {
        crate::blob::open(&ctx.config.blobs).await?
    };
    let blob_columns = Arc::new(blob_columns);

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
        let blob_columns = blob_columns.clone();
        let store = store.clone();
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
                    let blobs = match (blob_columns.get(&t), &store, dst) {
                        (Some(cols), Some(store), Some(_)) => Some(
                            check_blobs(
                                &source,
                                &target,
                                &t,
                                &sources,
                                cols,
                                store.as_ref(),
                                level,
                            )
                            .await?,
                        ),
                        _ => None,
                    };
                    let verdict = match dst {
                        None => Verdict::Missing,
                        Some(n) if n != src => Verdict::CountMismatch,
                        _ if orphan_rows.is_some_and(|n| n > 0) => Verdict::Orphans,
                        _ if blobs.as_ref().is_some_and(|b| !b.is_clean()) => Verdict::BlobMismatch,
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
                        blobs,
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

/// Checks the values of `t` that moved to the blob store: the target rows record the
/// same multiset of (SHA-256, size) as the source's values (NULLs included), and every
/// object they name exists with that size and SHA-256.
#[allow(clippy::too_many_arguments)]
async fn check_blobs(
    source: &Client,
    target: &Client,
    t: &QualName,
    sources: &[QualName],
    columns: &[BlobColumnPlan],
    store: &dyn crate::blob::BlobStore,
    level: VerifyLevel,
) -> Result<BlobCheck> {
    use futures::StreamExt;
    let mut check = BlobCheck::default();
    for b in columns {
        let col = ident(&b.column);
        // The source tables whose rows this target table holds.
        let rows: Vec<String> = sources
            .iter()
            .map(|s| format!("SELECT {col} AS v FROM ONLY {}", s.sql()))
            .collect();
        let src: Vec<(Option<String>, Option<i64>, i64)> = source
            .query(
                &format!(
                    "SELECT encode(sha256(v), 'hex'), octet_length(v)::bigint, count(*) \
                       FROM ({}) AS src GROUP BY 1, 2 ORDER BY 1, 2",
                    rows.join(" UNION ALL ")
                ),
                &[],
            )
            .await
            .map_err(|e| Error::db(ErrorKind::Source, "hashing blob values", e).with_table(t))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let (key, size, sha) = (
            ident(&b.key_column),
            ident(&b.size_column),
            ident(&b.sha256_column),
        );
        let references = |sql: String| async move {
            target.query(&sql, &[]).await.map_err(|e| {
                Error::db(ErrorKind::Target, "reading blob references", e).with_table(t)
            })
        };
        let dst: Vec<(Option<String>, Option<i64>, i64)> = references(format!(
            "SELECT {sha}, {size}, count(*) FROM ONLY {} GROUP BY 1, 2 ORDER BY 1, 2",
            t.sql()
        ))
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        if src != dst {
            check.values_differ = true;
        }
        let objects: Vec<(String, i64, String)> = references(format!(
            "SELECT DISTINCT {key}, {size}, {sha} FROM ONLY {} WHERE {key} IS NOT NULL",
            t.sql()
        ))
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        check.objects += objects.len() as u64;
        let mut results = futures::stream::iter(objects)
            .map(|(key, size, sha)| async move {
                let info = store.head(&key).await?;
                let Some(info) = info else {
                    return Ok::<_, Error>((1u64, 0u64, 0u64));
                };
                if info.size != size as u64 {
                    return Ok((0, 1, 0));
                }
                // The store's own checksum settles it; a recorded one does unless asked
                // to read back; else the object is read and hashed.
                let known = match (info.sha256, info.recorded_sha256) {
                    (Some(h), _) => Some(h),
                    (None, Some(h)) if level == VerifyLevel::Counts => Some(h),
                    _ => None,
                };
                match known {
                    Some(h) => Ok((0, u64::from(hex::encode(h) != sha), 0)),
                    None => {
                        let data = store.get(&key).await?;
                        let h = crate::blob::sha256(&data);
                        Ok((
                            0,
                            u64::from(hex::encode(h) != sha || data.len() as i64 != size),
                            1,
                        ))
                    }
                }
            })
            .buffer_unordered(16);
        while let Some(r) = results.next().await {
            let (missing, wrong, read) = r.map_err(|e| e.with_table(t))?;
            check.missing += missing;
            check.wrong += wrong;
            check.read_back += read;
        }
    }
    Ok(check)
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
