//! Verification: compares source and target table by table and gives one verdict per
//! table. Counts are exact `count(*)` on both sides, the source's under one snapshot; with
//! checksums, every row is compared through `digest`; blob objects, orphans where foreign
//! keys were omitted, and sequences are checked too.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use crate::Ctx;
use crate::context::Purpose;
use crate::digest;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink, Stage};
use crate::plan::TablePlan;
use crate::snapshot;
use crate::sql::{QualName, ident};
use crate::transform::blobs::BlobColumnPlan;

/// How deep verification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyLevel {
    /// Exact row counts on both sides; sequences past their column's largest value; for values moved to a blob store, the same values
    /// (by SHA-256 and size) on both sides and every object present with that size and,
    /// where the store vouches for one, that SHA-256.
    Counts,
    /// As `Counts`, and every row compared: a hash of each source row as the target should
    /// hold it (through the plan's type mappings, key rewriting and blob references)
    /// against a hash of the target row, by primary key, so differing rows are named; and
    /// every blob object whose SHA-256 the store does not vouch for is read back and hashed.
    Checksums,
}

pub use crate::events::Verdict;

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
    /// Rows compared (`--checksums`).
    pub(crate) rows: Option<RowCheck>,
    /// Sequences not past their column's largest value.
    pub(crate) sequences: Vec<SequenceBehind>,
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
    /// What comparing rows found (`None` unless verified with checksums).
    pub fn rows(&self) -> Option<&RowCheck> {
        self.rows.as_ref()
    }
    /// The target's sequences that are not past the largest value of their column.
    pub fn sequences_behind(&self) -> &[SequenceBehind] {
        &self.sequences
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
    #[serde(skip)]
    pub(crate) level: VerifyLevel,
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
    /// How deep it went.
    pub fn level(&self) -> VerifyLevel {
        self.level
    }
    /// The report as one JSON document.
    pub fn to_json(&self) -> String {
        let doc = serde_json::json!({
            "clean": self.is_clean(),
            "checksums": self.level == VerifyLevel::Checksums,
            "tables": self.tables,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
        });
        serde_json::to_string_pretty(&doc).expect("report serializes")
    }
}

/// What comparing rows found in one table (`--checksums`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RowCheck {
    pub(crate) changed: u64,
    pub(crate) missing: u64,
    pub(crate) extra: u64,
    pub(crate) unkeyed: u64,
    /// The first differing keys, as `column=value` lists.
    pub(crate) keys: Vec<String>,
}

/// How many differing keys a report lists per table.
const KEYS_LISTED: usize = 20;

impl RowCheck {
    /// Rows both sides hold (same primary key) with different values.
    pub fn changed(&self) -> u64 {
        self.changed
    }
    /// Source rows the target lacks.
    pub fn missing(&self) -> u64 {
        self.missing
    }
    /// Target rows the source lacks.
    pub fn extra(&self) -> u64 {
        self.extra
    }
    /// Differing rows of a table without a primary key (which no key can name).
    pub fn unkeyed(&self) -> u64 {
        self.unkeyed
    }
    /// The first differing rows' keys (`id=42`; a target-only row by its target key), at
    /// most 20.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
    fn is_clean(&self) -> bool {
        self.changed == 0 && self.missing == 0 && self.extra == 0 && self.unkeyed == 0
    }
    fn add(&mut self, d: digest::RowDiff, key: &[String]) {
        let name = |k: &Vec<String>, tag: &str| {
            let parts: Vec<String> = key.iter().zip(k).map(|(c, v)| format!("{c}={v}")).collect();
            format!("{} ({tag})", parts.join(", "))
        };
        self.changed += d.changed.len() as u64;
        self.missing += d.missing.len() as u64;
        self.extra += d.extra.len() as u64;
        self.unkeyed += d.unkeyed;
        // The lowest keys first (shorter before longer, so 7 before 10), whatever order
        // the rows were read in.
        let mut listed: Vec<(String, String)> = [
            (&d.changed, "differs"),
            (&d.missing, "missing in target"),
            (&d.extra, "only in target"),
        ]
        .into_iter()
        .flat_map(|(list, tag)| {
            list.iter().map(move |k| {
                let order: Vec<String> = k.iter().map(|v| format!("{:08}{v}", v.len())).collect();
                (order.join("\u{0}"), name(k, tag))
            })
        })
        .collect();
        listed.sort();
        for (_, named) in listed {
            if self.keys.len() < KEYS_LISTED {
                self.keys.push(named);
            }
        }
    }
}

/// A sequence (or identity) of the target that is not past the largest value of its column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceBehind {
    pub(crate) sequence: String,
    pub(crate) column: String,
    pub(crate) last_value: i64,
    pub(crate) max_value: i64,
}

impl SequenceBehind {
    /// The sequence.
    pub fn sequence(&self) -> &str {
        &self.sequence
    }
    /// The column it fills.
    pub fn column(&self) -> &str {
        &self.column
    }
    /// Its last value (the next insert gets a larger one).
    pub fn last_value(&self) -> i64 {
        self.last_value
    }
    /// The column's largest value.
    pub fn max_value(&self) -> i64 {
        self.max_value
    }
}

/// One job of a verify worker.
enum Job {
    /// Counts, orphans, blobs and sequences of a target table.
    Table(QualName, Vec<usize>),
    /// The rows of one unit.
    Rows(QualName, usize, digest::Unit),
}

/// What a job found.
enum Found {
    Table {
        table: QualName,
        source_rows: u64,
        target_rows: Option<u64>,
        blobs: Option<BlobCheck>,
        sequences: Vec<SequenceBehind>,
    },
    Rows(QualName, usize, digest::RowDiff),
}

/// Compares every selected table of the source with the target.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    level: VerifyLevel,
    events: EventSink,
) -> Result<VerifyReport> {
    let started = Instant::now();
    events.send(Event::Stage(Stage::Verify));
    let coordinator = ctx.source_compare_session().await?;
    let target = ctx.target_session(Purpose::Plain).await?;
    crate::state::ensure_distinct(&coordinator, &target).await?;
    let manifest = crate::state::load(&target).await?;
    let data_only = manifest.as_ref().is_some_and(|m| m.data_only);
    // The snapshot first: the plan's chunks and every count and digest read the same rows.
    let snapshot = snapshot::export(&coordinator).await?;
    let (plan, cat) = crate::plan::for_sessions(&ctx, &coordinator, &target, data_only).await?;
    let namespace = manifest
        .as_ref()
        .and_then(|m| m.key_namespace.as_deref())
        .and_then(|n| uuid::Uuid::parse_str(n).ok())
        .or(plan.key_namespace);
    let tables = Arc::new(plan.tables.clone());
    // Each target table and the source tables whose rows it holds (a DSQL target holds a
    // partitioned table's partitions in one table).
    let mut groups: BTreeMap<QualName, Vec<usize>> = BTreeMap::new();
    for (i, t) in tables.iter().enumerate() {
        groups.entry(t.target.clone()).or_default().push(i);
    }
    let orphans = orphan_counts(&target).await?;
    drop(target);
    // Blob columns, by the target table that holds them.
    let mut blob_columns: HashMap<QualName, Vec<BlobColumnPlan>> = HashMap::new();
    for b in crate::transform::blobs::resolve(&cat, &ctx.config.blobs)? {
        for (t, idxs) in &groups {
            let holds = idxs.iter().any(|&i| {
                cat.tables
                    .iter()
                    .any(|x| x.name == tables[i].name && b.tables.contains(&x.oid))
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
    let names = Arc::new(digest::BlobNames::of(&ctx.config.blobs)?);

    let mut work: Vec<Job> = Vec::new();
    for (t, idxs) in &groups {
        work.push(Job::Table(t.clone(), idxs.clone()));
        if level == VerifyLevel::Checksums {
            for (i, unit) in units(&tables, t, idxs).into_iter().enumerate() {
                work.push(Job::Rows(t.clone(), i, unit));
            }
        }
    }
    work.reverse();
    let jobs = ctx.jobs().min(work.len()).max(1);
    let queue = Arc::new(std::sync::Mutex::new(work));
    let mut set = JoinSet::new();
    for _ in 0..jobs {
        let ctx = ctx.clone();
        let queue = queue.clone();
        let snapshot = snapshot.clone();
        let blob_columns = blob_columns.clone();
        let store = store.clone();
        let tables = tables.clone();
        let names = names.clone();
        set.spawn(
            async move {
                let source = ctx.source_compare_session().await?;
                snapshot::import(&source, &snapshot).await?;
                let target = ctx.target_session(Purpose::Compare).await?;
                let mut out = Vec::new();
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some(job) = next else { break };
                    match job {
                        Job::Table(t, idxs) => {
                            let span = tracing::info_span!("verify_table", table = %t);
                            let sources: Vec<QualName> =
                                idxs.iter().map(|&i| tables[i].name.clone()).collect();
                            let (src, dst) = count_both(&source, &target, &t, &sources)
                                .instrument(span)
                                .await?;
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
                            let sequences = match dst {
                                Some(_) => sequences_behind(&target, &t).await?,
                                None => Vec::new(),
                            };
                            out.push(Found::Table {
                                table: t,
                                source_rows: src,
                                target_rows: dst,
                                blobs,
                                sequences,
                            });
                        }
                        Job::Rows(t, no, unit) => {
                            let exists: bool = target
                                .query_one(
                                    "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                                    &[&t.sql()],
                                )
                                .await
                                .map_err(|e| {
                                    Error::db(ErrorKind::Target, "looking up", e).with_table(&t)
                                })?
                                .get(0);
                            if !exists {
                                continue;
                            }
                            let span = tracing::info_span!("verify_rows", table = %t);
                            let d = digest::diff(
                                &source,
                                &target,
                                &tables,
                                &unit,
                                &names,
                                namespace.as_ref(),
                            )
                            .instrument(span)
                            .await?;
                            out.push(Found::Rows(t, no, d));
                        }
                    }
                }
                Ok::<_, Error>(out)
            }
            .with_current_subscriber(),
        );
    }
    let mut found = Vec::new();
    while let Some(r) = set.join_next().await {
        found.extend(r.map_err(|e| Error::internal(format!("verify worker failed: {e}")))??);
    }
    let _ = coordinator.batch_execute("COMMIT").await;

    // Units in key order, so the keys listed are the lowest that differ.
    found.sort_by_key(|f| match f {
        Found::Rows(t, no, _) => Some((t.clone(), *no)),
        Found::Table { .. } => None,
    });
    let mut rows: HashMap<QualName, RowCheck> = HashMap::new();
    let mut out = Vec::new();
    for f in &mut found {
        if let Found::Rows(t, _, d) = f {
            let key = groups
                .get(t)
                .and_then(|i| i.first())
                .map(|&i| tables[i].key.clone())
                .unwrap_or_default();
            rows.entry(t.clone())
                .or_default()
                .add(std::mem::take(d), &key);
        }
    }
    for f in found {
        let Found::Table {
            table,
            source_rows,
            target_rows,
            blobs,
            sequences,
        } = f
        else {
            continue;
        };
        let orphan_rows = orphans.get(&table).copied();
        let row_check = match (level, target_rows) {
            (VerifyLevel::Checksums, Some(_)) => Some(rows.remove(&table).unwrap_or_default()),
            _ => None,
        };
        let verdict = match target_rows {
            None => Verdict::Missing,
            Some(n) if n != source_rows => Verdict::CountMismatch,
            _ if row_check.as_ref().is_some_and(|r| !r.is_clean()) => Verdict::ContentMismatch,
            _ if orphan_rows.is_some_and(|n| n > 0) => Verdict::Orphans,
            _ if blobs.as_ref().is_some_and(|b| !b.is_clean()) => Verdict::BlobMismatch,
            _ if !sequences.is_empty() => Verdict::SequenceBehind,
            _ => Verdict::Match,
        };
        events.send(Event::TableVerified {
            table: table.clone(),
            verdict,
        });
        out.push(TableVerdict {
            table,
            source_rows,
            target_rows,
            orphans: orphan_rows,
            blobs,
            rows: row_check,
            sequences,
            verdict,
        });
    }
    out.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(VerifyReport {
        tables: out,
        level,
        elapsed: started.elapsed(),
    })
}

/// How a target table's rows are compared: by key range where both sides can select the
/// same range (a single source table whose integer key the target keeps), else whole.
pub(crate) fn units(tables: &[TablePlan], target: &QualName, idxs: &[usize]) -> Vec<digest::Unit> {
    if let [i] = idxs
        && digest::range_column(&tables[*i]).is_some()
    {
        let t = &tables[*i];
        return t
            .chunks
            .iter()
            .map(|c| {
                let conditions = digest::chunk_conditions(t, c);
                digest::Unit {
                    target: target.clone(),
                    parts: vec![(*i, conditions.clone())],
                    target_conditions: conditions,
                    keys_only: false,
                }
            })
            .collect();
    }
    vec![digest::Unit {
        target: target.clone(),
        parts: idxs.iter().map(|&i| (i, Vec::new())).collect(),
        target_conditions: Vec::new(),
        keys_only: false,
    }]
}

/// The target's sequences (serial and identity) of table `t` that are not past the largest
/// value of their column.
async fn sequences_behind(target: &Client, t: &QualName) -> Result<Vec<SequenceBehind>> {
    let err = |e| Error::db(ErrorKind::Target, "reading sequences", e).with_table(t);
    let owned = target
        .query(
            "SELECT s.oid::regclass::text, a.attname::text FROM pg_catalog.pg_depend d \
             JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refobjid = $1::text::regclass \
             AND d.deptype IN ('a', 'i') AND a.atttypid IN (20, 21, 23)",
            &[&t.sql()],
        )
        .await
        .map_err(err)?;
    let mut out = Vec::new();
    for r in owned {
        let (seq, col): (String, String) = (r.get(0), r.get(1));
        let row = target
            .query_one(
                &format!(
                    "SELECT (SELECT max({})::int8 FROM ONLY {}), last_value, is_called FROM {seq}",
                    ident(&col),
                    t.sql()
                ),
                &[],
            )
            .await
            .map_err(err)?;
        let (max, last, called): (Option<i64>, i64, bool) = (row.get(0), row.get(1), row.get(2));
        if let Some(max) = max
            && (max > last || (max == last && !called))
        {
            out.push(SequenceBehind {
                sequence: seq,
                column: col,
                last_value: last,
                max_value: max,
            });
        }
    }
    Ok(out)
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
    for fk in crate::state::omitted_foreign_keys(target).await? {
        let (child, parent, cols, pcols) = (fk.child, fk.parent, fk.columns, fk.parent_columns);
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
