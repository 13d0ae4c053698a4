//! One chunk, source to target: `COPY ... TO STDOUT` on the source streamed into
//! `COPY ... FROM STDIN` on the target without decoding a row, the reader and the writer
//! running side by side with a few buffers between them; the chunk's manifest row commits
//! in the same target transaction as its rows. A key-range chunk's row digests are
//! stored as they fill a block, through a second target session, so a worker holds at most
//! a block of them whatever the chunk's size; the manifest row that makes them count
//! commits with the chunk.

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio_postgres::Client;

use crate::Ctx;
use crate::context::Purpose;
use crate::digest;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Chunk, CopyFormat, TablePlan};
use crate::sql::ident;
use crate::state;

/// Buffers in flight between reader and writer, per chunk.
const IN_FLIGHT: usize = 4;

fn format_clause(f: CopyFormat) -> &'static str {
    match f {
        CopyFormat::Binary => " (FORMAT binary)",
        CopyFormat::Text => "",
    }
}

/// `(a, b, c)`, or nothing for a table without stored columns (which can still hold rows).
fn column_list(t: &TablePlan) -> String {
    if t.columns.is_empty() {
        return String::new();
    }
    let cols: Vec<String> = t.columns.iter().map(|c| ident(c)).collect();
    format!(" ({})", cols.join(", "))
}

/// The source statement that reads a chunk: `COPY table` when it can (the fastest path),
/// else `COPY (SELECT ...)` for a key or page range or a column read as an expression.
pub(crate) fn copy_out_sql(t: &TablePlan, chunk: &Chunk) -> String {
    let plain = t.read.iter().zip(&t.columns).all(|(r, c)| *r == ident(c));
    let predicate = t.chunking.predicate(chunk);
    if plain && predicate.is_none() {
        return format!(
            "COPY {}{} TO STDOUT{}",
            t.name.sql(),
            column_list(t),
            format_clause(t.format)
        );
    }
    let select = if t.read.is_empty() {
        String::new()
    } else {
        t.read.join(", ")
    };
    format!(
        "COPY (SELECT {select} FROM ONLY {}{}) TO STDOUT{}",
        t.name.sql(),
        predicate.map(|p| format!(" WHERE {p}")).unwrap_or_default(),
        format_clause(t.format)
    )
}

/// The target statement that writes a chunk.
pub(crate) fn copy_in_sql(t: &TablePlan) -> String {
    format!(
        "COPY {}{} FROM STDIN{}",
        t.name.sql(),
        column_list(t),
        format_clause(t.format)
    )
}

/// What a chunk moved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moved {
    pub rows: u64,
    pub bytes: u64,
}

/// Copies one chunk and commits it with its manifest row. On error nothing is committed
/// but row digest blocks, which count only once the manifest row does (a retry writes them
/// again); the caller discards the connections. `side`: the worker's session for digest
/// blocks, opened here when first needed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn copy_chunk(
    ctx: &Ctx,
    source: &Client,
    target: &mut Client,
    side: &mut Option<Client>,
    table: &TablePlan,
    chunk: &Chunk,
    buffer: usize,
    fingerprints: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Moved> {
    let src_err = |e| {
        Error::db(ErrorKind::Source, "reading", e)
            .with_table(&table.name)
            .with_chunk(chunk.no)
    };
    let dst_err = |e| {
        Error::db(ErrorKind::Target, "writing", e)
            .with_table(&table.name)
            .with_chunk(chunk.no)
    };

    let tx = target.transaction().await.map_err(dst_err)?;
    let sink = tx
        .copy_in::<_, Bytes>(&copy_in_sql(table))
        .await
        .map_err(dst_err)?;
    let stream = source
        .copy_out(&copy_out_sql(table, chunk))
        .await
        .map_err(src_err)?;

    let (tx_buf, mut rx_buf) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    // The chunk's fingerprint, from the bytes as they pass.
    let mut scanner = fingerprints.then(|| {
        crate::frames::RowScanner::new(
            table.format == CopyFormat::Binary,
            digest::range_field(table),
        )
    });
    // A key-range chunk keeps each row's digest too, for sync.
    let mut hasher = match digest::range_field(table) {
        Some(_) => crate::hash::ChunkHasher::keeping_rows(),
        None => crate::hash::ChunkHasher::default(),
    };
    // Digest blocks already stored, and the digests in them.
    let (mut blocks, mut stored) = (0i32, 0i64);
    let reader = async {
        futures::pin_mut!(stream);
        // Hands a buffer to the writer; false once the writer has stopped (its error is
        // the one to report).
        let forward = async |b: Bytes| {
            let n = b.len() as u64;
            let sent = tx_buf.send(b).await.is_ok();
            if sent {
                progress(n);
            }
            sent
        };
        let mut buf = BytesMut::with_capacity(buffer);
        let mut total = 0u64;
        while let Some(part) = stream.next().await {
            let part = part.map_err(src_err)?;
            total += part.len() as u64;
            if let Some(s) = scanner.as_mut() {
                s.push(&part, &mut |row, key| hasher.row(row, key))?;
                if let Some(full) = hasher.take_block(state::DIGEST_BLOCK) {
                    if side.is_none() {
                        *side = Some(ctx.target_session(Purpose::Plain).await?);
                    }
                    let client = side.as_ref().expect("just opened");
                    state::write_digest_block(client, &table.name, chunk.no, 0, blocks, &full)
                        .await
                        .map_err(|e| e.with_table(&table.name).with_chunk(chunk.no))?;
                    blocks += 1;
                    stored += full.len() as i64;
                }
            }
            // What the buffer holds goes on before a piece that would not fit: a buffer
            // that grew would reallocate, copying its bytes again, and hold up to twice
            // its size.
            if !buf.is_empty() && buf.len() + part.len() > buffer {
                if !forward(buf.split().freeze()).await {
                    return Ok(total);
                }
                buf.reserve(buffer);
            }
            if part.len() >= buffer {
                // A piece as large as a buffer (a wide row: PostgreSQL sends each row as one
                // message) goes on as it is; copying it too would hold the row twice more.
                if !forward(part).await {
                    return Ok(total);
                }
                continue;
            }
            buf.extend_from_slice(&part);
        }
        if !buf.is_empty() {
            forward(buf.freeze()).await;
        }
        drop(tx_buf);
        Ok::<u64, Error>(total)
    };
    let writer = async move {
        futures::pin_mut!(sink);
        while let Some(b) = rx_buf.recv().await {
            sink.as_mut().send(b).await.map_err(dst_err)?;
        }
        sink.as_mut().finish().await.map_err(dst_err)
    };
    let (read, written) = tokio::join!(reader, writer);
    // A reader failure must win: the writer may have finished a COPY of partial data,
    // which the dropped transaction rolls back.
    let bytes = read?;
    let rows = written?;
    let mut digests = None;
    let fp = match scanner {
        Some(s) if s.finished() => {
            if let Some(entries) = hasher.take_entries() {
                // The rest, less than a block, with the chunk (nothing if none is left).
                if !entries.is_empty() {
                    state::write_digest_block(&tx, &table.name, chunk.no, 0, blocks, &entries)
                        .await
                        .map_err(|e| e.with_table(&table.name).with_chunk(chunk.no))?;
                }
                digests = Some((0, stored + entries.len() as i64));
            }
            Some(hasher.finish())
        }
        Some(_) => {
            return Err(Error::new(ErrorKind::Source, "the COPY stream ended early")
                .retryable(true)
                .with_table(&table.name)
                .with_chunk(chunk.no));
        }
        None => None,
    };
    tx.batch_execute(&state::chunk_done_sql(
        &table.name,
        chunk.no,
        rows,
        bytes,
        fp.as_ref(),
        digests,
    ))
    .await
    .map_err(dst_err)?;
    crate::faults::crash_point("copy.chunk.before_commit");
    tx.commit().await.map_err(dst_err)?;
    Ok(Moved { rows, bytes })
}
