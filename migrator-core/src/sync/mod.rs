//! Final sync: brings a target that `copy` filled up to date with the source, in time
//! proportional to what changed. Under a new snapshot every chunk is probed. A chunk of an
//! integer key whose rows' digests the target stores is probed by transaction ids: the
//! source sends only the row versions written since the copy's (or the last sync's)
//! snapshot, which are hashed and compared with the stored digests, and counts the chunk's
//! rows; keys that vanished show in the count and are then named from the chunk's keys.
//! Other chunks are streamed and fingerprinted again; a changed fingerprint is narrowed to
//! rows by the stored digests or, without them, by comparing the chunk row by row with the
//! target (`verify::digest`). Key ranges past a table's old end become new chunks. Only rows that differ are written:
//! upserts parents first, then deletes children first, each transaction under the profile's
//! limits (rows are built exactly as copy builds them: UUID keys, blob objects uploaded
//! before the transaction that names them). Then the chunks' new state is recorded, the
//! snapshot's transaction horizon last, and sequences are advanced again. Every write is an
//! upsert or a delete by key, so an interrupted sync is simply run again.
//!
//! Tables a range cannot cut on both sides (no integer key, a key the target turns into a
//! UUID, partitions merged into one target table) are compared whole when any of their
//! chunks changed, still writing only the rows that differ. A table without a primary key
//! is rewritten whole when it changed: in one transaction where the profile allows, else
//! deleted and reloaded in batches (it is briefly incomplete; a re-run finishes it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use tracing::instrument::WithSubscriber;

use crate::Ctx;
use crate::config::ChangeDetection;
use crate::context::Purpose;
use crate::copy::{batch, post};
use crate::ddl::StepKind;
use crate::digest::{self, BlobNames, RowDiff, Unit};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink, Stage};
use crate::hash::{self, Fingerprint};
use crate::plan::{Chunk, Chunking, Continuing, Plan, TablePlan};
use crate::snapshot;
use crate::sql::{QualName, ident};
use crate::state::{self, RunLock};

/// What a sync did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SyncSummary {
    /// Tables in the plan.
    pub tables: usize,
    /// Chunks probed for changes under the new snapshot.
    pub chunks_checked: usize,
    /// Of those, chunks whose changed rows the source named by transaction ids (the rest
    /// were streamed and fingerprinted).
    pub chunks_by_xid: usize,
    /// Chunks whose rows changed since the copy (or the last sync).
    pub chunks_changed: usize,
    /// Chunks added for key ranges past a table's old end.
    pub chunks_added: usize,
    /// Rows written (inserted or updated) in the target.
    pub rows_written: u64,
    /// Rows deleted from the target.
    pub rows_deleted: u64,
    /// Failures retried along the way.
    pub retries: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// A chunk to fingerprint: the conditions its copy covered, and what it recorded.
#[derive(Debug, Clone)]
struct Check {
    table: usize,
    chunk: Chunk,
    conditions: Vec<String>,
    recorded: Option<Fingerprint>,
}

/// A chunk to fingerprint again, with what its copy (or last sync) recorded.
#[derive(Debug, Clone)]
struct Probe {
    table: usize,
    chunk: u32,
    conditions: Vec<String>,
    recorded: Option<Fingerprint>,
    /// Stored row digests: generation and row count.
    stored: Option<(i32, i64)>,
    /// A key range past the old end, which the target does not hold yet.
    new_range: bool,
}

/// What probing a chunk found.
struct Probed {
    /// Whether the chunk's rows differ from what the target was given.
    changed: bool,
    /// Whether transaction ids told (no fingerprint was computed).
    by_xid: bool,
    /// What to record for the chunk once the target holds its rows.
    fp: Option<Fingerprint>,
    /// Source keys of rows new or changed, and of rows gone, from the stored row digests.
    changes: Option<(Vec<i64>, Vec<i64>)>,
    /// The row digests stored for the new state (not yet in use): generation and rows.
    digests: Option<(i32, i64)>,
}

/// One task of a sync worker.
enum Task {
    Fingerprint(Probe),
    /// The source keys of the rows these conditions select.
    Keys(usize, Vec<String>),
    /// Rows past a key: their count and largest key.
    Tail(usize, i64),
    Diff(Unit),
    Upsert(usize, Vec<Vec<String>>),
    Delete(usize, Vec<Vec<String>>),
    /// A table without a primary key, rewritten whole.
    Rewrite(usize),
}

enum Outcome {
    Fingerprint(Probed),
    Keys(Vec<Vec<String>>),
    Tail(i64, Option<i64>),
    Diff(RowDiff),
    Rows(u64),
    /// A write a foreign key refused (its parent comes later): tried again after the rest.
    Deferred,
}

struct Pool {
    ctx: Arc<Ctx>,
    snapshot: String,
    /// The condition selecting row versions newer than the copy's (or last sync's)
    /// snapshot, where the source's transaction ids allow it.
    since: Option<Arc<str>>,
    tables: Arc<Vec<TablePlan>>,
    batching: batch::Batching,
    uploader: Option<Arc<crate::blob::Uploader>>,
    names: Arc<BlobNames>,
    events: EventSink,
    cancel: CancellationToken,
}

/// Runs a sync to the end.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    plan: Plan,
    events: EventSink,
    cancel: CancellationToken,
) -> Result<SyncSummary> {
    let started = Instant::now();
    if let Some(e) = plan.refusal() {
        return Err(e);
    }
    let lock = RunLock::acquire(
        ctx.target_session(Purpose::Plain).await?,
        ctx.rules.advisory_locks,
        &events,
    )
    .await?;
    let result = sync_locked(ctx, plan, events.clone(), cancel, started).await;
    lock.release().await;
    result
}

/// The sync, with the target's run lock held.
async fn sync_locked(
    ctx: Arc<Ctx>,
    plan: Plan,
    events: EventSink,
    cancel: CancellationToken,
    started: Instant,
) -> Result<SyncSummary> {
    let control = ctx.target_session(Purpose::Writer).await?;
    let coordinator = ctx.source_compare_session().await?;
    let source_id = state::ensure_distinct(&coordinator, &control).await?;
    let Some(manifest) = state::load(&control).await? else {
        return Err(Error::new(
            ErrorKind::Conflict,
            "the target holds no copy to sync: run `migrator copy` first",
        ));
    };
    let tables = plan.continuing(&manifest, &source_id, Continuing::Sync)?;
    let snapshot = snapshot::export(&coordinator).await?;
    let horizon = snapshot::horizon(&coordinator).await?;
    let since = match (ctx.config.sync.changes, manifest.xid_horizon) {
        (ChangeDetection::Xid, Some(h)) => {
            let since = horizon.changed_since(h);
            if since.is_none() {
                events.send(Event::Warning {
                    message: "the source's transaction ids are not comparable with the copy's \
                              (restored, or over a billion transactions later): every chunk is \
                              fingerprinted again"
                        .into(),
                });
            }
            since
        }
        _ => None,
    };
    events.send(Event::Stage(Stage::Sync));
    // Watermark tables with a recorded value: changed rows by watermark, not fingerprints.
    let marks: Vec<(usize, &crate::watermark::Watermark)> = tables
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.watermark.as_ref().map(|w| (i, w)))
        .collect();
    let new_marks = crate::watermark::values(
        &coordinator,
        &marks
            .iter()
            .map(|(i, w)| (&tables[*i].name, *w))
            .collect::<Vec<_>>(),
    )
    .await?;
    let mut by_mark: HashMap<usize, Vec<String>> = HashMap::new();
    for (ti, m) in &marks {
        let t = &tables[*ti];
        let merged = tables.iter().filter(|x| x.target == t.target).count() > 1;
        match manifest.watermarks.get(&t.name.to_string()) {
            Some(_) if merged => events.send(Event::Warning {
                message: format!(
                    "{}: its rows share a target table with other partitions; synced by fingerprints, not by its watermark",
                    t.name
                ),
            }),
            Some(recorded) => {
                by_mark.insert(
                    *ti,
                    m.condition(recorded.as_deref(), ctx.config.sync.overlap_seconds),
                );
            }
            None => {}
        }
    }

    let tables = Arc::new(tables);
    let pool = Pool {
        ctx: ctx.clone(),
        snapshot,
        since: since.map(Arc::from),
        tables: tables.clone(),
        batching: batch::Batching::of(&ctx, plan.key_namespace, true),
        uploader: crate::blob::Uploader::for_run(
            &ctx.config,
            ctx.jobs(),
            tables.iter().any(TablePlan::has_blobs),
        )
        .await?,
        names: Arc::new(BlobNames::of(&ctx.config.blobs)?),
        events: events.clone(),
        cancel,
    };
    let mut summary = SyncSummary {
        tables: tables.len(),
        ..SyncSummary::default()
    };

    let mut phase = Instant::now();
    let mut lap = |what: &str| {
        tracing::info!(
            phase = what,
            seconds = phase.elapsed().as_secs_f64(),
            "sync phase done"
        );
        phase = Instant::now();
    };
    // 1. Every chunk's fingerprint, under the new snapshot; rows past each table's old end.
    let mut checks = Vec::new();
    let mut tails = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        if by_mark.contains_key(&ti) {
            continue;
        }
        for c in &t.chunks {
            let recorded = manifest
                .fingerprints
                .get(&(t.name.to_string(), c.no))
                .cloned();
            let mut conditions = digest::chunk_conditions(t, c);
            if let (Chunking::KeyRange { column }, None, Some(max)) = (
                &t.chunking,
                c.upper,
                recorded.as_ref().and_then(|f| f.max_key),
            ) {
                // The last chunk covers what it held; newer keys become chunks of their own.
                conditions.push(format!("{} <= {max}", ident(column)));
                tails.push((ti, *c, max));
            }
            checks.push(Check {
                table: ti,
                chunk: *c,
                conditions,
                recorded,
            });
        }
    }
    summary.chunks_checked = checks.len();
    // The largest chunks first, so that no worker is left with a big one at the end.
    checks.sort_by_key(|c| {
        let t = &tables[c.table];
        std::cmp::Reverse(t.est_rows / t.chunks.len().max(1) as i64)
    });
    let probe =
        |table: usize, chunk: u32, conditions: Vec<String>, recorded: Option<Fingerprint>| {
            let stored = manifest
                .digests
                .get(&(tables[table].name.to_string(), chunk))
                .copied();
            Task::Fingerprint(Probe {
                table,
                chunk,
                conditions,
                recorded,
                stored,
                new_range: false,
            })
        };
    let mut tasks: Vec<Task> = checks
        .iter()
        .map(|c| {
            probe(
                c.table,
                c.chunk.no,
                c.conditions.clone(),
                c.recorded.clone(),
            )
        })
        .collect();
    tasks.extend(tails.iter().map(|(ti, _, max)| Task::Tail(*ti, *max)));
    let mut results = pool.run(tasks).await?.into_iter();
    let mut fresh: HashMap<(usize, u32), Fingerprint> = HashMap::new();
    let mut changed: HashSet<(usize, u32)> = HashSet::new();
    // Per changed chunk that had row digests: the keys to write and to delete.
    let mut known: HashMap<(usize, u32), (Vec<i64>, Vec<i64>)> = HashMap::new();
    let mut new_digests: HashMap<(usize, u32), (i32, i64)> = HashMap::new();
    for c in &checks {
        let Some(Outcome::Fingerprint(p)) = results.next() else {
            return Err(Error::internal("fingerprint result missing"));
        };
        summary.chunks_by_xid += usize::from(p.by_xid);
        if p.changed {
            changed.insert((c.table, c.chunk.no));
            if let Some(k) = p.changes {
                known.insert((c.table, c.chunk.no), k);
            }
            if let Some(d) = p.digests {
                new_digests.insert((c.table, c.chunk.no), d);
            }
        }
        if let Some(fp) = p.fp {
            fresh.insert((c.table, c.chunk.no), fp);
        }
    }
    // New chunks past the old end, cut like copy cuts: by the table's bytes per row.
    let mut added: Vec<(usize, Chunk, Chunk)> = Vec::new();
    let mut new_chunks: HashMap<usize, Vec<Chunk>> = HashMap::new();
    for (ti, last, max) in &tails {
        let Some(Outcome::Tail(rows, Some(new_max))) = results.next() else {
            continue;
        };
        let t = &tables[*ti];
        let row_bytes = (t.est_bytes.max(1) as f64 / t.est_rows.max(1) as f64).max(1.0);
        let chunk_bytes = (ctx.config.copy.chunk_mib * 1024 * 1024) as f64;
        let n = ((rows as f64 * row_bytes / chunk_bytes).ceil() as i64).max(1);
        let next_no = t.chunks.iter().map(|c| c.no).max().unwrap_or(0) + 1;
        let span = (new_max - max).max(1);
        let step = (span + n - 1) / n;
        let mut lower = max + 1;
        let mut cut = Vec::new();
        for i in 0..n {
            let upper = if i == n - 1 { None } else { Some(lower + step) };
            cut.push(Chunk {
                no: next_no + i as u32,
                lower: Some(lower),
                upper,
            });
            if let Some(u) = upper {
                lower = u;
            }
        }
        let mut closed = *last;
        closed.upper = Some(max + 1);
        for c in &cut {
            added.push((*ti, closed, *c));
        }
        new_chunks.insert(*ti, cut);
    }
    summary.chunks_changed = changed.len();
    summary.chunks_added = added.len();
    // The new chunks go into the manifest first, without fingerprints: should this sync
    // stop before its end, the next one compares them with the target, which then may
    // hold some of their rows.
    let recorded: Vec<String> = added
        .iter()
        .flat_map(|(ti, closed, c)| {
            let t = &tables[*ti];
            [
                state::chunk_sql(&t.name, &t.chunking, closed),
                state::chunk_sql(&t.name, &t.chunking, c),
                state::chunk_synced_sql(&t.name, c.no, None, None),
            ]
        })
        .collect();
    state::record(&control, &recorded, "recording new chunks", &events).await?;
    let added_tasks: Vec<Task> = added
        .iter()
        .map(|(ti, _, c)| {
            let Task::Fingerprint(mut p) =
                probe(*ti, c.no, digest::chunk_conditions(&tables[*ti], c), None)
            else {
                unreachable!("probe makes fingerprint tasks")
            };
            p.new_range = true;
            Task::Fingerprint(p)
        })
        .collect();
    for ((ti, _, c), r) in added.iter().zip(pool.run(added_tasks).await?) {
        if let Outcome::Fingerprint(p) = r {
            if let Some(fp) = p.fp {
                fresh.insert((*ti, c.no), fp);
            }
            changed.insert((*ti, c.no));
            if let Some(k) = p.changes {
                known.insert((*ti, c.no), k);
            }
            if let Some(d) = p.digests {
                new_digests.insert((*ti, c.no), d);
            }
        }
    }
    // What the row digests settled needs no comparison with the target.
    let mut upserts: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
    let mut deletes: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
    let settled = |ti: usize, no: u32| known.contains_key(&(ti, no));
    for ((ti, _), (write, gone)) in &known {
        let t = &tables[*ti];
        upserts
            .entry(*ti)
            .or_default()
            .extend(write.iter().map(|k| vec![k.to_string()]));
        let uuid = t
            .key_fields
            .first()
            .and_then(|&f| t.uuid_keys[f].as_deref());
        let target_key = |k: i64| match (uuid, plan.key_namespace.as_ref()) {
            (Some(prefix), Some(ns)) => crate::transform::keys::key_uuid(ns, prefix, k).to_string(),
            _ => k.to_string(),
        };
        deletes
            .entry(*ti)
            .or_default()
            .extend(gone.iter().map(|k| vec![target_key(*k)]));
    }

    lap("probing chunks");
    // 2. Units to compare row by row.
    let mut groups: BTreeMap<QualName, Vec<usize>> = BTreeMap::new();
    for (i, t) in tables.iter().enumerate() {
        groups.entry(t.target.clone()).or_default().push(i);
    }
    let mut units = Vec::new();
    let mut rewrites = Vec::new();
    for (target, idxs) in &groups {
        let touched = idxs
            .iter()
            .any(|i| changed.iter().any(|(ti, no)| ti == i && !settled(*ti, *no)));
        if !touched {
            continue;
        }
        if idxs.iter().any(|&i| !digest::keyed(&tables[i])) {
            rewrites.extend(idxs.iter().copied());
            continue;
        }
        match idxs.as_slice() {
            [i] if digest::range_column(&tables[*i]).is_some() => {
                let t = &tables[*i];
                let all = t
                    .chunks
                    .iter()
                    .chain(new_chunks.get(i).into_iter().flatten());
                for c in all.filter(|c| changed.contains(&(*i, c.no)) && !settled(*i, c.no)) {
                    let mut conditions = digest::chunk_conditions(t, c);
                    // The old last chunk now ends where the new ones start.
                    if let Some((_, closed, _)) =
                        added.iter().find(|(ti, l, _)| ti == i && l.no == c.no)
                    {
                        conditions = digest::chunk_conditions(t, closed);
                    }
                    units.push(Unit {
                        target: target.clone(),
                        parts: vec![(*i, conditions.clone())],
                        target_conditions: conditions,
                        keys_only: false,
                    });
                }
            }
            _ => units.extend(
                crate::verify::units(&tables, target, idxs)
                    .into_iter()
                    .map(|u| Unit {
                        // Whole tables: a key range cannot be cut on both sides.
                        target_conditions: Vec::new(),
                        parts: u.parts.into_iter().map(|(i, _)| (i, Vec::new())).collect(),
                        target: u.target,
                        keys_only: false,
                    }),
            ),
        }
    }
    // Watermark tables: their changed rows, and a comparison of keys to find deletes.
    let marked: Vec<(usize, Vec<String>)> = by_mark.into_iter().collect();
    let keys = pool
        .run(
            marked
                .iter()
                .map(|(ti, c)| Task::Keys(*ti, c.clone()))
                .collect(),
        )
        .await?;
    for ((ti, _), k) in marked.iter().zip(keys) {
        if let Outcome::Keys(k) = k {
            upserts.entry(*ti).or_default().extend(k);
        }
        units.push(Unit {
            target: tables[*ti].target.clone(),
            parts: vec![(*ti, Vec::new())],
            target_conditions: Vec::new(),
            keys_only: true,
        });
    }
    let diffs = pool
        .run(units.iter().cloned().map(Task::Diff).collect())
        .await?;
    for (unit, d) in units.iter().zip(diffs) {
        let Outcome::Diff(d) = d else { continue };
        let ti = unit.parts[0].0;
        let t = &tables[ti];
        // A source key belongs to the source table whose digest named it: with several
        // (partitions), the rows are fetched from each; a key absent there reads nothing.
        for &(pi, _) in &unit.parts {
            upserts
                .entry(pi)
                .or_default()
                .extend(d.changed.iter().chain(&d.missing).cloned());
        }
        if !d.extra.is_empty() {
            deletes.entry(ti).or_default().extend(d.extra);
        }
        tracing::debug!(table = %t.target, "sync diff");
    }

    // A key may come from its chunk's row digests and from a whole-table comparison too.
    for keys in upserts.values_mut().chain(deletes.values_mut()) {
        keys.sort();
        keys.dedup();
    }

    lap("comparing with the target");
    // 3. Writes: upserts parents first, deletes children first.
    let names: Vec<String> = tables.iter().map(|t| t.target.to_string()).collect();
    let levels = crate::target::fk_levels(&control, &names).await?;
    let by_level = |map: &BTreeMap<usize, Vec<Vec<String>>>, reverse: bool| {
        let mut out: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for ti in map.keys() {
            out.entry(levels[*ti]).or_default().push(*ti);
        }
        let mut v: Vec<Vec<usize>> = out.into_values().collect();
        if reverse {
            v.reverse();
        }
        v
    };
    for level in by_level(&upserts, false) {
        let tasks: Vec<Task> = level
            .iter()
            .flat_map(|ti| {
                upserts[ti]
                    .chunks(10_000)
                    .map(|k| Task::Upsert(*ti, k.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        summary.rows_written += pool.run_deferring(tasks).await?;
    }
    if !rewrites.is_empty() {
        let tasks = rewrites.iter().map(|&ti| Task::Rewrite(ti)).collect();
        summary.rows_written += pool.run_deferring(tasks).await?;
    }
    for level in by_level(&deletes, true) {
        let tasks: Vec<Task> = level
            .iter()
            .flat_map(|ti| {
                deletes[ti]
                    .chunks(10_000)
                    .map(|k| Task::Delete(*ti, k.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        summary.rows_deleted += pool.run_deferring(tasks).await?;
    }

    lap("writing rows");
    // 4. The manifest: new chunks, and the fingerprint of every chunk the target now matches.
    let mut statements = Vec::new();
    // Every generation of row digests stored, to drop the ones no longer in use (including
    // leftovers of an interrupted sync) a bounded number of blocks at a time.
    let stored_blocks = state::digest_blocks(&control).await?;
    let drop_generations = |t: &TablePlan, chunk: u32, keep: Option<i32>| -> Vec<String> {
        stored_blocks
            .get(&(t.name.to_string(), chunk))
            .into_iter()
            .flatten()
            .filter(|(generation, _)| Some(*generation) != keep)
            .flat_map(|&(generation, blocks)| {
                state::drop_generation_sql(&t.name, chunk, generation, blocks)
            })
            .collect()
    };
    for (ti, no) in &changed {
        let t = &tables[*ti];
        let mut fp = fresh.get(&(*ti, *no)).cloned();
        // The old last chunk's fingerprint covered up to its old largest key, and still does.
        if let (Some(f), Some((_, _, max))) = (
            fp.as_mut(),
            tails.iter().find(|(i, c, _)| i == ti && c.no == *no),
        ) {
            f.max_key = f.max_key.or(Some(*max));
        }
        // The row digests of the new state come into use with it; older ones go.
        let digests = new_digests.get(&(*ti, *no)).copied();
        statements.push(state::chunk_synced_sql(&t.name, *no, fp.as_ref(), digests));
        statements.extend(drop_generations(t, *no, digests.map(|(g, _)| g)));
    }
    for (name, value) in &new_marks {
        statements.push(state::watermark_sql(name, value.as_deref(), true));
    }
    // A table synced by its watermark keeps no row digests or fingerprints: they would
    // describe its rows as the copy saw them, not as they are now.
    for (ti, _) in &marked {
        let t = &tables[*ti];
        for c in &t.chunks {
            statements.push(state::chunk_synced_sql(&t.name, c.no, None, None));
            statements.extend(drop_generations(t, c.no, None));
        }
    }
    statements.dedup();
    // Last: every chunk now holds the rows this snapshot saw.
    statements.push(state::horizon_sql(horizon.xmin, true));
    state::record(&control, &statements, "recording the sync", &events).await?;

    lap("recording");
    // 5. Sequences and identities, past the source's values again.
    let todo: Vec<usize> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == StepKind::SequenceValue)
        .map(|(i, _)| i)
        .collect();
    let todo_steps: Vec<_> = todo.iter().map(|&i| plan.steps[i].clone()).collect();
    let sequences = post::read_sequences(&coordinator, &todo_steps).await?;
    let _ = coordinator.batch_execute("COMMIT").await;
    post::run_steps(
        &ctx,
        &plan.steps,
        todo,
        post::DataGate::open(sequences),
        &HashMap::new(),
        &events,
        &pool.cancel,
    )
    .await?;
    lap("sequences");
    summary.retries = events.retries();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// What probing chunks needs besides sessions.
struct Probing<'a> {
    ctx: &'a Ctx,
    tables: &'a [TablePlan],
    /// The condition selecting row versions written since the horizon, where usable.
    since: Option<&'a str>,
    events: &'a EventSink,
}

/// Probes a chunk under the sync's snapshot. A key-range chunk with stored row digests is
/// probed by transaction ids where the source allows it (`probe_by_xid`). Otherwise its rows
/// are streamed and fingerprinted; when the fingerprint changed, the rows' digests compared
/// with the stored ones name the rows to write and to delete without reading the target.
/// Either way the new digests are stored as a generation not yet in use.
async fn probe_chunk(
    env: &Probing<'_>,
    source: &Client,
    reader: &Client,
    writer: &mut Option<Client>,
    p: Probe,
) -> Result<Probed> {
    let t = &env.tables[p.table];
    if let (Some(since), Some(_), false) = (env.since, p.stored, p.new_range)
        && let Some(probed) = probe_by_xid(env, source, reader, writer, &p, since).await?
    {
        return Ok(probed);
    }
    let (fp, entries) = digest::fingerprint(source, t, &p.conditions).await?;
    let mut out = Probed {
        changed: p.recorded.as_ref() != Some(&fp),
        by_xid: false,
        changes: None,
        digests: None,
        fp: Some(fp),
    };
    let Some(entries) = entries else {
        return Ok(out);
    };
    if !out.changed {
        return Ok(out);
    }
    if p.new_range {
        // Every row is new to the target.
        out.changes = Some(hash::compare_entries(&[], &entries));
    } else if let Some(old) = stored_digests(reader, t, &p).await? {
        out.changes = Some(hash::compare_entries(&old, &entries));
    }
    out.digests = Some(store_digests(env, writer, &p, &entries).await?);
    Ok(out)
}

/// Probes a chunk by transaction ids: the source counts the chunk's rows and sends only
/// the rows whose version was written since the copy's (or last sync's) snapshot, hashed
/// here as copy hashed them; those whose hash differs from the stored digest (or whose key
/// is new) are the rows to write. Keys that vanished show in the count against the stored
/// digests; only then are the chunk's keys read to name them. The new digests and the
/// chunk's fingerprint follow exactly from the old ones. A chunk with no row written since
/// and its old count costs two index scans on the source and no read of the target.
/// `None` when the stored digests do not add up with the source's count (the chunk is then
/// fingerprinted whole).
async fn probe_by_xid(
    env: &Probing<'_>,
    source: &Client,
    reader: &Client,
    writer: &mut Option<Client>,
    p: &Probe,
    since: &str,
) -> Result<Option<Probed>> {
    let t = &env.tables[p.table];
    let Chunking::KeyRange { column } = &t.chunking else {
        return Err(Error::internal("row digests without a key range"));
    };
    let k = ident(column);
    let err = |e| Error::db(ErrorKind::Source, "probing a chunk", e).with_table(&t.name);
    let from = format!(
        "FROM ONLY {}{}",
        t.name.sql(),
        digest::where_clause(&p.conditions)
    );
    let rows: i64 = source
        .query_one(&format!("SELECT count(*)::int8 {from}"), &[])
        .await
        .map_err(err)?
        .get(0);
    let mut conditions = p.conditions.clone();
    conditions.push(since.to_string());
    let (_, fresh) = digest::fingerprint(source, t, &conditions).await?;
    let fresh = fresh.ok_or_else(|| Error::internal("a key-range chunk without row digests"))?;
    let unchanged = Probed {
        changed: false,
        by_xid: true,
        fp: None,
        changes: None,
        digests: None,
    };
    // Nothing written since and nothing gone: the stored digests need not be read.
    if fresh.is_empty() && p.stored.is_some_and(|(_, n)| n == rows) {
        return Ok(Some(unchanged));
    }
    let Some(old) = stored_digests(reader, t, p).await? else {
        return Ok(None);
    };
    let old = old.as_slice();
    let stored = |key: i64| {
        old.binary_search_by_key(&key, |e| e.0)
            .ok()
            .map(|i| old[i].1)
    };
    // A row written since is new to the target, or changed, or written with what it held.
    let written: Vec<i64> = fresh
        .iter()
        .filter(|(key, hash)| stored(*key) != Some(*hash))
        .map(|e| e.0)
        .collect();
    let new_keys = fresh.iter().filter(|e| stored(e.0).is_none()).count() as i64;
    // Every key new to the chunk was written since, so what the count lacks was deleted.
    let gone: Vec<i64> = if old.len() as i64 + new_keys > rows {
        let mut present: Vec<i64> = source
            .query_one(
                &format!("SELECT coalesce(array_agg({k}::int8), '{{}}') {from}"),
                &[],
            )
            .await
            .map_err(err)?
            .get(0);
        present.sort_unstable();
        sorted_minus(old, &present).iter().map(|e| e.0).collect()
    } else {
        Vec::new()
    };
    if old.len() as i64 + new_keys - gone.len() as i64 != rows {
        return Ok(None);
    }
    if written.is_empty() && gone.is_empty() {
        return Ok(Some(unchanged));
    }
    // The stored digests, less the rows gone, with the rows written since as they are now.
    let mut replaced: Vec<i64> = gone
        .iter()
        .copied()
        .chain(fresh.iter().map(|e| e.0))
        .collect();
    replaced.sort_unstable();
    let mut entries = sorted_minus(old, &replaced);
    entries.extend_from_slice(&fresh);
    entries.sort_unstable();
    let mut fp = hash::ChunkHasher::default();
    for &(key, hash) in &entries {
        fp.add(hash, Some(key));
    }
    let digests = store_digests(env, writer, p, &entries).await?;
    Ok(Some(Probed {
        changed: true,
        by_xid: true,
        fp: Some(fp.finish()),
        changes: Some((written, gone)),
        digests: Some(digests),
    }))
}

/// The entries of `entries` (sorted by key) whose key is not in `keys` (sorted), in one
/// pass over both.
fn sorted_minus(entries: &[(i64, u64)], keys: &[i64]) -> Vec<(i64, u64)> {
    let mut out = Vec::with_capacity(entries.len());
    let mut j = 0;
    for e in entries {
        while j < keys.len() && keys[j] < e.0 {
            j += 1;
        }
        if keys.get(j) != Some(&e.0) {
            out.push(*e);
        }
    }
    out
}

/// The row digests a chunk's copy (or last sync) stored, sorted by key; `None` when there
/// are none or they do not add up (an interrupted write), which are not trusted.
async fn stored_digests(
    reader: &Client,
    t: &TablePlan,
    p: &Probe,
) -> Result<Option<Vec<(i64, u64)>>> {
    let Some((generation, rows)) = p.stored else {
        return Ok(None);
    };
    let d = state::read_digests(reader, &t.name, p.chunk, generation).await?;
    Ok((d.len() as i64 == rows).then_some(d))
}

/// Stores a chunk's row digests as the generation after the one in use (not yet in use
/// itself: the manifest switches to it once the target holds the rows). A block per
/// statement, each retried as the retry policy says (a block is replaced whole, so a retry
/// is harmless); then blocks an interrupted earlier attempt left past the end go.
async fn store_digests(
    env: &Probing<'_>,
    writer: &mut Option<Client>,
    p: &Probe,
    entries: &[(i64, u64)],
) -> Result<(i32, i64)> {
    let (ctx, events, t) = (env.ctx, env.events, &env.tables[p.table]);
    let generation = p.stored.map_or(0, |(g, _)| g + 1);
    let blocks: Vec<&[(i64, u64)]> = entries.chunks(state::DIGEST_BLOCK).collect();
    let what = format!("storing row digests of {}", t.name);
    let mut session = writer.take();
    for (block, part) in blocks.iter().enumerate() {
        session = Some(
            with_session(ctx, &mut session, &what, events, |w| async move {
                state::write_digest_block(&w, &t.name, p.chunk, generation, block as i32, part)
                    .await
                    .map(|()| w)
            })
            .await?,
        );
    }
    let leftovers = state::drop_blocks_from_sql(&t.name, p.chunk, generation, blocks.len());
    let leftovers = leftovers.as_str();
    session = Some(
        with_session(ctx, &mut session, &what, events, |w| async move {
            w.batch_execute(leftovers)
                .await
                .map_err(|e| Error::db(ErrorKind::Target, "storing row digests", e))
                .map(|()| w)
        })
        .await?,
    );
    *writer = session;
    Ok((generation, entries.len() as i64))
}

/// Runs `op` on a target session (the one given while it is open, else a new one), retried
/// as the retry policy says; `op` hands the session back when it succeeds.
async fn with_session<F, Fut>(
    ctx: &Ctx,
    session: &mut Option<Client>,
    what: &str,
    events: &EventSink,
    op: F,
) -> Result<Client>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<Client>>,
{
    crate::retry::retrying(
        crate::retry::RetryPolicy::default(),
        what,
        Some(events),
        || {
            let open = session.take().filter(|c| !c.is_closed());
            let op = &op;
            async move {
                let client = match open {
                    Some(c) => c,
                    None => ctx.target_session(Purpose::Writer).await?,
                };
                op(client).await
            }
        },
    )
    .await
}

impl Pool {
    /// Runs tasks on `jobs` workers (each a source session in the snapshot and target
    /// sessions); results come back in task order.
    async fn run(&self, tasks: Vec<Task>) -> Result<Vec<Outcome>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let n = tasks.len();
        let queue = Arc::new(std::sync::Mutex::new(
            tasks
                .into_iter()
                .enumerate()
                .collect::<std::collections::VecDeque<_>>(),
        ));
        let jobs = self.ctx.jobs().min(n).max(1);
        let mut set = JoinSet::new();
        for _ in 0..jobs {
            let queue = queue.clone();
            let ctx = self.ctx.clone();
            let snapshot = self.snapshot.clone();
            let since = self.since.clone();
            let tables = self.tables.clone();
            let batching = self.batching.clone();
            let uploader = self.uploader.clone();
            let names = self.names.clone();
            let events = self.events.clone();
            let cancel = self.cancel.clone();
            set.spawn(
                async move {
                    let source = ctx.source_compare_session().await?;
                    snapshot::import(&source, &snapshot).await?;
                    let reader = ctx.target_session(Purpose::Compare).await?;
                    let mut writer: Option<Client> = None;
                    let mut out = Vec::new();
                    loop {
                        if cancel.is_cancelled() {
                            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
                        }
                        let next = queue.lock().unwrap().pop_front();
                        let Some((i, task)) = next else { break };
                        let r = match task {
                            Task::Fingerprint(p) => {
                                let env = Probing {
                                    ctx: &ctx,
                                    tables: &tables,
                                    since: since.as_deref(),
                                    events: &events,
                                };
                                Outcome::Fingerprint(
                                    probe_chunk(&env, &source, &reader, &mut writer, p).await?,
                                )
                            }
                            Task::Keys(ti, conditions) => {
                                let t = &tables[ti];
                                let keys: Vec<String> =
                                    t.key.iter().map(|k| format!("{}::text", ident(k))).collect();
                                let sql = format!(
                                    "SELECT {} FROM ONLY {}{}",
                                    keys.join(", "),
                                    t.name.sql(),
                                    if conditions.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" WHERE {}", conditions.join(" AND "))
                                    }
                                );
                                let rows = source.query(&sql, &[]).await.map_err(|e| {
                                    Error::db(ErrorKind::Source, "reading changed keys", e)
                                        .with_table(&t.name)
                                })?;
                                Outcome::Keys(
                                    rows.iter()
                                        .map(|r| (0..t.key.len()).map(|i| r.get(i)).collect())
                                        .collect(),
                                )
                            }
                            Task::Tail(ti, max) => {
                                let t = &tables[ti];
                                let Chunking::KeyRange { column } = &t.chunking else {
                                    return Err(Error::internal("a tail without a key range"));
                                };
                                let c = ident(column);
                                let row = source
                                    .query_one(
                                        &format!(
                                            "SELECT count(*)::int8, max({c})::int8 FROM ONLY {} WHERE {c} > {max}",
                                            t.name.sql()
                                        ),
                                        &[],
                                    )
                                    .await
                                    .map_err(|e| {
                                        Error::db(ErrorKind::Source, "reading new keys", e)
                                            .with_table(&t.name)
                                    })?;
                                Outcome::Tail(row.get(0), row.get(1))
                            }
                            Task::Diff(unit) => Outcome::Diff(
                                digest::diff(
                                    &source,
                                    &reader,
                                    &tables,
                                    &unit,
                                    &names,
                                    batching.namespace.as_ref(),
                                )
                                .await?,
                            ),
                            Task::Upsert(ti, keys) => deferring(
                                batch::upsert_rows(
                                    &ctx,
                                    &source,
                                    &mut writer,
                                    &tables[ti],
                                    &keys,
                                    &batching,
                                    uploader.as_deref(),
                                    &events,
                                )
                                .await,
                            )?,
                            Task::Delete(ti, keys) => deferring(
                                batch::delete_rows(
                                    &ctx,
                                    &mut writer,
                                    &tables[ti],
                                    &keys,
                                    &batching,
                                    &events,
                                )
                                .await,
                            )?,
                            Task::Rewrite(ti) => deferring(
                                batch::rewrite_table(
                                    &ctx,
                                    &source,
                                    &mut writer,
                                    &tables[ti],
                                    &batching,
                                    uploader.as_deref(),
                                    &events,
                                )
                                .await,
                            )?,
                        };
                        out.push((i, r));
                    }
                    Ok::<_, Error>(out)
                }
                .with_current_subscriber(),
            );
        }
        let mut all: Vec<(usize, Outcome)> = Vec::with_capacity(n);
        let mut first_err: Option<Error> = None;
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(v)) => all.extend(v),
                Ok(Err(e)) => {
                    self.cancel.cancel();
                    if first_err
                        .as_ref()
                        .is_none_or(|f| f.kind() == ErrorKind::Cancelled)
                    {
                        first_err = Some(e);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(Error::internal(format!("sync worker failed: {e}")));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, o)| o).collect())
    }

    /// Runs write tasks; those a foreign key refused run again after the others, while
    /// each round makes progress. Returns the rows written or deleted.
    async fn run_deferring(&self, mut tasks: Vec<Task>) -> Result<u64> {
        let mut total = 0;
        let mut last = usize::MAX;
        loop {
            let copies: Vec<Task> = tasks.iter().map(Task::again).collect();
            let outcomes = self.run(tasks).await?;
            let mut deferred = Vec::new();
            for (task, o) in copies.into_iter().zip(outcomes) {
                match o {
                    Outcome::Rows(n) => total += n,
                    Outcome::Deferred => deferred.push(task),
                    _ => {}
                }
            }
            if deferred.is_empty() {
                return Ok(total);
            }
            if deferred.len() >= last {
                return Err(Error::new(
                    ErrorKind::Target,
                    "sync: the target's foreign keys refuse rows whose parent rows never arrive",
                ));
            }
            last = deferred.len();
            tasks = deferred;
        }
    }
}

impl Task {
    /// The same task, to run again.
    fn again(&self) -> Task {
        match self {
            Task::Fingerprint(p) => Task::Fingerprint(p.clone()),
            Task::Keys(t, c) => Task::Keys(*t, c.clone()),
            Task::Tail(t, m) => Task::Tail(*t, *m),
            Task::Diff(u) => Task::Diff(u.clone()),
            Task::Upsert(t, k) => Task::Upsert(*t, k.clone()),
            Task::Delete(t, k) => Task::Delete(*t, k.clone()),
            Task::Rewrite(t) => Task::Rewrite(*t),
        }
    }
}

/// A write's outcome: rows, or deferred when a foreign key refused it (SQLSTATE 23503).
fn deferring(r: Result<u64>) -> Result<Outcome> {
    match r {
        Ok(n) => Ok(Outcome::Rows(n)),
        Err(e) if e.sqlstate() == Some("23503") => Ok(Outcome::Deferred),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::sorted_minus;

    #[test]
    fn sorted_minus_drops_exactly_the_keys_given() {
        let entries = [(1, 10), (3, 30), (4, 40), (9, 90)];
        assert_eq!(
            sorted_minus(&entries, &[0, 3, 5, 9, 12]),
            [(1, 10), (4, 40)]
        );
        assert_eq!(sorted_minus(&entries, &[]), entries);
        assert!(sorted_minus(&entries, &[1, 3, 4, 9]).is_empty());
    }
}
