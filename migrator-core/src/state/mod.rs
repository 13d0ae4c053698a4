//! The run manifest, kept in the target's `_migrator` schema: the run (which source, which
//! options), every planned chunk, the chunks and DDL steps that are done. A chunk's rows and
//! its `chunk_done` row commit in one transaction, which is what makes resume exact. Also:
//! what the target already holds (for planning), and the lock that keeps two runs apart.

use std::collections::{HashMap, HashSet};

use integer_encoding::VarInt;
use tokio_postgres::{Client, GenericClient};

use crate::catalog::Catalog;
use crate::chunk::{Chunk, Chunking};
use crate::error::{Error, ErrorKind, Result};
use crate::hash::Fingerprint;
use crate::sql::{QualName, literal};

/// Manifest layout version.
const FORMAT: i32 = 4;

/// The advisory lock key that marks a target as in use by a run ("MIGRATOR" in ASCII).
const LOCK_KEY: i64 = 0x4D49_4752_4154_4F52;

fn target_err(what: impl std::fmt::Display) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| Error::db(ErrorKind::Target, what, e)
}

/// A column as the target has it.
#[derive(Debug, Clone)]
pub(crate) struct TargetColumn {
    pub name: String,
    pub type_sql: String,
    pub not_null: bool,
    pub has_default: bool,
    pub generated: bool,
}

/// What an earlier run recorded.
#[derive(Debug, Clone)]
pub(crate) struct ManifestSummary {
    pub source_id: String,
    pub data_only: bool,
    pub chunks_done: u64,
    pub steps_done: u64,
}

/// What the target holds, as far as planning cares.
#[derive(Debug, Default)]
pub(crate) struct TargetInfo {
    pub version: String,
    pub database: String,
    pub manifest: Option<ManifestSummary>,
    pub relations: HashSet<QualName>,
    pub types: HashSet<QualName>,
    pub available_extensions: HashSet<String>,
    pub columns: HashMap<QualName, Vec<TargetColumn>>,
    pub nonempty_tables: HashSet<QualName>,
}

const USER_SCHEMA: &str =
    "n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', '_migrator')";

/// Reads what planning needs from the target. Changes nothing.
pub(crate) async fn inspect(client: &Client, cat: &Catalog, data_only: bool) -> Result<TargetInfo> {
    let err = || target_err("reading the target catalog");
    // Names print qualified, as the source catalog's do.
    client
        .batch_execute("SET search_path = ''")
        .await
        .map_err(err())?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_database()",
            &[],
        )
        .await
        .map_err(err())?;
    let mut info = TargetInfo {
        version: row.get(0),
        database: row.get(1),
        ..TargetInfo::default()
    };
    for r in client
        .query(
            &format!(
                "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r','p','v','m','S','f') AND {USER_SCHEMA}"
            ),
            &[],
        )
        .await
        .map_err(err())?
    {
        info.relations
            .insert(QualName::new(r.get::<_, String>(0), r.get::<_, String>(1)));
    }
    for r in client
        .query(
            &format!(
                "SELECT n.nspname::text, t.typname::text FROM pg_catalog.pg_type t \
                 JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
                 LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid \
                 WHERE (t.typtype IN ('e','d','r') OR (t.typtype = 'c' AND r.relkind = 'c')) AND {USER_SCHEMA}"
            ),
            &[],
        )
        .await
        .map_err(err())?
    {
        info.types.insert(QualName::new(r.get::<_, String>(0), r.get::<_, String>(1)));
    }
    for r in client
        .query(
            "SELECT name::text FROM pg_catalog.pg_available_extensions",
            &[],
        )
        .await
        .map_err(err())?
    {
        info.available_extensions.insert(r.get(0));
    }
    for r in client
        .query(
            &format!(
                "SELECT n.nspname::text, c.relname::text, a.attname::text, \
                 pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef OR a.attidentity <> '', \
                 a.attgenerated <> '' \
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r','p') AND a.attnum > 0 AND NOT a.attisdropped AND {USER_SCHEMA} \
                 ORDER BY c.oid, a.attnum"
            ),
            &[],
        )
        .await
        .map_err(err())?
    {
        let name = QualName::new(r.get::<_, String>(0), r.get::<_, String>(1));
        info.columns.entry(name).or_default().push(TargetColumn {
            name: r.get(2),
            type_sql: r.get(3),
            not_null: r.get(4),
            has_default: r.get(5),
            generated: r.get(6),
        });
    }
    info.manifest = read_manifest(client).await?;
    if data_only {
        for t in cat.data_tables() {
            if info.columns.contains_key(&t.name) {
                let has_rows: bool = client
                    .query_one(
                        &format!("SELECT EXISTS (SELECT 1 FROM ONLY {})", t.name.sql()),
                        &[],
                    )
                    .await
                    .map_err(err())?
                    .get(0);
                if has_rows {
                    info.nonempty_tables.insert(t.name.clone());
                }
            }
        }
    }
    Ok(info)
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

async fn read_manifest(client: &Client) -> Result<Option<ManifestSummary>> {
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

/// An identity for the source database: the cluster's system identifier and the database.
pub(crate) async fn source_identity(client: &Client) -> Result<String> {
    let sys = client
        .query_one(
            "SELECT system_identifier::text FROM pg_catalog.pg_control_system()",
            &[],
        )
        .await
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|_| "unknown".to_string());
    let db: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .map_err(|e| Error::db(ErrorKind::Source, "reading the source identity", e))?
        .get(0);
    Ok(format!("{sys}/{db}"))
}

/// Refuses a source and a target that are the same database.
pub(crate) async fn ensure_distinct(source: &Client, target: &Client) -> Result<String> {
    let source_id = source_identity(source).await?;
    let target_id = source_identity(target).await?;
    if source_id == target_id && !source_id.starts_with("unknown/") {
        return Err(Error::config(
            "source and target are the same database: the target must be a different database",
        ));
    }
    Ok(source_id)
}

/// How long a lease holds without a heartbeat: a run killed without a chance to release
/// its lease blocks the next run this long at most.
const LEASE_SECONDS: i64 = 30;

/// Holds the target for one run, released when dropped: an advisory lock held by a session
/// (released by the server when the session ends, even if the process is killed), or where
/// the target has no advisory locks (DSQL), a lease row with a heartbeat.
pub(crate) struct RunLock {
    _session: Option<Client>,
    lease: Option<Lease>,
}

/// A held lease: its session (shared with the heartbeat), the holder's id, and the
/// heartbeat, which stops when this is dropped.
struct Lease {
    client: std::sync::Arc<Client>,
    me: String,
    _heartbeat: tokio_util::sync::DropGuard,
}

impl RunLock {
    /// Takes the target's run lock, or says who holds it.
    /// `client` is a session of its own, held as long as the lock; `advisory`: the target
    /// has session-level advisory locks (else the lock is a lease row with a heartbeat).
    pub(crate) async fn acquire(
        client: Client,
        advisory: bool,
        events: &crate::events::EventSink,
    ) -> Result<RunLock> {
        if advisory {
            return Self::advisory(client).await;
        }
        Self::lease(client, events).await
    }

    async fn advisory(client: Client) -> Result<RunLock> {
        let got: bool = client
            .query_one("SELECT pg_catalog.pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .await
            .map_err(target_err("taking the run lock"))?
            .get(0);
        if got {
            return Ok(RunLock {
                _session: Some(client),
                lease: None,
            });
        }
        let holder = client
            .query_opt(
                "SELECT a.pid, COALESCE(a.application_name, ''), \
                 to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
                 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted \
                 AND l.classid::int8 = ($1 >> 32) AND l.objid::int8 = ($1 & 4294967295) LIMIT 1",
                &[&LOCK_KEY],
            )
            .await
            .ok()
            .flatten()
            .map(|r| {
                format!(
                    " (backend pid {}, {} since {})",
                    r.get::<_, i32>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2)
                )
            })
            .unwrap_or_default();
        Err(held_by(holder))
    }

    async fn lease(client: Client, events: &crate::events::EventSink) -> Result<RunLock> {
        let err = || target_err("taking the run lease");
        for ddl in [
            "CREATE SCHEMA IF NOT EXISTS _migrator",
            "CREATE TABLE IF NOT EXISTS _migrator.lease (singleton boolean PRIMARY KEY DEFAULT true, \
             holder text NOT NULL, heartbeat timestamptz NOT NULL)",
        ] {
            match client.batch_execute(ddl).await {
                Ok(()) => {}
                // Another run created it at the same moment.
                Err(e)
                    if e.code()
                        .is_some_and(|c| ["42P07", "42P06"].contains(&c.code())) => {}
                Err(e) => return Err(err()(e)),
            }
        }
        let me = uuid::Uuid::new_v4().to_string();
        // A failed commit (a conflict with a racing run, or a transient failure) is tried
        // again: then the row says who holds the lease.
        let take = || async {
            crate::retry::retrying(
                crate::retry::RetryPolicy::default(),
                "taking the run lease",
                Some(events),
                || async {
                    client
                        .query_opt(
                            &format!(
                                "INSERT INTO _migrator.lease (holder, heartbeat) VALUES ($1, now()) \
                                 ON CONFLICT (singleton) DO UPDATE SET holder = excluded.holder, heartbeat = now() \
                                 WHERE _migrator.lease.heartbeat < now() - interval '{LEASE_SECONDS} seconds' \
                                 OR _migrator.lease.holder = excluded.holder \
                                 RETURNING holder"
                            ),
                            &[&me],
                        )
                        .await
                        .map(|row| row.is_some())
                        .map_err(err())
                },
            )
            .await
        };
        let heartbeat = || async {
            client
                .query_opt(
                    "SELECT to_char(heartbeat, 'YYYY-MM-DD HH24:MI:SS.US TZ') FROM _migrator.lease",
                    &[],
                )
                .await
                .ok()
                .flatten()
                .map(|r| r.get::<_, String>(0))
        };
        // A holder that stops renewing its lease was stopped without releasing it (killed):
        // its lease is waited out. One that renews it is running.
        let mut last = None;
        let mut waited = 0;
        loop {
            if take().await? {
                break;
            }
            let beat = heartbeat().await;
            if (last.is_some() && beat != last) || waited > LEASE_SECONDS * 2 {
                return Err(held_by(
                    beat.map(|s| format!(" (lease renewed at {s})"))
                        .unwrap_or_default(),
                ));
            }
            if last.is_none() {
                events.send(crate::events::Event::Warning {
                    message: format!(
                        "the target's run lease is held; if no heartbeat renews it, it expires \
                         within {LEASE_SECONDS} s (an earlier run was stopped without releasing it)"
                    ),
                });
            }
            last = beat;
            let pause = LEASE_SECONDS / 3 + 1;
            tokio::time::sleep(std::time::Duration::from_secs(pause as u64)).await;
            waited += pause;
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let guard = stop.clone().drop_guard();
        let client = std::sync::Arc::new(client);
        let (beat, holder) = (client.clone(), me.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        let _ = beat.execute("DELETE FROM _migrator.lease WHERE holder = $1", &[&holder]).await;
                        return;
                    }
                    _ = tokio::time::sleep(std::time::Duration::from_secs((LEASE_SECONDS / 3) as u64)) => {
                        let _ = beat
                            .execute("UPDATE _migrator.lease SET heartbeat = now() WHERE holder = $1", &[&holder])
                            .await;
                    }
                }
            }
        });
        Ok(RunLock {
            _session: None,
            lease: Some(Lease {
                client,
                me,
                _heartbeat: guard,
            }),
        })
    }

    /// Gives the target back at the end of a run, before the process may exit (a dropped
    /// lock's lease is only released in the background, and expires on its own later).
    pub(crate) async fn release(self) {
        if let Some(l) = &self.lease {
            let _ = l
                .client
                .execute("DELETE FROM _migrator.lease WHERE holder = $1", &[&l.me])
                .await;
        }
    }
}

fn held_by(holder: String) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "another migrator run is using this target{holder}: wait for it to finish or stop it"
        ),
    )
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

/// Manifest DDL for targets that have TOAST (the postgres profile): row digests are stored
/// uncompressed, since half of each entry is a hash that does not compress and pglz spends
/// longer failing to (76 MB of digests: 12.7 s compressed, 0.55 s not, on one target).
pub(crate) const MANIFEST_POSTGRES_DDL: &[&str] =
    &["ALTER TABLE _migrator.row_digest ALTER COLUMN data SET STORAGE EXTERNAL"];

/// The tables of the manifest, for `--restart` where a schema cannot be dropped whole.
pub(crate) const MANIFEST_TABLES: &[&str] = &[
    "_migrator.run",
    "_migrator.chunk",
    "_migrator.chunk_done",
    "_migrator.chunk_part",
    "_migrator.step_done",
    "_migrator.foreign_key",
    "_migrator.watermark",
    "_migrator.row_digest",
    "_migrator.lease",
];

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

/// Runs manifest statements one by one on `control`, each retried as the retry policy says.
pub(crate) async fn record(
    control: &Client,
    statements: &[String],
    what: &str,
    events: &crate::events::EventSink,
) -> Result<()> {
    for sql in statements {
        crate::retry::retrying(
            crate::retry::RetryPolicy::default(),
            what,
            Some(events),
            || async {
                control
                    .batch_execute(sql)
                    .await
                    .map_err(|e| Error::db(ErrorKind::Target, what, e))
            },
        )
        .await?;
    }
    Ok(())
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

/// Row digests per stored block: 9 to 18 bytes each (see [`encode_digests`]), so 72 to
/// 144 KiB a block. The copy holds at most a block per worker before storing it, so the
/// block bounds the copy's memory (60,000 here made peak RSS grow by about 5 MiB per busy
/// worker at the 1 GB benchmark).
pub(crate) const DIGEST_BLOCK: usize = 8_192;

/// The most bytes [`encode_digests`] spends on one entry: a 10-byte varint and the hash.
const DIGEST_MAX_BYTES: usize = 10 + 8;

/// Blocks one statement deletes: at most about 1 MiB of digests, well under DSQL's limits
/// on what one transaction may change.
const DROP_BLOCKS: usize = 7;
const _: () = assert!(DROP_BLOCKS * DIGEST_BLOCK * DIGEST_MAX_BYTES <= 1 << 20);

/// `(key, hash)` entries as a block's bytes: for each, the key's difference from the
/// previous entry's (from 0 for the first) as a zigzag varint, then the hash's 8 bytes big
/// endian. A key-range chunk's keys arrive mostly in order and close together, so an entry
/// is usually 9 bytes rather than 16: the digests are the copy's one write on top of the
/// rows (at 1 GB, 16 bytes a row was 8% more bytes written to the target).
pub(crate) fn encode_digests(entries: &[(i64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 9 + 16);
    let mut varint = [0u8; 10];
    let mut prev = 0i64;
    for &(k, h) in entries {
        let n = k.wrapping_sub(prev).encode_var(&mut varint);
        out.extend_from_slice(&varint[..n]);
        out.extend_from_slice(&h.to_be_bytes());
        prev = k;
    }
    out
}

/// The entries of a block [`encode_digests`] wrote, appended to `out`; `None` if the bytes
/// are not such a block.
fn decode_digests(mut data: &[u8], out: &mut Vec<(i64, u64)>) -> Option<()> {
    let mut prev = 0i64;
    while !data.is_empty() {
        let (delta, n) = i64::decode_var(data)?;
        let hash = data.get(n..n + 8)?;
        prev = prev.wrapping_add(delta);
        out.push((prev, u64::from_be_bytes(hash.try_into().ok()?)));
        data = &data[n + 8..];
    }
    Some(())
}

/// Stores one block of a chunk's row digests (inside the chunk's, or the part's,
/// transaction; or, for sync, a generation not yet in use).
pub(crate) async fn write_digest_block(
    client: &impl GenericClient,
    table: &QualName,
    chunk: u32,
    generation: i32,
    block: i32,
    entries: &[(i64, u64)],
) -> Result<()> {
    client
        .execute(
            "INSERT INTO _migrator.row_digest (table_name, chunk_no, generation, block_no, data) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (table_name, chunk_no, generation, block_no) \
             DO UPDATE SET data = excluded.data",
            &[
                &table.to_string(),
                &(chunk as i32),
                &generation,
                &block,
                &encode_digests(entries),
            ],
        )
        .await
        .map_err(target_err("storing row digests"))?;
    Ok(())
}

/// A chunk's stored row digests of one generation, sorted by key.
pub(crate) async fn read_digests(
    client: &Client,
    table: &QualName,
    chunk: u32,
    generation: i32,
) -> Result<Vec<(i64, u64)>> {
    let rows = client
        .query(
            "SELECT data FROM _migrator.row_digest WHERE table_name = $1 AND chunk_no = $2 \
             AND generation = $3 ORDER BY block_no",
            &[&table.to_string(), &(chunk as i32), &generation],
        )
        .await
        .map_err(target_err("reading row digests"))?;
    let mut out = Vec::new();
    for r in rows {
        decode_digests(r.get::<_, &[u8]>(0), &mut out).ok_or_else(|| {
            Error::new(
                ErrorKind::Target,
                "the stored row digests are damaged: use --restart",
            )
            .with_table(table)
            .with_chunk(chunk)
        })?;
    }
    out.sort_unstable();
    Ok(out)
}

/// The block numbers in use, per chunk and generation of row digests: one past the
/// highest block stored, keyed by table name and chunk. A copy through the DSQL batch path
/// numbers a chunk's blocks by its parts (a few thousand rows each), not by
/// [`DIGEST_BLOCK`], so a generation's row count does not tell how many blocks it has.
pub(crate) async fn digest_blocks(
    client: &Client,
) -> Result<HashMap<(String, u32), Vec<(i32, usize)>>> {
    let rows = client
        .query(
            "SELECT table_name, chunk_no, generation, max(block_no) FROM _migrator.row_digest \
             GROUP BY table_name, chunk_no, generation",
            &[],
        )
        .await
        .map_err(target_err("reading which row digests are stored"))?;
    let mut out: HashMap<(String, u32), Vec<(i32, usize)>> = HashMap::new();
    for r in rows {
        let (table, chunk): (String, i32) = (r.get(0), r.get(1));
        let (generation, last): (i32, i32) = (r.get(2), r.get(3));
        out.entry((table, chunk as u32))
            .or_default()
            .push((generation, last.max(0) as usize + 1));
    }
    Ok(out)
}

/// Drops one generation of a chunk's row digests, numbered `0..blocks`: a statement per
/// [`DROP_BLOCKS`] blocks, so that no transaction deletes more than about 1 MiB.
pub(crate) fn drop_generation_sql(
    table: &QualName,
    chunk: u32,
    generation: i32,
    blocks: usize,
) -> Vec<String> {
    (0..blocks.max(1))
        .step_by(DROP_BLOCKS)
        .map(|b| {
            format!(
                "DELETE FROM _migrator.row_digest WHERE table_name = {} AND chunk_no = {chunk} \
                 AND generation = {generation} AND block_no >= {b} AND block_no < {}",
                literal(&table.to_string()),
                b + DROP_BLOCKS
            )
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The block ranges of the statements, parsed back out of their SQL.
    fn ranges(sql: &[String]) -> Vec<(usize, usize)> {
        sql.iter()
            .map(|s| {
                let num = |after: &str| -> usize {
                    let rest = &s[s.find(after).expect(after) + after.len()..];
                    let end = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    rest[..end].parse().expect("a block number")
                };
                (num("block_no >= "), num("block_no < "))
            })
            .collect()
    }

    #[test]
    fn dropping_a_generation_covers_every_block_about_a_mebibyte_at_a_time() {
        let t = QualName::new("public", "events");
        for blocks in [0, 1, DROP_BLOCKS, DROP_BLOCKS + 1, 1_000] {
            let r = ranges(&drop_generation_sql(&t, 3, 2, blocks));
            assert_eq!(
                r.len(),
                blocks.max(1).div_ceil(DROP_BLOCKS),
                "{blocks} blocks"
            );
            // Contiguous from block 0 past the last block, each range at most DROP_BLOCKS.
            assert_eq!(r[0].0, 0);
            assert!(r.windows(2).all(|w| w[0].1 == w[1].0), "{r:?}");
            assert!(r.iter().all(|(a, b)| b - a <= DROP_BLOCKS), "{r:?}");
            assert!(r.last().expect("a statement").1 >= blocks, "{r:?}");
        }
    }

    #[test]
    fn row_digests_survive_encoding_whatever_the_keys() {
        let dense: Vec<(i64, u64)> = (1..=DIGEST_BLOCK as i64)
            .map(|k| (k, crate::hash::row_hash(&k.to_be_bytes())))
            .collect();
        // Keys out of order, far apart, negative and at both ends of the range.
        let scattered: Vec<(i64, u64)> = [5, 3, i64::MAX, i64::MIN, -1, 0, 1 << 40, 7]
            .into_iter()
            .map(|k| (k, !(k as u64)))
            .collect();
        for entries in [&dense, &scattered, &Vec::new()] {
            let bytes = encode_digests(entries);
            assert!(bytes.len() <= entries.len() * DIGEST_MAX_BYTES);
            let mut back = Vec::new();
            assert_eq!(decode_digests(&bytes, &mut back), Some(()));
            assert_eq!(&back, entries);
        }
        // A dense key costs a byte beside its hash.
        assert_eq!(encode_digests(&dense).len(), dense.len() * 9);
        // A block cut inside an entry is refused, not read as fewer entries (one cut between
        // entries is caught by the count the manifest keeps, see `stored_digests`).
        let bytes = encode_digests(&scattered);
        for cut in [1, 8, bytes.len() - 1] {
            let mut back = Vec::new();
            assert_eq!(
                decode_digests(&bytes[..cut], &mut back),
                None,
                "cut at {cut}"
            );
        }
    }
}
