//! DDL steps as a graph: a step runs when every step it depends on is done, up to `jobs` at
//! once, each in its own transaction together with its manifest row.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use crate::Ctx;
use crate::conn::Side;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::plan::{Action, Step, StepKind};
use crate::retry::RetryPolicy;
use crate::sql::QualName;
use crate::state;
use crate::target;

/// A sequence's state in the source: `(last_value, is_called)`.
pub(crate) type SequenceValues = HashMap<QualName, (i64, bool)>;

/// Reads the current value of every sequence the steps will set.
pub(crate) async fn read_sequences(source: &Client, steps: &[Step]) -> Result<SequenceValues> {
    let mut out = HashMap::new();
    for s in steps {
        if let Action::SetSequence { sequence, .. } = s.action() {
            let row = source
                .query_one(
                    &format!("SELECT last_value, is_called FROM {}", sequence.sql()),
                    &[],
                )
                .await
                .map_err(|e| {
                    Error::db(ErrorKind::Source, format!("reading sequence {sequence}"), e)
                })?;
            out.insert(sequence.clone(), (row.get(0), row.get(1)));
        }
    }
    Ok(out)
}

/// Runs `steps[first..]` that are not done, respecting dependencies.
pub(crate) async fn run_steps(
    ctx: &Arc<Ctx>,
    steps: &[Step],
    todo: Vec<usize>,
    sequences: Arc<SequenceValues>,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<()> {
    if todo.is_empty() {
        return Ok(());
    }
    let pending: HashSet<usize> = todo.iter().copied().collect();
    let mut done: HashSet<usize> = (0..steps.len()).filter(|i| !pending.contains(i)).collect();
    let mut waiting: Vec<usize> = todo;
    let jobs = ctx.config.jobs().min(waiting.len()).max(1);
    let mut pool: Vec<Client> = Vec::new();
    for _ in 0..jobs {
        pool.push(ddl_session(ctx).await?);
    }
    let policy = RetryPolicy::default();
    let mut attempts: HashMap<usize, u32> = HashMap::new();
    let mut running: JoinSet<(usize, Option<Client>, Result<std::time::Duration>)> = JoinSet::new();
    let steps_arc: Arc<Vec<Step>> = Arc::new(steps.to_vec());

    loop {
        // Start every ready step we have a session for, the slow kinds first.
        waiting.sort_by_key(|&i| (rank(steps[i].kind), i));
        let mut k = 0;
        while k < waiting.len() && !pool.is_empty() {
            let i = waiting[k];
            if steps[i].deps.iter().all(|d| done.contains(d)) {
                waiting.remove(k);
                let client = pool.pop().expect("checked non-empty");
                let steps = steps_arc.clone();
                let seqs = sequences.clone();
                let events = events.clone();
                events.send(Event::StepStarted {
                    id: steps[i].id.clone(),
                    kind: steps[i].kind,
                });
                running.spawn(
                    async move {
                        let start = Instant::now();
                        let mut client = client;
                        let span = tracing::info_span!("step", id = %steps[i].id);
                        let r = run_one(&mut client, &steps[i], &seqs)
                            .instrument(span)
                            .await;
                        let keep = if r.is_ok() || !client.is_closed() {
                            Some(client)
                        } else {
                            None
                        };
                        (i, keep, r.map(|_| start.elapsed()))
                    }
                    .with_current_subscriber(),
                );
            } else {
                k += 1;
            }
        }
        if running.is_empty() {
            if waiting.is_empty() {
                return Ok(());
            }
            return Err(Error::internal(format!(
                "{} steps can never run (unmet dependencies), first {}",
                waiting.len(),
                steps[waiting[0]].id
            )));
        }
        let joined = tokio::select! {
            j = running.join_next() => j,
            _ = cancel.cancelled() => {
                running.abort_all();
                return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
            }
        };
        let Some(joined) = joined else { continue };
        let (i, client, result) =
            joined.map_err(|e| Error::internal(format!("step task failed: {e}")))?;
        match result {
            Ok(elapsed) => {
                done.insert(i);
                events.send(Event::StepDone {
                    id: steps[i].id.clone(),
                    kind: steps[i].kind,
                    elapsed,
                });
                pool.push(match client {
                    Some(c) => c,
                    None => ddl_session(ctx).await?,
                });
            }
            Err(e) => {
                let n = attempts.entry(i).or_insert(1);
                if policy.should_retry(&e, *n) {
                    let delay = policy.delay(*n);
                    events.retry(format!("step {}", steps[i].id), *n, delay, &e);
                    *n += 1;
                    tokio::time::sleep(delay).await;
                    waiting.push(i);
                    pool.push(match client {
                        Some(c) if !c.is_closed() => c,
                        _ => ddl_session(ctx).await?,
                    });
                } else {
                    running.abort_all();
                    return Err(e);
                }
            }
        }
    }
}

/// Index builds first (they take longest), then the rest in plan order.
fn rank(kind: StepKind) -> u8 {
    match kind {
        StepKind::PrimaryKey | StepKind::Index => 0,
        StepKind::Validate | StepKind::ForeignKey => 1,
        _ => 2,
    }
}

pub(crate) async fn ddl_session(ctx: &Ctx) -> Result<Client> {
    let c = ctx.target.connect(Side::Target).await?;
    c.batch_execute(target::DDL_SESSION)
        .await
        .map_err(|e| Error::db(ErrorKind::Target, "target session setup", e))?;
    Ok(c)
}

/// Runs one step and records it, in one transaction.
async fn run_one(client: &mut Client, step: &Step, seqs: &SequenceValues) -> Result<()> {
    let err = |e| Error::db(ErrorKind::Target, format!("step {}", step.id), e);
    let tx = client.transaction().await.map_err(err)?;
    match step.action() {
        Action::Sql { statements } => {
            for s in statements {
                tx.batch_execute(s).await.map_err(err)?;
            }
        }
        Action::Analyze { table } => {
            tx.batch_execute(&format!("ANALYZE {}", table.sql()))
                .await
                .map_err(err)?;
        }
        Action::SetSequence { sequence, columns } => {
            let (value, called) = sequence_target(&tx, sequence, columns, seqs)
                .await
                .map_err(err)?;
            tx.execute(
                "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
                &[&sequence.sql(), &value, &called],
            )
            .await
            .map_err(err)?;
        }
    }
    tx.batch_execute(&state::step_done_sql(&step.id))
        .await
        .map_err(err)?;
    tx.commit().await.map_err(err)
}

/// The value a target sequence gets: the source's, or past the largest copied value of the
/// columns it feeds if that is further along.
async fn sequence_target(
    tx: &tokio_postgres::Transaction<'_>,
    sequence: &QualName,
    columns: &[(QualName, String)],
    seqs: &SequenceValues,
) -> std::result::Result<(i64, bool), tokio_postgres::Error> {
    let (src_value, src_called) = seqs.get(sequence).copied().unwrap_or((1, false));
    let increment: i64 = tx
        .query_one(
            "SELECT seqincrement FROM pg_catalog.pg_sequence WHERE seqrelid = $1::text::regclass",
            &[&sequence.sql()],
        )
        .await?
        .get(0);
    let mut max: Option<i64> = None;
    for (table, col) in columns {
        let m: Option<i64> = tx
            .query_one(
                &format!(
                    "SELECT max({})::int8 FROM {}",
                    crate::sql::ident(col),
                    table.sql()
                ),
                &[],
            )
            .await?
            .get(0);
        max = match (max, m) {
            (Some(a), Some(b)) if increment > 0 => Some(a.max(b)),
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(match max {
        Some(m) if (increment > 0 && m >= src_value) || (increment < 0 && m <= src_value) => {
            (m, true)
        }
        _ => (src_value, src_called),
    })
}
