//! One chunk into a target with per-transaction limits (Aurora DSQL): the source streams the
//! chunk in primary key order as binary COPY; tuples are cut into batches that stay under the
//! row budget (manifest rows included) and the byte budget (secondary index entries
//! included); each batch commits with a manifest row naming the last key it holds, so an
//! interrupted chunk resumes after that key, and a batch whose commit fails with a
//! serialization error (40001, OC000, OC001) is written again, never twice.

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio_postgres::Client;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use crate::Ctx;
use crate::blob::{PendingObject, Uploader};
use crate::config::DsqlWrite;
use crate::context::Purpose;
use crate::copy::pipe::Moved;
use crate::digest;
use crate::error::{Error, ErrorKind, Result};
use crate::events::EventSink;
use crate::frames::{self, Tuple, TupleReader};
use crate::hash::{self, Fingerprint};
use crate::plan::{Chunk, TablePlan};
use crate::retry::RetryPolicy;
use crate::sql::{ident, literal};
use crate::state;
use crate::transform::keys;

/// Bind parameters one statement may carry.
const MAX_PARAMS: usize = 65_535;

/// How batches are cut and written.
#[derive(Debug, Clone)]
pub(crate) struct Batching {
    /// Rows per transaction, manifest rows included.
    pub max_rows: usize,
    /// Bytes per transaction, secondary index entries included.
    pub max_bytes: u64,
    pub write: DsqlWrite,
    pub namespace: Option<Uuid>,
    /// Record the chunk's source fingerprint.
    pub fingerprints: bool,
}

impl Batching {
    /// The batching of a run: the target profile's limits (a postgres target: 10,000 rows
    /// or 64 MiB, for tables whose rows are rebuilt).
    pub(crate) fn of(ctx: &Ctx, namespace: Option<Uuid>, fingerprints: bool) -> Batching {
        Batching {
            max_rows: ctx.rules.max_rows.unwrap_or(10_000) as usize,
            max_bytes: ctx.rules.max_bytes.unwrap_or(64 * 1024 * 1024),
            write: ctx.config.dsql.write,
            namespace,
            fingerprints,
        }
    }
}

/// Key values as SQL: `('1'::integer, 'a'::text), (...)`, each cast to its type.
fn typed_rows(keys: &[Vec<String>], types: &[String]) -> String {
    let rows: Vec<String> = keys
        .iter()
        .map(|k| {
            let v: Vec<String> = k
                .iter()
                .zip(types)
                .map(|(v, ty)| format!("{}::{ty}", literal(v)))
                .collect();
            format!("({})", v.join(", "))
        })
        .collect();
    rows.join(", ")
}

/// A field's raw binary value passed through as a parameter of the target column's type.
#[derive(Debug)]
struct Raw<'a>(Option<&'a [u8]>);

impl ToSql for Raw<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            None => Ok(IsNull::Yes),
            Some(b) => {
                out.extend_from_slice(b);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The source statement: the chunk's rows in key order, after `after` if resuming, with
/// each key column's text appended (to record where a batch ends).
fn read_sql(t: &TablePlan, chunk: &Chunk, after: Option<&[String]>) -> String {
    let mut conditions: Vec<String> = t.chunking.predicate(chunk).into_iter().collect();
    if let Some(after) = after {
        let value = typed_rows(&[after.to_vec()], &t.key_types);
        conditions.push(format!("({}) > {value}", key_list(t)));
    }
    select_sql(t, &conditions)
}

/// The key columns, qualified by the source table's alias (the select list may name a
/// key's text the same).
fn key_list(t: &TablePlan) -> String {
    let keys: Vec<String> = t.key.iter().map(|k| format!("src.{}", ident(k))).collect();
    keys.join(", ")
}

/// The source statement reading the rows of `t` with the given source keys.
fn read_keys_sql(t: &TablePlan, keys: &[Vec<String>]) -> String {
    select_sql(
        t,
        &[format!(
            "({}) IN (VALUES {})",
            key_list(t),
            typed_rows(keys, &t.key_types)
        )],
    )
}

/// `COPY (SELECT <fields>, <key texts> FROM ONLY t WHERE ... ORDER BY <key>)` in binary.
fn select_sql(t: &TablePlan, conditions: &[String]) -> String {
    let mut select: Vec<String> = t.read.clone();
    select.extend(
        t.key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("(src.{})::text AS \"__key{i}\"", ident(k))),
    );
    format!(
        "COPY (SELECT {} FROM ONLY {} AS src{}{}) TO STDOUT (FORMAT binary)",
        select.join(", "),
        t.name.sql(),
        if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        },
        if t.key.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", key_list(t))
        }
    )
}

/// A built target tuple: the row, its key's text, and the objects it names.
pub(crate) struct Built {
    pub(crate) tuple: Tuple,
    pub(crate) key: Vec<String>,
    objects: Vec<PendingObject>,
}

/// Builds the target tuple (UUID keys rewritten, blob values replaced by their object's
/// key, size and SHA-256, key texts dropped) and reads the key.
pub(crate) fn target_tuple(
    t: &TablePlan,
    namespace: Option<&Uuid>,
    uploader: Option<&Uploader>,
    src: &Tuple,
) -> Result<Built> {
    let n = t.read.len();
    if src.fields.len() != n + t.key.len() {
        return Err(Error::internal(format!(
            "{}: {} fields read, {} expected",
            t.name,
            src.fields.len(),
            n + t.key.len()
        )));
    }
    // Sized for what the row keeps: a blob value leaves it (a key, a size and a hash stay),
    // and a batch holds thousands of rows, so an allocation sized by the source row would
    // keep every value's memory alive until the batch commits.
    let moved: usize = (0..n)
        .filter(|&i| t.blobs[i].is_some())
        .filter_map(|i| src.fields[i].map(|(a, b)| b - a))
        .sum();
    let blob_fields = t.blobs.iter().filter(|b| b.is_some()).count();
    let mut raw = BytesMut::with_capacity(src.raw.len() - moved + 16 + 256 * blob_fields);
    raw.extend_from_slice(&(t.columns.len() as i16).to_be_bytes());
    let mut fields = Vec::with_capacity(t.columns.len());
    let mut objects = Vec::new();
    let mut push = |raw: &mut BytesMut, value: Option<&[u8]>| match value {
        None => {
            raw.extend_from_slice(&(-1i32).to_be_bytes());
            fields.push(None);
        }
        Some(v) => {
            raw.extend_from_slice(&(v.len() as i32).to_be_bytes());
            let start = raw.len();
            raw.extend_from_slice(v);
            fields.push(Some((start, raw.len())));
        }
    };
    for i in 0..n {
        let value = src.field(i);
        if let Some(blob) = &t.blobs[i] {
            let (Some(v), Some(up)) = (src.fields[i], uploader) else {
                // NULL stays NULL: no object, and no key, size or checksum.
                for _ in 0..3 {
                    push(&mut raw, None);
                }
                continue;
            };
            // Its own allocation, so the memory held while it uploads is the value's size
            // (a slice would keep the reader's whole buffer alive).
            let data = Bytes::copy_from_slice(&src.raw[v.0..v.1]);
            let sha256 = crate::blob::sha256(&data);
            let key = up.key(&blob.table, &blob.column, &sha256);
            push(&mut raw, Some(key.as_bytes()));
            push(&mut raw, Some(&(data.len() as i64).to_be_bytes()));
            push(&mut raw, Some(hex::encode(sha256).as_bytes()));
            let content_type = blob
                .content_type
                .and_then(|c| src.field(c))
                .map(|b| String::from_utf8_lossy(b).into_owned());
            objects.push(PendingObject {
                key,
                data,
                sha256,
                content_type,
            });
            continue;
        }
        let uuid;
        let value = match (value, &t.uuid_keys[i], namespace) {
            (Some(v), Some(prefix), Some(ns)) => {
                uuid = keys::key_uuid(ns, prefix, keys::binary_int(v)?);
                Some(&uuid.as_bytes()[..])
            }
            (v, _, _) => v,
        };
        push(&mut raw, value);
    }
    let key = (n..n + t.key.len())
        .map(|i| String::from_utf8_lossy(src.field(i).unwrap_or_default()).into_owned())
        .collect();
    Ok(Built {
        tuple: Tuple {
            raw: raw.freeze(),
            fields,
        },
        key,
        objects,
    })
}

/// What the last batch of a chunk records: the chunk's rows and bytes, its fingerprint and
/// its stored row digests (generation, rows).
type ChunkEnd = (u64, u64, Option<Fingerprint>, Option<(i32, i64)>);

/// A batch being filled.
#[derive(Default)]
struct Pending {
    tuples: Vec<Tuple>,
    bytes: u64,
    last_key: Vec<String>,
    /// Its rows' `(key, hash)` (key-range chunks), stored with it for sync.
    digests: Vec<(i64, u64)>,
    /// The uploads of the objects its rows name: all must finish before it commits.
    uploads: tokio::task::JoinSet<Result<()>>,
}

/// Copies one chunk in batches, resuming after the parts the target's manifest holds.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn copy_chunk(
    ctx: &Ctx,
    source: &Client,
    target: &mut Option<Client>,
    t: &TablePlan,
    chunk: &Chunk,
    batching: &Batching,
    uploader: Option<&Uploader>,
    report: &(dyn Fn(u64) + Sync),
    events: &EventSink,
) -> Result<Moved> {
    if target.is_none() {
        *target = Some(ctx.target_session(Purpose::Writer).await?);
    }
    let progress = state::chunk_progress(target.as_ref().expect("open"), &t.name, chunk.no).await?;
    if progress.next_part > 0 && t.key.is_empty() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "{} has no primary key, so its interrupted chunk cannot resume: use --restart",
                t.name
            ),
        ));
    }
    let src_err = |e| {
        Error::db(ErrorKind::Source, "reading", e)
            .with_table(&t.name)
            .with_chunk(chunk.no)
    };
    let stream = source
        .copy_out(&read_sql(t, chunk, progress.last_key.as_deref()))
        .await
        .map_err(src_err)?;
    futures::pin_mut!(stream);
    let mut reader = TupleReader::new();
    // Manifest rows share the budget: the part, its row digests, the chunk.
    let max_data_rows = batching.max_rows.saturating_sub(3).max(1);
    let mut hasher =
        (batching.fingerprints && progress.next_part == 0).then(hash::ChunkHasher::default);
    let range_field = digest::range_field(t).filter(|_| batching.fingerprints);
    let mut pending = Pending::default();
    let mut part = progress.next_part;
    let mut moved = Moved { rows: 0, bytes: 0 };
    while let Some(data) = stream.next().await {
        reader.push(&data.map_err(src_err)?);
        while let Some(src) = reader.next_tuple()? {
            let hash = hash::row_hash(frames::leading_fields(&src.raw, t.read.len()));
            let key = range_field
                .and_then(|f| src.field(f))
                .and_then(|v| keys::binary_int(v).ok());
            if let Some(h) = hasher.as_mut() {
                h.add(hash, key);
            }
            let Built {
                tuple,
                key: key_text,
                objects,
            } = target_tuple(t, batching.namespace.as_ref(), uploader, &src)?;
            let index_bytes: usize = t
                .index_columns
                .iter()
                .flat_map(|cols| cols.iter())
                .filter_map(|&i| tuple.field(i).map(|f| f.len()))
                .sum();
            let size = (tuple.raw.len() + index_bytes) as u64;
            if !pending.tuples.is_empty()
                && (pending.tuples.len() >= max_data_rows
                    || pending.bytes + size > batching.max_bytes)
            {
                let mut batch = std::mem::take(&mut pending);
                crate::blob::finish(&mut batch.uploads)
                    .await
                    .map_err(|e| e.with_table(&t.name).with_chunk(chunk.no))?;
                commit(ctx, target, t, chunk, part, &batch, None, batching, events).await?;
                moved.rows += batch.tuples.len() as u64;
                moved.bytes += batch.bytes;
                report(batch.bytes);
                part += 1;
            }
            if let Some(up) = uploader {
                for object in objects {
                    up.start(object, &mut pending.uploads, events).await?;
                }
            }
            pending.tuples.push(tuple);
            pending.bytes += size;
            pending.last_key = key_text;
            if let Some(k) = key {
                pending.digests.push((k, hash));
            }
        }
    }
    if !reader.finished() {
        return Err(Error::new(ErrorKind::Source, "the COPY stream ended early")
            .retryable(true)
            .with_table(&t.name)
            .with_chunk(chunk.no));
    }
    let mut batch = pending;
    crate::blob::finish(&mut batch.uploads)
        .await
        .map_err(|e| e.with_table(&t.name).with_chunk(chunk.no))?;
    // A chunk resumed in a later run holds rows of two snapshots: no fingerprint (sync
    // then compares its rows with the target's).
    let fp = hasher.map(hash::ChunkHasher::finish);
    let rows = progress.rows + moved.rows + batch.tuples.len() as u64;
    let totals = (
        rows,
        moved.bytes + batch.bytes,
        fp,
        range_field.map(|_| (0, rows as i64)),
    );
    commit(
        ctx,
        target,
        t,
        chunk,
        part,
        &batch,
        Some(&totals),
        batching,
        events,
    )
    .await?;
    moved.rows += batch.tuples.len() as u64;
    moved.bytes += batch.bytes;
    report(batch.bytes);
    Ok(moved)
}

/// `INSERT`s tuples with their values as binary parameters, as many rows per statement
/// as the bind parameter limit allows; `tail` follows the VALUES (an `ON CONFLICT` clause).
async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    t: &TablePlan,
    tuples: &[Tuple],
    tail: &str,
) -> Result<()> {
    let err = |e| Error::db(ErrorKind::Target, "writing", e);
    let cols: Vec<String> = t.columns.iter().map(|c| ident(c)).collect();
    let per_statement = (MAX_PARAMS / t.columns.len().max(1)).max(1);
    for rows in tuples.chunks(per_statement) {
        let mut values = Vec::with_capacity(rows.len());
        let mut n = 0;
        for _ in rows {
            let placeholders: Vec<String> = (0..t.columns.len())
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            values.push(format!("({})", placeholders.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}{tail}",
            t.target.sql(),
            cols.join(", "),
            values.join(", ")
        );
        let stmt = tx.prepare(&sql).await.map_err(err)?;
        let params: Vec<Raw<'_>> = rows
            .iter()
            .flat_map(|tuple| (0..t.columns.len()).map(move |i| Raw(tuple.field(i))))
            .collect();
        tx.execute_raw(&stmt, params.iter()).await.map_err(err)?;
    }
    Ok(())
}

/// How sync writes a table's changed rows: over what the target holds under their keys.
fn upsert_tail(t: &TablePlan) -> String {
    let keys: Vec<String> = t.key.iter().map(|k| ident(k)).collect();
    let set: Vec<String> = t
        .columns
        .iter()
        .filter(|c| !t.key.contains(c))
        .map(|c| format!("{0} = excluded.{0}", ident(c)))
        .collect();
    let action = if set.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", set.join(", "))
    };
    format!(" ON CONFLICT ({}) DO {action}", keys.join(", "))
}

/// What one sync transaction does.
enum SyncWrite<'a> {
    /// Upserts these rows.
    Rows(&'a [Tuple], &'a str),
    /// Runs this statement.
    Sql(&'a str),
}

/// Runs one sync write in a transaction of its own, retrying what can be retried: sync's
/// writes are idempotent (upserts and deletes by key), so a retried transaction is simply
/// run again.
async fn in_transaction(
    ctx: &Ctx,
    target: &mut Option<Client>,
    t: &TablePlan,
    write: SyncWrite<'_>,
    events: &EventSink,
) -> Result<()> {
    let policy = RetryPolicy::default();
    let mut attempt = 1;
    let err = |e| Error::db(ErrorKind::Target, "writing", e);
    loop {
        let result = async {
            if target.is_none() {
                *target = Some(ctx.target_session(Purpose::Writer).await?);
            }
            let client = target.as_mut().expect("open");
            let tx = client.transaction().await.map_err(err)?;
            match &write {
                SyncWrite::Rows(tuples, tail) => insert(&tx, t, tuples, tail).await?,
                SyncWrite::Sql(sql) => tx.batch_execute(sql).await.map_err(err)?,
            }
            tx.commit().await.map_err(err)?;
            crate::faults::crash_point("sync.write.after_commit");
            Ok::<(), Error>(())
        }
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) => {
                *target = None;
                if !policy.should_retry(&e, attempt) {
                    return Err(e.with_table(&t.name));
                }
                let delay = policy.delay(attempt);
                events.retry(format!("{} sync", t.name), attempt, delay, &e);
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

/// Source keys read per statement when fetching changed rows.
const KEYS_PER_READ: usize = 1000;

/// Sync: reads the source rows with these keys, builds them as copy does (UUID keys,
/// blob objects uploaded first) and writes them over the target's rows with the same keys,
/// in transactions under the batching limits. Returns the rows written.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upsert_rows(
    ctx: &Ctx,
    source: &Client,
    target: &mut Option<Client>,
    t: &TablePlan,
    keys: &[Vec<String>],
    batching: &Batching,
    uploader: Option<&Uploader>,
    events: &EventSink,
) -> Result<u64> {
    let tail = upsert_tail(t);
    let max_rows = batching.max_rows.saturating_sub(1).max(1);
    let mut written = 0u64;
    let mut pending = Pending::default();
    for group in keys.chunks(KEYS_PER_READ) {
        let stream = source
            .copy_out(&read_keys_sql(t, group))
            .await
            .map_err(|e| {
                Error::db(ErrorKind::Source, "reading changed rows", e).with_table(&t.name)
            })?;
        futures::pin_mut!(stream);
        let mut reader = TupleReader::new();
        while let Some(data) = stream.next().await {
            reader.push(&data.map_err(|e| {
                Error::db(ErrorKind::Source, "reading changed rows", e).with_table(&t.name)
            })?);
            while let Some(src) = reader.next_tuple()? {
                let built = target_tuple(t, batching.namespace.as_ref(), uploader, &src)?;
                let size = built.tuple.raw.len() as u64;
                if !pending.tuples.is_empty()
                    && (pending.tuples.len() >= max_rows
                        || pending.bytes + size > batching.max_bytes)
                {
                    let mut batch = std::mem::take(&mut pending);
                    crate::blob::finish(&mut batch.uploads).await?;
                    in_transaction(
                        ctx,
                        target,
                        t,
                        SyncWrite::Rows(&batch.tuples, &tail),
                        events,
                    )
                    .await?;
                    written += batch.tuples.len() as u64;
                }
                if let Some(up) = uploader {
                    for object in built.objects {
                        up.start(object, &mut pending.uploads, events).await?;
                    }
                }
                pending.tuples.push(built.tuple);
                pending.bytes += size;
            }
        }
    }
    if !pending.tuples.is_empty() {
        crate::blob::finish(&mut pending.uploads).await?;
        in_transaction(
            ctx,
            target,
            t,
            SyncWrite::Rows(&pending.tuples, &tail),
            events,
        )
        .await?;
        written += pending.tuples.len() as u64;
    }
    Ok(written)
}

/// Sync: deletes the target rows with these target keys, in transactions under the
/// batching limits. Returns the rows deleted.
pub(crate) async fn delete_rows(
    ctx: &Ctx,
    target: &mut Option<Client>,
    t: &TablePlan,
    keys: &[Vec<String>],
    batching: &Batching,
    events: &EventSink,
) -> Result<u64> {
    let cols: Vec<String> = t.key.iter().map(|k| ident(k)).collect();
    let mut deleted = 0u64;
    for group in keys.chunks(batching.max_rows.saturating_sub(1).clamp(1, KEYS_PER_READ)) {
        let sql = format!(
            "DELETE FROM {} WHERE ({}) IN (VALUES {})",
            t.target.sql(),
            cols.join(", "),
            typed_rows(group, &t.key_target_types)
        );
        in_transaction(ctx, target, t, SyncWrite::Sql(&sql), events).await?;
        deleted += group.len() as u64;
    }
    Ok(deleted)
}

/// Sync, for a table without a primary key that changed: replaces the target's rows with
/// the source's in one transaction. A target with per-transaction limits cannot do that.
pub(crate) async fn rewrite_table(
    ctx: &Ctx,
    source: &Client,
    target: &mut Option<Client>,
    t: &TablePlan,
    batching: &Batching,
    uploader: Option<&Uploader>,
    events: &EventSink,
) -> Result<u64> {
    if ctx.rules.batched() {
        return Err(Error::new(
            ErrorKind::Incompatible,
            format!(
                "{} has no primary key and changed since the copy: sync cannot replace its rows \
                 within the target's transaction limits; give the source table a primary key, \
                 or copy again with --restart",
                t.name
            ),
        )
        .with_table(&t.name));
    }
    let err = |e| Error::db(ErrorKind::Target, "rewriting", e).with_table(&t.name);
    let src_err = |e| Error::db(ErrorKind::Source, "reading", e).with_table(&t.name);
    if target.is_none() {
        *target = Some(ctx.target_session(Purpose::Writer).await?);
    }
    let client = target.as_mut().expect("open");
    let tx = client.transaction().await.map_err(err)?;
    tx.batch_execute(&format!("DELETE FROM ONLY {}", t.target.sql()))
        .await
        .map_err(err)?;
    let cols: Vec<String> = t.columns.iter().map(|c| ident(c)).collect();
    let sink = tx
        .copy_in::<_, Bytes>(&format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            t.target.sql(),
            cols.join(", ")
        ))
        .await
        .map_err(err)?;
    futures::pin_mut!(sink);
    let stream = source
        .copy_out(&select_sql(t, &[]))
        .await
        .map_err(src_err)?;
    futures::pin_mut!(stream);
    let mut reader = TupleReader::new();
    let mut uploads = tokio::task::JoinSet::new();
    let mut buf = BytesMut::new();
    frames::write_header(&mut buf);
    while let Some(data) = stream.next().await {
        reader.push(&data.map_err(src_err)?);
        while let Some(src) = reader.next_tuple()? {
            let built = target_tuple(t, batching.namespace.as_ref(), uploader, &src)?;
            if let Some(up) = uploader {
                for object in built.objects {
                    up.start(object, &mut uploads, events).await?;
                }
            }
            buf.extend_from_slice(&built.tuple.raw);
            if buf.len() > 1 << 20 {
                sink.as_mut()
                    .send(buf.split().freeze())
                    .await
                    .map_err(err)?;
            }
        }
    }
    frames::write_trailer(&mut buf);
    sink.as_mut().send(buf.freeze()).await.map_err(err)?;
    let rows = sink.as_mut().finish().await.map_err(err)?;
    crate::blob::finish(&mut uploads).await?;
    tx.commit().await.map_err(err)?;
    Ok(rows)
}

/// Writes one batch and its manifest rows in one transaction, retrying what can be retried.
/// The last batch of a chunk also records the chunk as done, with the chunk's `(rows,
/// bytes)`.
#[allow(clippy::too_many_arguments)]
async fn commit(
    ctx: &Ctx,
    target: &mut Option<Client>,
    t: &TablePlan,
    chunk: &Chunk,
    part: u32,
    batch: &Pending,
    last: Option<&ChunkEnd>,
    batching: &Batching,
    events: &EventSink,
) -> Result<()> {
    let policy = RetryPolicy::default();
    let mut attempt = 1;
    loop {
        let result = async {
            if target.is_none() {
                *target = Some(ctx.target_session(Purpose::Writer).await?);
                // After a lost connection the commit may have happened after all.
                if already_committed(
                    target.as_ref().expect("just opened"),
                    t,
                    chunk,
                    part,
                    batch,
                    last,
                )
                .await?
                {
                    return Ok(());
                }
            }
            write(
                target.as_mut().expect("open"),
                t,
                chunk,
                part,
                batch,
                last,
                batching,
            )
            .await
        }
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) => {
                *target = None;
                if !policy.should_retry(&e, attempt) {
                    return Err(e.with_table(&t.name).with_chunk(chunk.no));
                }
                let delay = policy.delay(attempt);
                events.retry(
                    format!("{} chunk {} batch {part}", t.name, chunk.no),
                    attempt,
                    delay,
                    &e,
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

async fn already_committed(
    target: &Client,
    t: &TablePlan,
    chunk: &Chunk,
    part: u32,
    batch: &Pending,
    last: Option<&ChunkEnd>,
) -> Result<bool> {
    if !batch.tuples.is_empty() {
        return state::chunk_part_committed(target, &t.name, chunk.no, part).await;
    }
    Ok(last.is_some() && state::chunk_done_exists(target, &t.name, chunk.no).await?)
}

async fn write(
    target: &mut Client,
    t: &TablePlan,
    chunk: &Chunk,
    part: u32,
    batch: &Pending,
    last: Option<&ChunkEnd>,
    batching: &Batching,
) -> Result<()> {
    let err = |e| Error::db(ErrorKind::Target, "writing", e);
    let tx = target.transaction().await.map_err(err)?;
    let cols: Vec<String> = t.columns.iter().map(|c| ident(c)).collect();
    if !batch.tuples.is_empty() {
        match batching.write {
            DsqlWrite::Copy => {
                let mut buf = BytesMut::with_capacity(batch.bytes as usize + 64);
                frames::write_header(&mut buf);
                for tuple in &batch.tuples {
                    buf.extend_from_slice(&tuple.raw);
                }
                frames::write_trailer(&mut buf);
                let sink = tx
                    .copy_in::<_, Bytes>(&format!(
                        "COPY {} ({}) FROM STDIN (FORMAT binary)",
                        t.target.sql(),
                        cols.join(", ")
                    ))
                    .await
                    .map_err(err)?;
                futures::pin_mut!(sink);
                sink.as_mut().send(buf.freeze()).await.map_err(err)?;
                sink.as_mut().finish().await.map_err(err)?;
            }
            DsqlWrite::Insert => insert(&tx, t, &batch.tuples, "").await?,
        }
        if !batch.digests.is_empty() {
            state::write_digest_block(&tx, &t.name, chunk.no, 0, part as i32, &batch.digests)
                .await?;
        }
        tx.batch_execute(&state::chunk_part_sql(
            &t.name,
            chunk.no,
            part,
            &batch.last_key,
            batch.tuples.len() as u64,
            batch.bytes,
        ))
        .await
        .map_err(err)?;
    }
    if let Some((rows, bytes, fp, digests)) = last {
        tx.batch_execute(&state::chunk_done_sql(
            &t.name,
            chunk.no,
            *rows,
            *bytes,
            fp.as_ref(),
            *digests,
        ))
        .await
        .map_err(err)?;
    }
    crate::faults::crash_point("copy.batch.before_commit");
    tx.commit().await.map_err(err)?;
    crate::faults::crash_point("copy.batch.after_commit");
    Ok(())
}

/// A three-column `public.users` table whose `id` and `org_id` become UUIDs and whose
/// `name` is indexed, for the unit tests and the fuzz checks.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn example_table() -> TablePlan {
    TablePlan {
        name: crate::sql::QualName::new("public", "users"),
        target: crate::sql::QualName::new("public", "users"),
        columns: vec!["id".into(), "org_id".into(), "name".into()],
        read: vec!["\"id\"".into(), "\"org_id\"".into(), "\"name\"".into()],
        uuid_keys: vec![
            Some("public.users:".into()),
            Some("public.orgs:".into()),
            None,
        ],
        blobs: vec![None; 3],
        key: vec!["id".into()],
        key_fields: vec![0],
        key_types: vec!["integer".into()],
        key_target_types: vec!["integer".into()],
        index_columns: vec![vec![2]],
        format: crate::plan::CopyFormat::Binary,
        chunking: crate::plan::Chunking::KeyRange {
            column: "id".into(),
        },
        chunks: Vec::new(),
        est_rows: 0,
        est_bytes: 0,
        watermark: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_key_order_after_the_resume_point() {
        let t = example_table();
        let c = Chunk {
            no: 1,
            lower: Some(100),
            upper: Some(200),
        };
        assert_eq!(
            read_sql(&t, &c, Some(&["150".to_string()])),
            "COPY (SELECT \"id\", \"org_id\", \"name\", (src.\"id\")::text AS \"__key0\" FROM ONLY \"public\".\"users\" AS src \
             WHERE \"id\" >= 100 AND \"id\" < 200 AND (src.\"id\") > ('150'::integer) ORDER BY src.\"id\") TO STDOUT (FORMAT binary)"
        );
    }

    #[test]
    fn keys_become_uuids_and_key_text_is_dropped() {
        let t = example_table();
        let mut src = BytesMut::new();
        frames::tests::write_tuple(
            &mut src,
            [
                Some(&7i32.to_be_bytes()[..]),
                None,
                Some(&b"ann"[..]),
                Some(&b"7"[..]),
            ]
            .into_iter(),
        );
        let mut r = TupleReader::new();
        let mut all = BytesMut::new();
        frames::write_header(&mut all);
        all.extend_from_slice(&src);
        r.push(&all);
        let src = r.next_tuple().unwrap().unwrap();
        let ns = keys::default_namespace();
        let Built {
            tuple: out, key, ..
        } = target_tuple(&t, Some(&ns), None, &src).unwrap();
        assert_eq!(key, vec!["7".to_string()]);
        assert_eq!(out.fields.len(), 3);
        assert_eq!(
            out.field(0).unwrap(),
            keys::key_uuid(&ns, "public.users:", 7).as_bytes()
        );
        assert_eq!(out.field(1), None, "NULL foreign keys stay NULL");
        assert_eq!(out.field(2).unwrap(), b"ann");
    }
}
