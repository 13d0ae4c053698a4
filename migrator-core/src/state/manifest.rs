//! The manifest: the run row, the planned chunks, what is done (chunks, their parts, DDL
//! steps), omitted foreign keys, watermarks and the transaction horizon, as the DDL that
//! makes it, the statements that write it and the queries that read it.

use std::collections::{HashMap, HashSet};

use tokio_postgres::{Client, GenericClient};

use super::target_err;
use crate::chunk::{Chunk, Chunking};
use crate::error::{Error, ErrorKind, Result};
use crate::hash::Fingerprint;
use crate::sql::{QualName, literal};

/// Manifest layout version.
const FORMAT: i32 = 4;

/// What an earlier run recorded.
#[derive(Debug, Clone)]
pub(crate) struct ManifestSummary {
    pub source_id: String,
    pub data_only: bool,
    pub chunks_done: u64,
    pub steps_done: u64,
}

async fn manifest_exists(client: &impl GenericClient) -> Result<bool> {
    Ok(client
        .query_one(
            "SELECT pg_catalog.to_regclass('_migrator.run') IS NOT NULL",
            &[],
        )
        .await
        .map_err(target_err("reading the manifest"))?
        .get(0))
}

pub(super) async fn read_manifest(client: &Client) -> Result<Option<ManifestSummary>> {
    if !manifest_exists(client).await? {
        return Ok(None);
    }
    let err = || target_err("reading the manifest");
    let Some(r) = client
        .query_opt(
            "SELECT format, source_id, data_only, \
             (SELECT count(*) FROM _migrator.chunk_done), (SELECT count(*) FROM _migrator.step_done) \
             FROM _migrator.run",
            &[],
        )
        .await
        .map_err(err())?
    else {
        return Ok(None);
    };
    let format: i32 = r.get(0);
    if format != FORMAT {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "the target's manifest has format {format}, this Migrator reads {FORMAT}: use --restart"
            ),
        ));
    }
    Ok(Some(ManifestSummary {
        source_id: r.get(1),
        data_only: r.get(2),
        chunks_done: r.get::<_, i64>(3) as u64,
        steps_done: r.get::<_, i64>(4) as u64,
    }))
}

/// The manifest's DDL. Each statement stands alone and can be repeated, so a target that
/// takes one DDL per transaction can run them one by one, and an interrupted start repeats
/// them harmlessly.
pub(crate) const MANIFEST_DDL: &[&str] = &[
    "CREATE SCHEMA IF NOT EXISTS _migrator",
    "CREATE TABLE IF NOT EXISTS _migrator.run (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), \
     format int NOT NULL, source_id text NOT NULL, source text NOT NULL, profile text NOT NULL, \
     data_only boolean NOT NULL, key_namespace text, started_at timestamptz NOT NULL DEFAULT now(), \
     finished_at timestamptz, xid_horizon bigint)",
    "CREATE TABLE IF NOT EXISTS _migrator.chunk (table_name text NOT NULL, chunk_no int NOT NULL, \
     chunking text NOT NULL, lower_bound bigint, upper_bound bigint, PRIMARY KEY (table_name, chunk_no))",
    "CREATE TABLE IF NOT EXISTS _migrator.chunk_done (table_name text NOT NULL, chunk_no int NOT NULL, \
     rows bigint NOT NULL, bytes bigint NOT NULL, done_at timestamptz NOT NULL DEFAULT now(), \
     fp_rows bigint, fp_sum text, max_key bigint, digest_gen int, digest_rows bigint, \
     PRIMARY KEY (table_name, chunk_no))",
    "CREATE TABLE IF NOT EXISTS _migrator.row_digest (table_name text NOT NULL, chunk_no int NOT NULL, \
     generation int NOT NULL, block_no int NOT NULL, data bytea NOT NULL, \
     PRIMARY KEY (table_name, chunk_no, generation, block_no))",
    "CREATE TABLE IF NOT EXISTS _migrator.watermark (table_name text PRIMARY KEY, value text)",
    "CREATE TABLE IF NOT EXISTS _migrator.chunk_part (table_name text NOT NULL, chunk_no int NOT NULL, \
     part_no int NOT NULL, last_key text NOT NULL, rows bigint NOT NULL, bytes bigint NOT NULL, \
     PRIMARY KEY (table_name, chunk_no, part_no))",
    "CREATE TABLE IF NOT EXISTS _migrator.step_done (step text PRIMARY KEY, done_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS _migrator.foreign_key (name text NOT NULL, child text NOT NULL, \
     columns text NOT NULL, parent text NOT NULL, parent_columns text NOT NULL, PRIMARY KEY (child, name))",
];

/// The tables of the manifest, for `--restart` where a schema cannot be dropped whole.
const MANIFEST_TABLES: &[&str] = &[
    "_migrator.run",
    "_migrator.chunk",
    "_migrator.chunk_done",
    "_migrator.chunk_part",
    "_migrator.step_done",
    "_migrator.foreign_key",
    "_migrator.watermark",
    "_migrator.row_digest",
];

/// `--restart` where DDL is not transactional: the manifest's tables, one statement each.
/// The run lock's lease table stays (the run that restarts holds its lease), and with it
/// the schema.
pub(crate) fn drop_manifest_stepwise_sql() -> Vec<String> {
    MANIFEST_TABLES
        .iter()
        .map(|t| format!("DROP TABLE IF EXISTS {t}"))
        .collect()
}

/// Empties what an unfinished start of a run left (chunks, omitted foreign keys, steps: the
/// rows written before the run row), at most `batch` rows a statement, each statement
/// retried. By primary key, which every target has (DSQL has no `ctid`).
pub(crate) async fn clear_unfinished_start(
    control: &Client,
    batch: usize,
    events: &crate::events::EventSink,
) -> Result<()> {
    for (table, key) in [
        ("_migrator.chunk", "table_name, chunk_no"),
        ("_migrator.foreign_key", "child, name"),
        ("_migrator.step_done", "step"),
    ] {
        let sql = format!(
            "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} LIMIT {batch})"
        );
        loop {
            let n = crate::retry::retrying(
                crate::retry::RetryPolicy::default(),
                "clearing the manifest",
                Some(events),
                || async {
                    control
                        .execute(&sql, &[])
                        .await
                        .map_err(target_err("clearing the manifest"))
                },
            )
            .await?;
            if n == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// Whether part `part` of a chunk is recorded (its batch committed).
pub(crate) async fn chunk_part_committed(
    client: &Client,
    table: &QualName,
    chunk: u32,
    part: u32,
) -> Result<bool> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM _migrator.chunk_part WHERE table_name = $1 AND chunk_no = $2 AND part_no = $3",
            &[&table.to_string(), &(chunk as i32), &(part as i32)],
        )
        .await
        .map_err(target_err("reading the manifest"))?
        .is_some())
}

/// Whether a chunk is recorded done.
pub(crate) async fn chunk_done_exists(
    client: &Client,
    table: &QualName,
    chunk: u32,
) -> Result<bool> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM _migrator.chunk_done WHERE table_name = $1 AND chunk_no = $2",
            &[&table.to_string(), &(chunk as i32)],
        )
        .await
        .map_err(target_err("reading the manifest"))?
        .is_some())
}

/// The foreign keys the target does not have, as the manifest recorded them (none when the
/// target has no manifest: it was not made by migrator).
pub(crate) async fn omitted_foreign_keys(
    client: &Client,
) -> Result<Vec<crate::ddl::OmittedForeignKey>> {
    let err = || target_err("reading the omitted foreign keys");
    let has: bool = client
        .query_one(
            "SELECT pg_catalog.to_regclass('_migrator.foreign_key') IS NOT NULL",
            &[],
        )
        .await
        .map_err(err())?
        .get(0);
    if !has {
        return Ok(Vec::new());
    }
    let names = |s: String| -> Vec<String> { serde_json::from_str(&s).unwrap_or_default() };
    Ok(client
        .query(
            "SELECT name, child, columns, parent, parent_columns FROM _migrator.foreign_key",
            &[],
        )
        .await
        .map_err(err())?
        .into_iter()
        .map(|r| crate::ddl::OmittedForeignKey {
            name: r.get(0),
            child: QualName::parse(&r.get::<_, String>(1)),
            columns: names(r.get(2)),
            parent: QualName::parse(&r.get::<_, String>(3)),
            parent_columns: names(r.get(4)),
        })
        .collect())
}

/// What the manifest records of a new run.
pub(crate) struct NewRun<'a> {
    pub source_id: &'a str,
    /// The source's URL without its password.
    pub source_url: &'a str,
    pub profile: &'a str,
    pub data_only: bool,
    pub key_namespace: Option<uuid::Uuid>,
    /// Each table's chunks, as planned.
    pub chunks: Vec<(&'a QualName, &'a Chunking, &'a [Chunk])>,
    pub omitted_foreign_keys: &'a [crate::ddl::OmittedForeignKey],
}

/// Statements that record a new run: the planned chunks and omitted foreign keys in
/// batches of at most `batch` rows, and last the run row, whose presence says the manifest
/// is complete.
pub(crate) fn manifest_rows(run: &NewRun<'_>, batch: usize) -> Vec<String> {
    let mut sql = Vec::new();
    let mut values = Vec::new();
    for (name, chunking, chunks) in &run.chunks {
        let chunking = serde_json::to_string(chunking).expect("chunking serializes");
        for c in chunks.iter() {
            values.push(format!(
                "({}, {}, {}, {}, {})",
                literal(&name.to_string()),
                c.no,
                literal(&chunking),
                c.lower.map_or("NULL".into(), |v| v.to_string()),
                c.upper.map_or("NULL".into(), |v| v.to_string())
            ));
        }
    }
    for part in values.chunks(batch.max(1)) {
        sql.push(format!(
            "INSERT INTO _migrator.chunk (table_name, chunk_no, chunking, lower_bound, upper_bound) VALUES {} \
             ON CONFLICT DO NOTHING",
            part.join(", ")
        ));
    }
    let fks: Vec<String> = run
        .omitted_foreign_keys
        .iter()
        .map(|fk| {
            format!(
                "({}, {}, {}, {}, {})",
                literal(&fk.name),
                literal(&fk.child.to_string()),
                literal(&serde_json::to_string(&fk.columns).expect("names serialize")),
                literal(&fk.parent.to_string()),
                literal(&serde_json::to_string(&fk.parent_columns).expect("names serialize"))
            )
        })
        .collect();
    for part in fks.chunks(batch.max(1)) {
        sql.push(format!(
            "INSERT INTO _migrator.foreign_key (name, child, columns, parent, parent_columns) VALUES {} \
             ON CONFLICT DO NOTHING",
            part.join(", ")
        ));
    }
    sql.push(format!(
        "INSERT INTO _migrator.run (format, source_id, source, profile, data_only, key_namespace) \
         VALUES ({FORMAT}, {}, {}, {}, {}, {})",
        literal(run.source_id),
        literal(run.source_url),
        literal(run.profile),
        run.data_only,
        run.key_namespace
            .map_or("NULL".to_string(), |n| literal(&n.to_string()))
    ));
    sql
}

/// Where an interrupted chunk stands: its next part number and the source key of the last
/// row it committed.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkProgress {
    pub next_part: u32,
    pub last_key: Option<Vec<String>>,
    pub rows: u64,
}

/// The manifest as a run uses it: planned chunks per table, and what is done.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    pub source_id: String,
    pub data_only: bool,
    pub key_namespace: Option<String>,
    pub chunks: HashMap<String, (Chunking, Vec<Chunk>)>,
    pub chunks_done: HashSet<(String, u32)>,
    /// The source fingerprint of each finished chunk, where recorded.
    pub fingerprints: HashMap<(String, u32), Fingerprint>,
    /// Chunks whose rows' digests are stored: their generation and row count.
    pub digests: HashMap<(String, u32), (i32, i64)>,
    pub steps_done: HashSet<String>,
    /// Whether the copy ran to its end.
    pub finished: bool,
    /// Watermark values recorded per table (`None`: the table was empty).
    pub watermarks: HashMap<String, Option<String>>,
    /// The source's xmin (64-bit) under the snapshot of the first copy run, or of the
    /// last sync: every row version written since carries an id not older.
    pub xid_horizon: Option<i64>,
}

/// Reads the whole manifest, if the target has one.
pub(crate) async fn load(client: &Client) -> Result<Option<Manifest>> {
    let Some(summary) = read_manifest(client).await? else {
        return Ok(None);
    };
    let err = || target_err("reading the manifest");
    let run = client
        .query_one("SELECT key_namespace, xid_horizon FROM _migrator.run", &[])
        .await
        .map_err(err())?;
    let mut m = Manifest {
        source_id: summary.source_id,
        data_only: summary.data_only,
        key_namespace: run.get(0),
        xid_horizon: run.get(1),
        ..Manifest::default()
    };
    for r in client
        .query(
            "SELECT table_name, chunk_no, chunking, lower_bound, upper_bound FROM _migrator.chunk \
             ORDER BY table_name, chunk_no",
            &[],
        )
        .await
        .map_err(err())?
    {
        let table: String = r.get(0);
        let chunking: Chunking = serde_json::from_str(&r.get::<_, String>(2)).map_err(|e| {
            Error::new(
                ErrorKind::Conflict,
                format!("unreadable manifest chunk for {table}: {e}"),
            )
        })?;
        let entry = m
            .chunks
            .entry(table)
            .or_insert_with(|| (chunking, Vec::new()));
        entry.1.push(Chunk {
            no: r.get::<_, i32>(1) as u32,
            lower: r.get(3),
            upper: r.get(4),
        });
    }
    for r in client
        .query(
            "SELECT table_name, chunk_no, fp_rows, fp_sum, max_key, digest_gen, digest_rows \
             FROM _migrator.chunk_done",
            &[],
        )
        .await
        .map_err(err())?
    {
        let id = (r.get::<_, String>(0), r.get::<_, i32>(1) as u32);
        if let (Some(rows), Some(sum)) = (r.get::<_, Option<i64>>(2), r.get::<_, Option<String>>(3))
        {
            m.fingerprints.insert(
                id.clone(),
                Fingerprint {
                    rows,
                    sum,
                    max_key: r.get(4),
                },
            );
        }
        if let (Some(generation), Some(rows)) =
            (r.get::<_, Option<i32>>(5), r.get::<_, Option<i64>>(6))
        {
            m.digests.insert(id.clone(), (generation, rows));
        }
        m.chunks_done.insert(id);
    }
    m.finished = client
        .query_one("SELECT finished_at IS NOT NULL FROM _migrator.run", &[])
        .await
        .map_err(err())?
        .get(0);
    for r in client
        .query("SELECT table_name, value FROM _migrator.watermark", &[])
        .await
        .map_err(err())?
    {
        m.watermarks.insert(r.get(0), r.get(1));
    }
    for r in client
        .query("SELECT step FROM _migrator.step_done", &[])
        .await
        .map_err(err())?
    {
        m.steps_done.insert(r.get(0));
    }
    Ok(Some(m))
}

/// The statement that records a finished chunk (run inside the chunk's transaction), with
/// the source fingerprint of the rows it copied when known.
pub(crate) fn chunk_done_sql(
    table: &QualName,
    chunk: u32,
    rows: u64,
    bytes: u64,
    fp: Option<&Fingerprint>,
    digests: Option<(i32, i64)>,
) -> String {
    format!(
        "INSERT INTO _migrator.chunk_done (table_name, chunk_no, rows, bytes, fp_rows, fp_sum, max_key, \
         digest_gen, digest_rows) VALUES ({}, {chunk}, {rows}, {bytes}, {}, {})",
        literal(&table.to_string()),
        fingerprint_values(fp),
        digest_values(digests)
    )
}

fn digest_values(d: Option<(i32, i64)>) -> String {
    match d {
        Some((generation, rows)) => format!("{generation}, {rows}"),
        None => "NULL, NULL".into(),
    }
}

fn fingerprint_values(fp: Option<&Fingerprint>) -> String {
    match fp {
        None => "NULL, NULL, NULL".into(),
        Some(f) => format!(
            "{}, {}, {}",
            f.rows,
            literal(&f.sum),
            f.max_key.map_or("NULL".into(), |k| k.to_string())
        ),
    }
}

/// The statement that records a chunk as sync left it: done, with a new fingerprint.
pub(crate) fn chunk_synced_sql(
    table: &QualName,
    chunk: u32,
    fp: Option<&Fingerprint>,
    digests: Option<(i32, i64)>,
) -> String {
    let rows = fp.map_or(0, |f| f.rows);
    format!(
        "INSERT INTO _migrator.chunk_done (table_name, chunk_no, rows, bytes, fp_rows, fp_sum, max_key, \
         digest_gen, digest_rows) VALUES ({}, {chunk}, {rows}, 0, {}, {}) \
         ON CONFLICT (table_name, chunk_no) DO UPDATE SET \
         rows = excluded.rows, fp_rows = excluded.fp_rows, fp_sum = excluded.fp_sum, \
         max_key = excluded.max_key, digest_gen = excluded.digest_gen, \
         digest_rows = excluded.digest_rows, done_at = now()",
        literal(&table.to_string()),
        fingerprint_values(fp),
        digest_values(digests)
    )
}

/// The statement that records a chunk sync added past a table's old end, or a new upper
/// bound for the chunk that was last.
pub(crate) fn chunk_sql(table: &QualName, chunking: &Chunking, chunk: &Chunk) -> String {
    format!(
        "INSERT INTO _migrator.chunk (table_name, chunk_no, chunking, lower_bound, upper_bound) \
         VALUES ({}, {}, {}, {}, {}) ON CONFLICT (table_name, chunk_no) DO UPDATE SET \
         lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound",
        literal(&table.to_string()),
        chunk.no,
        literal(&serde_json::to_string(chunking).expect("chunking serializes")),
        chunk.lower.map_or("NULL".into(), |v| v.to_string()),
        chunk.upper.map_or("NULL".into(), |v| v.to_string())
    )
}

/// The statement that records the source's xid horizon: the first copy run's only (a
/// resumed copy's rows are at least that new), or replacing it (`sync`, as its last step).
pub(crate) fn horizon_sql(xmin: i64, replace: bool) -> String {
    format!(
        "UPDATE _migrator.run SET xid_horizon = {xmin}{}",
        if replace {
            ""
        } else {
            " WHERE xid_horizon IS NULL"
        }
    )
}

/// The statement that records a table's watermark: the first one only (`copy`: a resumed
/// copy's rows are as old as its first run), or replacing it (`sync`).
pub(crate) fn watermark_sql(table: &QualName, value: Option<&str>, replace: bool) -> String {
    format!(
        "INSERT INTO _migrator.watermark (table_name, value) VALUES ({}, {}) ON CONFLICT (table_name) DO {}",
        literal(&table.to_string()),
        value.map_or("NULL".into(), literal),
        if replace {
            "UPDATE SET value = excluded.value"
        } else {
            "NOTHING"
        }
    )
}

/// The statement that records a finished step (run inside the step's transaction).
pub(crate) fn step_done_sql(step: &str) -> String {
    format!(
        "INSERT INTO _migrator.step_done (step) VALUES ({}) ON CONFLICT DO NOTHING",
        literal(step)
    )
}

/// Where a chunk stands in the target's manifest: its committed parts (batched targets).
pub(crate) async fn chunk_progress(
    client: &Client,
    table: &QualName,
    chunk: u32,
) -> Result<ChunkProgress> {
    let row = client
        .query_opt(
            "SELECT part_no, last_key, (SELECT sum(rows) FROM _migrator.chunk_part \
                WHERE table_name = $1 AND chunk_no = $2)::bigint \
             FROM _migrator.chunk_part WHERE table_name = $1 AND chunk_no = $2 \
             ORDER BY part_no DESC LIMIT 1",
            &[&table.to_string(), &(chunk as i32)],
        )
        .await
        .map_err(target_err("reading the manifest"))?;
    let Some(row) = row else {
        return Ok(ChunkProgress::default());
    };
    let last: Vec<String> = serde_json::from_str(&row.get::<_, String>(1)).map_err(|e| {
        Error::new(
            ErrorKind::Conflict,
            format!("unreadable manifest part of {table}: {e}"),
        )
    })?;
    Ok(ChunkProgress {
        next_part: row.get::<_, i32>(0) as u32 + 1,
        last_key: Some(last),
        rows: row.get::<_, Option<i64>>(2).unwrap_or(0) as u64,
    })
}

/// The statement that records a committed part of a chunk (inside the part's transaction).
pub(crate) fn chunk_part_sql(
    table: &QualName,
    chunk: u32,
    part: u32,
    last_key: &[String],
    rows: u64,
    bytes: u64,
) -> String {
    format!(
        "INSERT INTO _migrator.chunk_part (table_name, chunk_no, part_no, last_key, rows, bytes) \
         VALUES ({}, {chunk}, {part}, {}, {rows}, {bytes})",
        literal(&table.to_string()),
        literal(&serde_json::to_string(last_key).expect("keys serialize"))
    )
}

/// Forgets a table's finished chunks (to redo the table from scratch).
pub(crate) fn forget_table_sql(table: &QualName) -> String {
    format!(
        "DELETE FROM _migrator.chunk_done WHERE table_name = {}",
        literal(&table.to_string())
    )
}

pub(crate) const FINISH_SQL: &str = "UPDATE _migrator.run SET finished_at = now()";

pub(crate) const DROP_MANIFEST_SQL: &str = "DROP SCHEMA IF EXISTS _migrator CASCADE";
