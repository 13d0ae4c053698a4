//! DDL steps as a graph: a step runs when every step it depends on is done, and when the data
//! it needs is in (a table's index builds as soon as its own rows are, beside the copying of
//! the others), up to `jobs` at once, each in its own transaction together with its manifest
//! row.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use crate::Ctx;
use crate::context::Purpose;
use crate::ddl::{Action, Step, StepKind};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::retry::RetryPolicy;
use crate::sql::QualName;
use crate::state;

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

/// What the data phase reports as it goes.
#[derive(Debug)]
pub(crate) enum DataDone {
    /// Every chunk of one source table feeding this target table is in.
    Table(QualName),
    /// All data is in; the source's sequences as they stand now.
    All(Arc<SequenceValues>),
}

/// Which post-data steps the data lets start. A step that touches only its own table (an
/// index, a primary key, a check, `ANALYZE`, statistics), a table rows are copied into,
/// starts once that table's rows are in; every other step once all rows are: foreign keys
/// and their validation look at two tables, sequences are read after the data, and a
/// partitioned table's index or key reaches into every partition.
pub(crate) struct DataGate {
    /// The tables rows are copied into, by this run or an earlier one.
    targets: HashSet<QualName>,
    /// Target tables still loading, with how many source tables each still waits for.
    loading: HashMap<QualName, usize>,
    /// Set when all data is in.
    sequences: Option<Arc<SequenceValues>>,
    updates: Option<mpsc::UnboundedReceiver<DataDone>>,
}

impl DataGate {
    /// All data is in already.
    pub(crate) fn open(sequences: SequenceValues) -> DataGate {
        DataGate {
            targets: HashSet::new(),
            loading: HashMap::new(),
            sequences: Some(Arc::new(sequences)),
            updates: None,
        }
    }

    /// Data is still loading into `loading` (one entry per source table), among `targets`;
    /// `updates` says as it comes in.
    pub(crate) fn loading(
        targets: impl IntoIterator<Item = QualName>,
        loading: impl IntoIterator<Item = QualName>,
        updates: mpsc::UnboundedReceiver<DataDone>,
    ) -> DataGate {
        let mut waiting: HashMap<QualName, usize> = HashMap::new();
        for t in loading {
            *waiting.entry(t).or_default() += 1;
        }
        DataGate {
            targets: targets.into_iter().collect(),
            loading: waiting,
            sequences: None,
            updates: Some(updates),
        }
    }

    /// Whether the data `step` needs is in.
    fn lets(&self, step: &Step) -> bool {
        match own_table(step) {
            Some(t) if self.targets.contains(t) => !self.loading.contains_key(t),
            _ => self.sequences.is_some(),
        }
    }

    /// Takes in the next report, waiting for it; `false` once no more will come.
    async fn next(&mut self) -> bool {
        let Some(updates) = &mut self.updates else {
            return false;
        };
        match updates.recv().await {
            Some(DataDone::Table(t)) => {
                if let Some(n) = self.loading.get_mut(&t) {
                    *n -= 1;
                    if *n == 0 {
                        self.loading.remove(&t);
                    }
                }
            }
            Some(DataDone::All(seqs)) => {
                self.loading.clear();
                self.sequences = Some(seqs);
                self.updates = None;
            }
            None => self.updates = None,
        }
        true
    }

    fn waiting(&self) -> bool {
        self.updates.is_some()
    }
}

/// The one table a step reads and changes, if it touches no other.
fn own_table(step: &Step) -> Option<&QualName> {
    match step.kind {
        StepKind::PrimaryKey
        | StepKind::Index
        | StepKind::Check
        | StepKind::Statistics
        | StepKind::Analyze => step.table(),
        _ => None,
    }
}

/// Runs the steps `todo`, respecting dependencies and, through `data`, the rows still loading.
/// Sessions open as steps become ready, up to `jobs`, beside the copy's own `jobs` workers:
/// the target builds indexes with cores the copy leaves idle (on DSQL, builds are jobs of
/// the service's own). Where the copy already fills every core, the data takes longer by
/// about what the steps gain (BENCHMARKS-overlap.md, 5 GB on 2 cores).
pub(crate) async fn run_steps(
    ctx: &Arc<Ctx>,
    steps: &[Step],
    todo: Vec<usize>,
    mut data: DataGate,
    table_costs: &HashMap<QualName, u64>,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<()> {
    if todo.is_empty() {
        return Ok(());
    }
    let pending: HashSet<usize> = todo.iter().copied().collect();
    let mut done: HashSet<usize> = (0..steps.len()).filter(|i| !pending.contains(i)).collect();
    let mut waiting: Vec<usize> = todo;
    let jobs = ctx.jobs().min(waiting.len()).max(1);
    // Idle sessions; `opened` counts them and those running a step.
    let mut pool: Vec<Client> = Vec::new();
    let mut opened = 0;
    let policy = RetryPolicy::default();
    let mut attempts: HashMap<usize, u32> = HashMap::new();
    let mut running: JoinSet<(usize, Option<Client>, Result<std::time::Duration>)> = JoinSet::new();
    let steps_arc: Arc<Vec<Step>> = Arc::new(steps.to_vec());
    let one_ddl = ctx.rules.one_ddl_per_transaction;

    // Steps started and not yet joined: a step waits while one of them locks its table.
    let mut in_flight: Vec<usize> = Vec::new();
    loop {
        // Start every ready step we have a session for, in start order.
        start_order(&mut waiting, steps, table_costs);
        let mut k = 0;
        while k < waiting.len() && (!pool.is_empty() || opened < jobs) {
            let i = waiting[k];
            if steps[i].deps.iter().all(|d| done.contains(d))
                && data.lets(&steps[i])
                && !in_flight
                    .iter()
                    .any(|&r| lock_conflict(&steps[r], &steps[i]))
            {
                let client = match pool.pop() {
                    Some(c) => c,
                    None => {
                        let c = ddl_session(ctx).await?;
                        opened += 1;
                        c
                    }
                };
                waiting.remove(k);
                in_flight.push(i);
                let steps = steps_arc.clone();
                let seqs = data.sequences.clone().unwrap_or_default();
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
                        let r = run_one(&mut client, &steps[i], &seqs, one_ddl)
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
        if running.is_empty() && waiting.is_empty() {
            return Ok(());
        }
        if running.is_empty() && !data.waiting() {
            return Err(Error::internal(format!(
                "{} steps can never run (unmet dependencies), first {}",
                waiting.len(),
                steps[waiting[0]].id
            )));
        }
        let joined = tokio::select! {
            j = running.join_next(), if !running.is_empty() => j,
            _ = data.next(), if data.waiting() => continue,
            _ = cancel.cancelled() => {
                running.abort_all();
                return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
            }
        };
        let Some(joined) = joined else { continue };
        let (i, client, result) =
            joined.map_err(|e| Error::internal(format!("step task failed: {e}")))?;
        in_flight.retain(|&r| r != i);
        match result {
            Ok(elapsed) => {
                done.insert(i);
                events.send(Event::StepDone {
                    id: steps[i].id.clone(),
                    kind: steps[i].kind,
                    elapsed,
                });
                // A lost session is opened again when a step needs one.
                match client {
                    Some(c) => pool.push(c),
                    None => opened -= 1,
                }
            }
            Err(e) if steps[i].optional && !e.is_retryable() => {
                // Reported, recorded as settled, and the run goes on.
                events.send(Event::Warning {
                    message: format!("{} was not created: {e}", steps[i].id),
                });
                let c = match client {
                    Some(c) if !c.is_closed() => c,
                    _ => ddl_session(ctx).await?,
                };
                c.batch_execute(&state::step_done_sql(&steps[i].id))
                    .await
                    .map_err(|e| Error::db(ErrorKind::Target, "recording a step", e))?;
                done.insert(i);
                pool.push(c);
            }
            Err(e) => {
                let n = attempts.entry(i).or_insert(1);
                if policy.should_retry(&e, *n) {
                    let delay = policy.delay(*n);
                    events.retry(format!("step {}", steps[i].id), *n, delay, &e);
                    *n += 1;
                    tokio::time::sleep(delay).await;
                    waiting.push(i);
                    match client {
                        Some(c) if !c.is_closed() => pool.push(c),
                        _ => opened -= 1,
                    }
                } else {
                    running.abort_all();
                    return Err(e);
                }
            }
        }
    }
}

/// Whether two steps would wait for each other's lock on their table: only `CREATE INDEX`
/// builds share a table (SHARE locks); `ALTER TABLE`, constraint validation and `ANALYZE`
/// take locks that conflict with them and with each other. Keeping such steps apart leaves
/// a session free for another table's step instead of blocked.
fn lock_conflict(a: &Step, b: &Step) -> bool {
    let builds_index = |s: &Step| {
        s.kind == StepKind::Index
            && s.sql()
                .first()
                .is_some_and(|q| q.trim_start().starts_with("CREATE"))
    };
    a.table().is_some() && a.table() == b.table() && !(builds_index(a) && builds_index(b))
}

/// Orders waiting steps as they should start: the slow kinds first, and of one kind the
/// largest table's first, so that the last to finish are short; else in plan order.
fn start_order(waiting: &mut [usize], steps: &[Step], table_costs: &HashMap<QualName, u64>) {
    waiting.sort_by_key(|&i| {
        (
            rank(steps[i].kind),
            Reverse(cost(table_costs, &steps[i])),
            i,
        )
    });
}

/// What a step's table costs to copy (see [`crate::chunk::copy_cost`]), which is
/// how long its index builds, validations and `ANALYZE` take relative to other tables'.
fn cost(table_costs: &HashMap<QualName, u64>, step: &Step) -> u64 {
    step.table()
        .and_then(|t| table_costs.get(t))
        .copied()
        .unwrap_or(0)
}

/// Index builds first (they take longest), then validations, then the rest.
fn rank(kind: StepKind) -> u8 {
    match kind {
        StepKind::PrimaryKey | StepKind::Index => 0,
        StepKind::Validate | StepKind::ForeignKey => 1,
        _ => 2,
    }
}

pub(crate) async fn ddl_session(ctx: &Ctx) -> Result<Client> {
    ctx.target_session(Purpose::Ddl).await
}

/// Runs one step and records it: in one transaction, or, where a transaction may hold
/// only one DDL statement and no DML with it, each statement on its own and then the record.
pub(crate) async fn run_one(
    client: &mut Client,
    step: &Step,
    seqs: &SequenceValues,
    one_ddl_per_transaction: bool,
) -> Result<()> {
    if one_ddl_per_transaction {
        return run_one_by_one(client, step, seqs).await;
    }
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
        Action::AsyncJob { .. } | Action::RestartIdentity { .. } => {
            return Err(Error::internal(format!(
                "step {} is for a DSQL target",
                step.id
            )));
        }
    }
    tx.batch_execute(&state::step_done_sql(&step.id))
        .await
        .map_err(err)?;
    tx.commit().await.map_err(err)
}

/// SQLSTATEs that say the object is already there: a repeated step after an interruption.
const ALREADY_EXISTS: &[&str] = &["42P07", "42P06", "42710", "42701", "42723", "42P16"];

/// Runs a statement in a transaction of its own; an "already exists" error means an earlier,
/// interrupted run made it, and counts as done.
async fn autocommit(client: &Client, step: &Step, sql: &str) -> Result<()> {
    match client.batch_execute(sql).await {
        Ok(()) => Ok(()),
        Err(e) if e.code().is_some_and(|c| ALREADY_EXISTS.contains(&c.code())) => Ok(()),
        Err(e) => Err(Error::db(ErrorKind::Target, format!("step {}", step.id), e)),
    }
}

pub(crate) async fn run_one_by_one(
    client: &Client,
    step: &Step,
    seqs: &SequenceValues,
) -> Result<()> {
    let err = |e| Error::db(ErrorKind::Target, format!("step {}", step.id), e);
    match step.action() {
        Action::Sql { statements } => {
            for s in statements {
                autocommit(client, step, s).await?;
            }
        }
        Action::AsyncJob { statement, index } => {
            let rows = match client.query(statement.as_str(), &[]).await {
                Ok(rows) => rows,
                Err(e) if e.code().is_some_and(|c| ALREADY_EXISTS.contains(&c.code())) => {
                    Vec::new()
                }
                Err(e) => return Err(err(e)),
            };
            let started: Option<String> = rows
                .first()
                .map(|r| r.try_get("job_id"))
                .transpose()
                .map_err(err)?;
            if let Some(job) = &started {
                wait_for_job(client, step, job).await?;
            }
            // If an interrupted run had made the index, the statement started no build of
            // it (or a no-op one): that run's build may still be running, or have failed.
            // The index's latest job says which; wait for it too.
            if let Some(index) = index {
                let latest: Option<String> = client
                    .query_opt(
                        "SELECT job_id FROM sys.jobs \
                         WHERE object_id = pg_catalog.to_regclass($1)::oid \
                         ORDER BY start_time DESC LIMIT 1",
                        &[&index.sql()],
                    )
                    .await
                    .map_err(err)?
                    .map(|r| r.get(0));
                if let Some(job) = latest.filter(|j| Some(j) != started.as_ref()) {
                    wait_for_job(client, step, &job).await?;
                }
            }
        }
        Action::RestartIdentity { table, column } => {
            let max: Option<i64> = client
                .query_one(
                    &format!(
                        "SELECT max({})::bigint FROM {}",
                        crate::sql::ident(column),
                        table.sql()
                    ),
                    &[],
                )
                .await
                .map_err(err)?
                .get(0);
            if let Some(m) = max {
                autocommit(
                    client,
                    step,
                    &format!(
                        "ALTER TABLE {} ALTER COLUMN {} RESTART WITH {}",
                        table.sql(),
                        crate::sql::ident(column),
                        m + 1
                    ),
                )
                .await?;
            }
        }
        Action::SetSequence { sequence, columns } => {
            let (value, called) = sequence_target(client, sequence, columns, seqs)
                .await
                .map_err(err)?;
            client
                .execute(
                    "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
                    &[&sequence.sql(), &value, &called],
                )
                .await
                .map_err(err)?;
        }
        Action::Analyze { table } => {
            autocommit(client, step, &format!("ANALYZE {}", table.sql())).await?;
        }
    }
    // The step's statements have committed; its record has not.
    crate::faults::crash_point("copy.step.before_record");
    client
        .batch_execute(&state::step_done_sql(&step.id))
        .await
        .map_err(err)
}

/// Waits for a DSQL job (an index build, a constraint validation) to end; a failed job is
/// an error carrying the job's own explanation.
async fn wait_for_job(client: &Client, step: &Step, job: &str) -> Result<()> {
    let err = |e| {
        Error::db(
            ErrorKind::Target,
            format!("step {} (job {job})", step.id),
            e,
        )
    };
    let row = client
        .query_one("CALL sys.wait_for_job($1)", &[&job])
        .await
        .map_err(err)?;
    let succeeded: bool = row.try_get(0).map_err(err)?;
    if succeeded {
        return Ok(());
    }
    let details: Option<String> = client
        .query_opt("SELECT details FROM sys.jobs WHERE job_id = $1", &[&job])
        .await
        .map_err(err)?
        .and_then(|r| r.get(0));
    Err(Error::new(
        ErrorKind::Target,
        format!(
            "step {}: job {job} failed: {}",
            step.id,
            details.unwrap_or_else(|| "no details".into())
        ),
    ))
}

/// The value a target sequence gets: the source's, or past the largest copied value of the
/// columns it feeds if that is further along.
async fn sequence_target(
    tx: &impl tokio_postgres::GenericClient,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::StepSpec;

    fn step(id: &str, kind: StepKind, sql: &str, table: Option<&QualName>) -> StepSpec {
        let spec = StepSpec::new(id.into(), kind, vec![sql.into()]);
        match table {
            Some(t) => spec.on_table(t),
            None => spec,
        }
    }

    #[test]
    fn the_largest_tables_steps_start_first_within_a_kind() {
        let (small, big) = (
            QualName::new("public", "small"),
            QualName::new("public", "big"),
        );
        let steps = crate::ddl::order(
            vec![
                step(
                    "analyze:a_small",
                    StepKind::Analyze,
                    "ANALYZE small",
                    Some(&small),
                ),
                step(
                    "analyze:z_big",
                    StepKind::Analyze,
                    "ANALYZE big",
                    Some(&big),
                ),
                step(
                    "index:small",
                    StepKind::Index,
                    "CREATE INDEX i ON small (x)",
                    Some(&small),
                ),
                step("view:v", StepKind::View, "CREATE VIEW v AS SELECT 1", None),
            ],
            &[],
        )
        .unwrap();
        let costs = HashMap::from([(small.clone(), 10), (big.clone(), 1000)]);
        let mut waiting: Vec<usize> = (0..steps.len()).collect();
        start_order(&mut waiting, &steps, &costs);
        let ids: Vec<&str> = waiting.iter().map(|&i| steps[i].id()).collect();
        // The index build leads whatever its table; then the big table's ANALYZE, though
        // plan order (by name) puts the small one first.
        assert_eq!(ids[0], "index:small", "{ids:?}");
        let at = |id| ids.iter().position(|s| *s == id).expect(id);
        assert!(at("analyze:z_big") < at("analyze:a_small"), "{ids:?}");
    }

    #[test]
    fn only_index_builds_share_a_table() {
        let t = QualName::new("public", "t");
        let u = QualName::new("public", "u");
        let s = crate::ddl::order(
            vec![
                step(
                    "index:a",
                    StepKind::Index,
                    "CREATE INDEX a ON t (x)",
                    Some(&t),
                ),
                step(
                    "index:b",
                    StepKind::Index,
                    "CREATE INDEX b ON t (y)",
                    Some(&t),
                ),
                step(
                    "constraint:c",
                    StepKind::Index,
                    "ALTER TABLE ONLY t ADD CONSTRAINT c UNIQUE (z)",
                    Some(&t),
                ),
                step(
                    "pk:p",
                    StepKind::PrimaryKey,
                    "ALTER TABLE ONLY t ADD CONSTRAINT p PRIMARY KEY (id)",
                    Some(&t),
                ),
                step(
                    "index:d",
                    StepKind::Index,
                    "CREATE INDEX d ON u (x)",
                    Some(&u),
                ),
                step("schema:s", StepKind::Schema, "CREATE SCHEMA s", None),
            ],
            &[],
        )
        .unwrap();
        let by = |id: &str| steps_by_id(&s, id);
        assert!(!lock_conflict(by("index:a"), by("index:b")));
        assert!(lock_conflict(by("index:a"), by("pk:p")));
        assert!(lock_conflict(by("pk:p"), by("constraint:c")));
        assert!(lock_conflict(by("index:b"), by("constraint:c")));
        assert!(!lock_conflict(by("pk:p"), by("index:d")));
        assert!(!lock_conflict(by("schema:s"), by("schema:s")));
    }

    #[tokio::test]
    async fn a_tables_own_steps_wait_for_its_rows_and_the_rest_for_all_rows() {
        let (t, u, parent) = (
            QualName::new("public", "t"),
            QualName::new("public", "u"),
            QualName::new("public", "parted"),
        );
        let s = crate::ddl::order(
            vec![
                step(
                    "index:t",
                    StepKind::Index,
                    "CREATE INDEX ON t (x)",
                    Some(&t),
                ),
                step("analyze:u", StepKind::Analyze, "ANALYZE u", Some(&u)),
                // A partitioned table: its index reaches into partitions still loading.
                step(
                    "index:parted",
                    StepKind::Index,
                    "CREATE INDEX ON parted (x)",
                    Some(&parent),
                ),
                step(
                    "fk:t",
                    StepKind::ForeignKey,
                    "ALTER TABLE t ADD FOREIGN KEY (x) REFERENCES u NOT VALID",
                    Some(&t),
                ),
            ],
            &[],
        )
        .unwrap();
        let by = |id: &str| steps_by_id(&s, id);
        let (tx, rx) = mpsc::unbounded_channel();
        // `u` is loaded from two source tables (merged partitions).
        let mut gate = DataGate::loading(
            [t.clone(), u.clone()],
            [t.clone(), u.clone(), u.clone()],
            rx,
        );
        let open = |g: &DataGate| {
            ["index:t", "analyze:u", "index:parted", "fk:t"]
                .into_iter()
                .filter(|id| g.lets(by(id)))
                .collect::<Vec<_>>()
        };
        assert!(open(&gate).is_empty());
        tx.send(DataDone::Table(t.clone())).unwrap();
        assert!(gate.next().await);
        assert_eq!(open(&gate), ["index:t"]);
        tx.send(DataDone::Table(u.clone())).unwrap();
        assert!(gate.next().await);
        assert_eq!(
            open(&gate),
            ["index:t"],
            "one of u's sources is still loading"
        );
        tx.send(DataDone::Table(u.clone())).unwrap();
        assert!(gate.next().await);
        assert_eq!(open(&gate), ["index:t", "analyze:u"]);
        assert!(gate.waiting());
        tx.send(DataDone::All(Arc::default())).unwrap();
        assert!(gate.next().await);
        assert_eq!(open(&gate).len(), 4);
        assert!(!gate.waiting());
    }

    fn steps_by_id<'a>(s: &'a [Step], id: &str) -> &'a Step {
        s.iter().find(|x| x.id() == id).unwrap()
    }
}
