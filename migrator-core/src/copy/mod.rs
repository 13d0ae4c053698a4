//! The engine: takes the run lock, creates the schema (or resumes from the manifest), opens
//! one consistent snapshot on the source that every reader imports, copies chunks with
//! `jobs` workers (each a source and a target session, retried with backoff), runs the
//! post-data steps beside them (a table's indexes as soon as its rows are in, the rest
//! after all data), and marks the run finished.

pub(crate) mod batch;
pub(crate) mod pipe;
pub(crate) mod post;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use crate::Ctx;
use crate::context::Purpose;
use crate::ddl::Phase;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink, Stage};
use crate::plan::{Chunk, Chunking, Continuing, Plan, TablePlan};
use crate::retry::RetryPolicy;
use crate::snapshot;
use crate::state::{self, RunLock};

/// What a copy did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CopySummary {
    /// Tables in the plan.
    pub tables: usize,
    /// Chunks copied by this run.
    pub chunks_copied: usize,
    /// Chunks an earlier run had already copied.
    pub chunks_skipped: usize,
    /// Rows copied by this run.
    pub rows: u64,
    /// Bytes of COPY data moved by this run.
    pub bytes: u64,
    /// DDL steps run by this run.
    pub steps: usize,
    /// Failures retried along the way (conflicts, lost connections); see [`Event::Retry`].
    pub retries: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// One chunk to copy.
#[derive(Debug, Clone)]
struct WorkItem {
    table: usize,
    chunk: Chunk,
}

/// Per-table progress shared by the workers.
#[derive(Default)]
struct TableProgress {
    remaining: usize,
    started: bool,
    rows: u64,
}

/// Runs a copy to the end (or to the first unrecoverable error, or cancellation).
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    plan: Plan,
    restart: bool,
    events: EventSink,
    cancel: CancellationToken,
) -> Result<CopySummary> {
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
    let result = copy_locked(ctx, plan, restart, events.clone(), cancel, started).await;
    lock.release().await;
    result
}

/// The copy, with the target's run lock held.
async fn copy_locked(
    ctx: Arc<Ctx>,
    plan: Plan,
    restart: bool,
    events: EventSink,
    cancel: CancellationToken,
    started: Instant,
) -> Result<CopySummary> {
    let mut control = post::ddl_session(&ctx).await?;
    let coordinator = ctx.source_session().await?;
    let source_id = state::ensure_distinct(&coordinator, &control).await?;

    if restart {
        reset(&ctx, &mut control, &plan).await?;
    }
    let mut manifest = state::load(&control).await?;
    if let Some(m) = &manifest {
        // Checked now, before anything is written; the chunks are taken after the schema.
        plan.continuing(m, &source_id, Continuing::Copy)?;
    }
    let mut summary = CopySummary {
        tables: plan.tables.len(),
        ..CopySummary::default()
    };

    // Schema (or, for --data-only, just the manifest): in one transaction where DDL is
    // transactional, else statement by statement, each step recorded when done.
    let mut schema_stage_sent = false;
    if manifest.is_none() {
        events.send(Event::Stage(Stage::Schema));
        schema_stage_sent = true;
        if ctx.rules.one_ddl_per_transaction {
            create_manifest_stepwise(&ctx, &control, &plan, &source_id, &events).await?;
        } else {
            summary.steps += create_schema(&mut control, &plan, &source_id, &events).await?;
        }
        manifest = state::load(&control).await?;
    }
    let manifest = manifest.ok_or_else(|| Error::internal("manifest missing after creation"))?;
    let pre_data: Vec<&crate::ddl::Step> = plan
        .steps
        .iter()
        .filter(|s| s.phase == Phase::PreData && !manifest.steps_done.contains(&s.id))
        .collect();
    if !pre_data.is_empty() {
        if !schema_stage_sent {
            events.send(Event::Stage(Stage::Schema));
        }
        let none = post::SequenceValues::new();
        for step in pre_data {
            events.send(Event::StepStarted {
                id: step.id.clone(),
                kind: step.kind,
            });
            let t0 = Instant::now();
            if ctx.rules.one_ddl_per_transaction {
                let control = &control;
                let none = &none;
                crate::retry::retrying(
                    RetryPolicy::default(),
                    &format!("step {}", step.id),
                    Some(&events),
                    || post::run_one_by_one(control, step, none),
                )
                .await?;
            } else {
                post::run_one(&mut control, step, &none, false).await?;
            }
            events.send(Event::StepDone {
                id: step.id.clone(),
                kind: step.kind,
                elapsed: t0.elapsed(),
            });
            summary.steps += 1;
        }
    }

    // The chunks come from the manifest: an earlier run's cut is kept.
    let tables = plan.continuing(&manifest, &source_id, Continuing::Copy)?;
    // A page-chunked table cannot mix chunks from two snapshots (rows move between pages):
    // if it is partly done, it is redone whole.
    for t in &tables {
        let done = t
            .chunks
            .iter()
            .filter(|c| manifest.chunks_done.contains(&(t.name.to_string(), c.no)))
            .count();
        if t.chunking == Chunking::Pages
            && done > 0
            && done < t.chunks.len()
            && !ctx.rules.batched()
        {
            events.send(Event::Warning {
                message: format!(
                    "{}: partly copied by page ranges; copying it again from the start",
                    t.name
                ),
            });
            let tx = control
                .transaction()
                .await
                .map_err(|e| Error::db(ErrorKind::Target, "resetting", e))?;
            tx.batch_execute(&format!(
                "TRUNCATE ONLY {}; {}",
                t.name.sql(),
                state::forget_table_sql(&t.name)
            ))
            .await
            .map_err(|e| Error::db(ErrorKind::Target, format!("resetting {}", t.name), e))?;
            tx.commit()
                .await
                .map_err(|e| Error::db(ErrorKind::Target, "resetting", e))?;
        }
    }
    let manifest = state::load(&control)
        .await?
        .ok_or_else(|| Error::internal("manifest vanished"))?;

    let mut pending: Vec<WorkItem> = Vec::new();
    let mut skipped = 0;
    for (ti, t) in tables.iter().enumerate() {
        for c in &t.chunks {
            if manifest.chunks_done.contains(&(t.name.to_string(), c.no)) {
                skipped += 1;
            } else {
                pending.push(WorkItem {
                    table: ti,
                    chunk: *c,
                });
            }
        }
    }
    summary.chunks_skipped = skipped;
    events.send(Event::Started {
        tables: tables.len(),
        chunks: skipped + pending.len(),
        chunks_already_done: skipped,
        estimated_bytes: tables.iter().map(|t| t.est_bytes.max(0) as u64).sum(),
    });

    // One snapshot for every reader.
    let snapshot = snapshot::export(&coordinator).await?;
    // Watermarks as of the first run's snapshot: every row copied is at least that old.
    let marks: Vec<_> = tables
        .iter()
        .filter_map(|t| t.watermark.as_ref().map(|w| (&t.name, w)))
        .collect();
    let recorded: Vec<String> = crate::watermark::values(&coordinator, &marks)
        .await?
        .iter()
        .map(|(name, value)| state::watermark_sql(name, value.as_deref(), false))
        .collect();
    state::record(&control, &recorded, "recording a watermark", &events).await?;
    // Where the source's transaction ids stood: what sync takes as changed since the copy.
    let horizon = snapshot::horizon(&coordinator).await?;
    state::record(
        &control,
        &[state::horizon_sql(horizon.xmin, false)],
        "recording the snapshot's transaction ids",
        &events,
    )
    .await?;

    events.send(Event::Stage(Stage::Data));
    let (levels, replica) = if plan.data_only {
        load_levels(&ctx, &control, &tables, pending, &events).await?
    } else {
        (vec![pending], false)
    };
    // What each target table costs to copy: the post-data steps start with the largest.
    let mut table_costs: HashMap<crate::sql::QualName, u64> = HashMap::new();
    for t in &tables {
        *table_costs.entry(t.target.clone()).or_default() +=
            crate::chunk::copy_cost(t.est_bytes, t.est_rows);
    }
    let tables = Arc::new(tables);
    // Batched writes: every table on a target with per-transaction limits; elsewhere only
    // tables whose values go to the blob store (their rows are rebuilt, not piped).
    let batching = Writes {
        all: ctx.rules.batched(),
        batching: batch::Batching::of(&ctx, plan.key_namespace, ctx.config.copy.fingerprints),
        uploader: crate::blob::Uploader::for_run(
            &ctx.config,
            ctx.jobs(),
            tables.iter().any(TablePlan::has_blobs),
        )
        .await?,
    };
    // The post-data steps run beside the copy: each waits for the rows it needs (see
    // `post::DataGate`), reported by the workers as each table's last chunk commits.
    let todo: Vec<usize> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.phase == Phase::PostData && !manifest.steps_done.contains(&s.id))
        .map(|(i, _)| i)
        .collect();
    let todo_steps: Vec<_> = todo.iter().map(|&i| plan.steps[i].clone()).collect();
    summary.steps += todo.len();
    let (data_done, updates) = tokio::sync::mpsc::unbounded_channel();
    let loading: HashSet<usize> = levels.iter().flatten().map(|w| w.table).collect();
    let gate = post::DataGate::loading(
        tables.iter().map(|t| t.target.clone()),
        loading.iter().map(|&t| tables[t].target.clone()),
        updates,
    );
    // The first failure on either side stops the other.
    let stop = cancel.child_token();
    let data = async {
        let mut moved = (0, 0, 0);
        for level in levels {
            let (rows, bytes, n) = copy_data(
                &ctx,
                &snapshot,
                replica,
                tables.clone(),
                level,
                batching.clone(),
                &data_done,
                &events,
                &stop,
            )
            .await?;
            moved.0 += rows;
            moved.1 += bytes;
            moved.2 += n;
        }
        // Sequences are read after the data: their values are at least the snapshot's.
        let sequences = post::read_sequences(&coordinator, &todo_steps).await?;
        let _ = coordinator.batch_execute("COMMIT").await;
        events.send(Event::Stage(Stage::PostData));
        let _ = data_done.send(post::DataDone::All(Arc::new(sequences)));
        Ok(moved)
    };
    let post = post::run_steps(&ctx, &plan.steps, todo, gate, &table_costs, &events, &stop);
    let (data, post) = tokio::join!(
        stopping_on_error(data, &stop),
        stopping_on_error(post, &stop)
    );
    let (rows, bytes, n) = first_failure(data, post)?;
    summary.rows += rows;
    summary.bytes += bytes;
    summary.chunks_copied += n;

    // The last commit is durable, and with it every commit before it.
    let finish = if ctx.rules.writer_setup.contains("synchronous_commit") {
        format!("SET synchronous_commit = on; {}", state::FINISH_SQL)
    } else {
        state::FINISH_SQL.to_string()
    };
    state::record(&control, &[finish], "recording the finished run", &events).await?;
    summary.retries = events.retries();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Creates the schema's pre-data steps and the manifest in one transaction. Returns the
/// number of steps run.
async fn create_schema(
    control: &mut Client,
    plan: &Plan,
    source_id: &str,
    events: &EventSink,
) -> Result<usize> {
    let tx = control
        .transaction()
        .await
        .map_err(|e| Error::db(ErrorKind::Target, "starting the schema transaction", e))?;
    let manifest = state::MANIFEST_DDL
        .iter()
        .chain(state::MANIFEST_POSTGRES_DDL)
        .map(|s| s.to_string());
    for s in manifest.chain(state::manifest_rows(&plan.new_run(source_id), 1000)) {
        tx.batch_execute(&s)
            .await
            .map_err(|e| Error::db(ErrorKind::Target, "creating the manifest", e))?;
    }
    let mut n = 0;
    for step in plan.steps.iter().filter(|s| s.phase == Phase::PreData) {
        let t0 = Instant::now();
        events.send(Event::StepStarted {
            id: step.id.clone(),
            kind: step.kind,
        });
        for s in step.sql() {
            tx.batch_execute(&s)
                .await
                .map_err(|e| Error::db(ErrorKind::Target, format!("step {}", step.id), e))?;
        }
        tx.batch_execute(&state::step_done_sql(&step.id))
            .await
            .map_err(|e| Error::db(ErrorKind::Target, "recording a step", e))?;
        events.send(Event::StepDone {
            id: step.id.clone(),
            kind: step.kind,
            elapsed: t0.elapsed(),
        });
        n += 1;
    }
    crate::faults::crash_point("copy.schema.before_commit");
    tx.commit()
        .await
        .map_err(|e| Error::db(ErrorKind::Target, "committing the schema", e))?;
    Ok(n)
}

/// Creates the manifest one statement at a time, for a target that takes one DDL per
/// transaction: its tables (repeatable), then its rows in batches the target accepts, the
/// run row last, so a manifest without a run row is an unfinished start to redo.
async fn create_manifest_stepwise(
    ctx: &Ctx,
    control: &Client,
    plan: &Plan,
    source_id: &str,
    events: &EventSink,
) -> Result<()> {
    let err = |e| Error::db(ErrorKind::Target, "creating the manifest", e);
    for ddl in state::MANIFEST_DDL {
        match control.batch_execute(ddl).await {
            Ok(()) => {}
            Err(e)
                if e.code()
                    .is_some_and(|c| ["42P07", "42P06"].contains(&c.code())) => {}
            Err(e) => return Err(err(e)),
        }
    }
    let batch = ctx.rules.max_rows.unwrap_or(1000).saturating_sub(1).max(1) as usize;
    // Rows of an unfinished earlier start.
    state::clear_unfinished_start(control, batch, events).await?;
    for sql in state::manifest_rows(&plan.new_run(source_id), batch) {
        crate::retry::retrying(
            RetryPolicy::default(),
            "creating the manifest",
            None,
            || async { control.batch_execute(&sql).await.map_err(err) },
        )
        .await?;
    }
    Ok(())
}

/// `--restart`: drops what the earlier run created (or, with `--data-only`, empties the
/// tables it loaded) and its manifest: in one transaction where DDL is transactional, else
/// statement by statement.
async fn reset(ctx: &Ctx, control: &mut Client, plan: &Plan) -> Result<()> {
    let Some(m) = state::load(control).await? else {
        return Ok(());
    };
    let err = |e| {
        Error::db(
            ErrorKind::Target,
            "--restart: discarding the earlier run",
            e,
        )
    };
    let mut statements = Vec::new();
    if m.data_only {
        for t in &plan.tables {
            statements.push(if ctx.rules.one_ddl_per_transaction {
                format!("DELETE FROM {}", t.target.sql())
            } else {
                format!("TRUNCATE ONLY {}", t.target.sql())
            });
        }
    } else {
        statements.extend(plan.steps.iter().rev().filter_map(|s| s.undo.clone()));
    }
    if ctx.rules.one_ddl_per_transaction {
        statements.extend(state::drop_manifest_stepwise_sql());
        for s in statements {
            control.batch_execute(&s).await.map_err(err)?;
        }
        return Ok(());
    }
    statements.push(state::DROP_MANIFEST_SQL.into());
    let tx = control.transaction().await.map_err(err)?;
    for s in statements {
        tx.batch_execute(&s).await.map_err(err)?;
    }
    tx.commit().await.map_err(err)
}

/// `--data-only` loads into tables whose foreign keys are live. If the session may set
/// `session_replication_role = replica`, they (and triggers) are off and all tables load at
/// once (returns `true`); otherwise tables load in levels, parents before children.
async fn load_levels(
    ctx: &Ctx,
    control: &Client,
    tables: &[TablePlan],
    pending: Vec<WorkItem>,
    events: &EventSink,
) -> Result<(Vec<Vec<WorkItem>>, bool)> {
    let probe = ctx.target_session(Purpose::Plain).await?;
    if probe.batch_execute(REPLICA_ROLE).await.is_ok() {
        return Ok((vec![pending], true));
    }
    events.send(Event::Warning {
        message: "the target user may not set session_replication_role: tables load parents \
                  first, and the target's triggers fire during the load"
            .into(),
    });
    let names: Vec<String> = tables.iter().map(|t| t.name.to_string()).collect();
    let level = crate::target::fk_levels(control, &names).await?;
    let top = level.iter().copied().max().unwrap_or(0);
    let mut out: Vec<Vec<WorkItem>> = vec![Vec::new(); top + 1];
    for w in pending {
        out[level[w.table]].push(w);
    }
    out.retain(|l| !l.is_empty());
    Ok((out, false))
}

/// Runs `work`, cancelling `stop` if it fails: the work beside it then stops too.
async fn stopping_on_error<T>(
    work: impl std::future::Future<Output = Result<T>>,
    stop: &CancellationToken,
) -> Result<T> {
    let r = work.await;
    if r.is_err() {
        stop.cancel();
    }
    r
}

/// The result of two pieces of work run side by side: the first's value, or the failure
/// that caused the other's cancellation rather than that cancellation.
fn first_failure<T, U>(a: Result<T>, b: Result<U>) -> Result<T> {
    match (a, b) {
        (Ok(a), Ok(_)) => Ok(a),
        (Err(a), Err(b))
            if a.kind() == ErrorKind::Cancelled && b.kind() != ErrorKind::Cancelled =>
        {
            Err(b)
        }
        (Err(a), _) => Err(a),
        (Ok(_), Err(b)) => Err(b),
    }
}

/// Turns off foreign-key checks and triggers for a session (`--data-only` loads).
const REPLICA_ROLE: &str = "SET session_replication_role = replica";

/// Copies the given chunks with the configured number of workers.
#[allow(clippy::too_many_arguments)]
async fn copy_data(
    ctx: &Arc<Ctx>,
    snapshot: &str,
    replica: bool,
    tables: Arc<Vec<TablePlan>>,
    mut items: Vec<WorkItem>,
    batching: Writes,
    data_done: &tokio::sync::mpsc::UnboundedSender<post::DataDone>,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(u64, u64, usize)> {
    if items.is_empty() {
        return Ok((0, 0, 0));
    }
    // Longest chunks first, so that the last ones to finish are short; chunks of a table
    // in order.
    items.sort_by(|a, b| {
        tables[b.table]
            .chunk_cost()
            .cmp(&tables[a.table].chunk_cost())
            .then(a.table.cmp(&b.table))
            .then(a.chunk.no.cmp(&b.chunk.no))
    });
    let mut progress: HashMap<usize, TableProgress> = HashMap::new();
    for w in &items {
        progress.entry(w.table).or_default().remaining += 1;
    }
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::new(items)),
        progress: Mutex::new(progress),
        tables,
        snapshot: snapshot.to_string(),
        replica,
        batching,
        ctx: ctx.clone(),
        events: events.clone(),
        data_done: data_done.clone(),
        abort: cancel.child_token(),
    });
    let jobs = ctx
        .jobs()
        .min(shared.queue.lock().unwrap().waiting.len())
        .max(1);
    let mut set = JoinSet::new();
    for w in 0..jobs {
        let shared = shared.clone();
        set.spawn(
            worker(shared)
                .instrument(tracing::info_span!("worker", id = w))
                .with_current_subscriber(),
        );
    }
    let mut first_err: Option<Error> = None;
    let mut totals = (0u64, 0u64, 0usize);
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok((rows, bytes, n))) => {
                totals.0 += rows;
                totals.1 += bytes;
                totals.2 += n;
            }
            Ok(Err(e)) => {
                shared.abort.cancel();
                // Prefer the root cause over the cancellations it triggered.
                if first_err
                    .as_ref()
                    .is_none_or(|f| f.kind() == ErrorKind::Cancelled)
                {
                    first_err = Some(e);
                }
            }
            Err(e) => {
                shared.abort.cancel();
                first_err.get_or_insert(Error::internal(format!("worker failed: {e}")));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(totals),
    }
}

/// How rows are written.
#[derive(Clone)]
struct Writes {
    /// Every table in batches (a target with per-transaction limits).
    all: bool,
    batching: batch::Batching,
    /// Uploads blob values, when some table has them.
    uploader: Option<Arc<crate::blob::Uploader>>,
}

impl Writes {
    /// The batching for `t`, or `None` when its rows are piped as the source sends them.
    fn for_table(&self, t: &TablePlan) -> Option<&batch::Batching> {
        (self.all || t.has_blobs()).then_some(&self.batching)
    }
}

/// The chunks still to copy, in the order they should start, and how many workers are
/// loading each table. A worker takes the first chunk of a table no other worker is
/// loading, and only when every waiting chunk's table is busy a second chunk of one: two
/// sessions loading one table contend for its extension lock and its indexes' pages
/// (measured at 1 GB into tables with their primary keys: two halves of `documents` at
/// once took 4.85 s, one after the other 4.15 s).
struct Queue {
    waiting: VecDeque<WorkItem>,
    loading: HashMap<usize, usize>,
}

impl Queue {
    fn new(items: Vec<WorkItem>) -> Queue {
        Queue {
            waiting: items.into(),
            loading: HashMap::new(),
        }
    }

    /// The next chunk to copy, counted as loading until [`Queue::done`].
    fn take(&mut self) -> Option<WorkItem> {
        let idle = |w: &WorkItem| self.loading.get(&w.table).is_none_or(|n| *n == 0);
        let at = self.waiting.iter().position(idle).unwrap_or(0);
        let item = self.waiting.remove(at)?;
        *self.loading.entry(item.table).or_default() += 1;
        Some(item)
    }

    /// A chunk of `table` is copied.
    fn done(&mut self, table: usize) {
        if let Some(n) = self.loading.get_mut(&table) {
            *n = n.saturating_sub(1);
        }
    }
}

struct Shared {
    /// Writer sessions run with `session_replication_role = replica`.
    replica: bool,
    /// How rows are written.
    batching: Writes,
    queue: Mutex<Queue>,
    progress: Mutex<HashMap<usize, TableProgress>>,
    tables: Arc<Vec<TablePlan>>,
    snapshot: String,
    ctx: Arc<Ctx>,
    events: EventSink,
    /// Told as each table's last chunk commits.
    data_done: tokio::sync::mpsc::UnboundedSender<post::DataDone>,
    abort: CancellationToken,
}

/// A worker's two sessions: the source one inside the shared snapshot.
struct Sessions {
    source: Client,
    /// Absent after a failure, until reopened.
    target: Option<Client>,
    /// A second target session, for row digests stored while a chunk streams; opened when
    /// first needed.
    side: Option<Client>,
    opened: Instant,
}

async fn open_sessions(shared: &Shared) -> Result<Sessions> {
    // Canonical output: text COPY and fingerprints print values the same in every run.
    let source = shared.ctx.source_compare_session().await?;
    snapshot::import(&source, &shared.snapshot).await?;
    let target = shared.ctx.target_session(Purpose::Writer).await?;
    if !shared.batching.all {
        // Text-format COPY reads what the source printed: same formatting settings.
        target
            .batch_execute(crate::conn::CANONICAL_FORMAT)
            .await
            .map_err(|e| Error::db(ErrorKind::Target, "target session setup", e))?;
    }
    if shared.replica {
        target
            .batch_execute(REPLICA_ROLE)
            .await
            .map_err(|e| Error::db(ErrorKind::Target, "target session setup", e))?;
    }
    Ok(Sessions {
        source,
        target: Some(target),
        side: None,
        opened: Instant::now(),
    })
}

async fn worker(shared: Arc<Shared>) -> Result<(u64, u64, usize)> {
    let policy = RetryPolicy::default();
    let buffer = shared.ctx.config.copy.buffer_kib * 1024;
    let mut sessions: Option<Sessions> = None;
    let mut totals = (0u64, 0u64, 0usize);
    loop {
        if shared.abort.is_cancelled() {
            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
        }
        let Some(item) = shared.queue.lock().unwrap().take() else {
            return Ok(totals);
        };
        let table = &shared.tables[item.table];
        {
            let mut p = shared.progress.lock().unwrap();
            let tp = p.entry(item.table).or_default();
            if !tp.started {
                tp.started = true;
                shared.events.send(Event::TableStarted {
                    table: table.name.clone(),
                    chunks: tp.remaining,
                    estimated_rows: table.est_rows.max(0) as u64,
                    estimated_bytes: table.est_bytes.max(0) as u64,
                });
            }
        }
        let span = tracing::info_span!("chunk", table = %table.name, chunk = item.chunk.no);
        let mut attempt = 1;
        let moved = loop {
            let t0 = Instant::now();
            let result = async {
                // Sessions are replaced before the target's connection age limit.
                if let (Some(s), Some(max)) = (&sessions, shared.ctx.rules.max_session_age)
                    && s.opened.elapsed() > max
                {
                    sessions = None;
                }
                if sessions.is_none() {
                    sessions = Some(open_sessions(&shared).await?);
                }
                let s = sessions.as_mut().expect("just opened");
                let name = table.name.clone();
                let events = shared.events.clone();
                let report = move |bytes: u64| {
                    events.send(Event::Progress {
                        table: name.clone(),
                        bytes,
                    })
                };
                let copy = async {
                    match shared.batching.for_table(table) {
                        None => {
                            if s.target.is_none() {
                                s.target = Some(shared.ctx.target_session(Purpose::Writer).await?);
                            }
                            let target = s.target.as_mut().expect("open");
                            pipe::copy_chunk(&shared.ctx, &s.source, target, &mut s.side, table, &item.chunk, buffer, shared.ctx.config.copy.fingerprints, &report).await
                        }
                        Some(b) => {
                            batch::copy_chunk(&shared.ctx, &s.source, &mut s.target, table, &item.chunk, b, shared.batching.uploader.as_deref(), &report, &shared.events)
                                .await
                        }
                    }
                };
                tokio::select! {
                    r = copy => r,
                    _ = shared.abort.cancelled() => Err(Error::new(ErrorKind::Cancelled, "cancelled")),
                }
            }
            .instrument(span.clone())
            .await;
            match result {
                Ok(m) => break (m, t0.elapsed()),
                Err(e) => {
                    // Whatever failed, these sessions may be mid-COPY: start afresh.
                    sessions = None;
                    if e.kind() != ErrorKind::Cancelled && policy.should_retry(&e, attempt) {
                        let delay = policy.delay(attempt);
                        shared.events.retry(
                            format!("{} chunk {}", table.name, item.chunk.no),
                            attempt,
                            delay,
                            &e,
                        );
                        attempt += 1;
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => continue,
                            _ = shared.abort.cancelled() => return Err(Error::new(ErrorKind::Cancelled, "cancelled")),
                        }
                    }
                    return Err(e.with_table(&table.name).with_chunk(item.chunk.no));
                }
            }
        };
        let ((m, elapsed), name) = (moved, table.name.clone());
        totals.0 += m.rows;
        totals.1 += m.bytes;
        totals.2 += 1;
        tracing::debug!(table = %name, chunk = item.chunk.no, rows = m.rows, bytes = m.bytes, "chunk done");
        shared.events.send(Event::ChunkDone {
            table: name.clone(),
            chunk: item.chunk.no,
            rows: m.rows,
            bytes: m.bytes,
            elapsed,
        });
        shared.queue.lock().unwrap().done(item.table);
        let mut p = shared.progress.lock().unwrap();
        let tp = p.entry(item.table).or_default();
        tp.remaining -= 1;
        tp.rows += m.rows;
        if tp.remaining == 0 {
            // The post-data steps may be gone (failed): the copy's own error follows.
            let _ = shared
                .data_done
                .send(post::DataDone::Table(table.target.clone()));
            shared.events.send(Event::TableDone {
                table: name,
                rows: tp.rows,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(table: usize, no: u32) -> WorkItem {
        WorkItem {
            table,
            chunk: Chunk {
                no,
                lower: None,
                upper: None,
            },
        }
    }

    fn taken(q: &mut Queue) -> (usize, u32) {
        let w = q.take().expect("a chunk");
        (w.table, w.chunk.no)
    }

    #[test]
    fn workers_take_chunks_of_different_tables_while_there_are_any() {
        let mut q = Queue::new(vec![
            item(0, 0),
            item(0, 1),
            item(0, 2),
            item(1, 0),
            item(2, 0),
        ]);
        // Two workers start on two tables, not on two chunks of the first.
        assert_eq!(taken(&mut q), (0, 0));
        assert_eq!(taken(&mut q), (1, 0));
        // Table 0 is still loading: a third worker gets table 2.
        assert_eq!(taken(&mut q), (2, 0));
        // Every waiting chunk's table is busy: the first in line, a second chunk of table 0.
        assert_eq!(taken(&mut q), (0, 1));
        q.done(0);
        q.done(0);
        q.done(1);
        assert_eq!(taken(&mut q), (0, 2));
        assert!(q.take().is_none());
    }
}
