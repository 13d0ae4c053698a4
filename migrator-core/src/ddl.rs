//! DDL steps and their ordering: every schema object a target profile renders becomes a
//! step; `pg_depend` edges and the fast-load phases decide the order. Steps before the data
//! run in one transaction; steps after the data form a graph that workers run in parallel.
//! Also the foreign keys a target does not get, which the manifest records for verify.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::catalog::ObjKey;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::QualName;

/// When a step runs relative to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Before any row moves, all in one transaction.
    PreData,
    /// After the data, in dependency order, in parallel.
    PostData,
}

/// What a step does, for people and for ordering among independent steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepKind {
    /// `CREATE SCHEMA`
    Schema,
    /// `CREATE EXTENSION`
    Extension,
    /// Enum, domain, composite or range type.
    Type,
    /// Function, procedure or aggregate.
    Function,
    /// `CREATE SEQUENCE`
    Sequence,
    /// `CREATE TABLE` (with partition attachment, column settings and comments).
    Table,
    /// `ALTER SEQUENCE ... OWNED BY`
    SequenceOwner,
    /// Primary key (before the data).
    PrimaryKey,
    /// Unique index or constraint, exclusion constraint, or plain index.
    Index,
    /// Attach a partition's index to its parent index.
    IndexAttach,
    /// CHECK constraint added after the data.
    Check,
    /// Foreign key added `NOT VALID`.
    ForeignKey,
    /// `VALIDATE CONSTRAINT` of a foreign key.
    Validate,
    /// `CREATE VIEW`
    View,
    /// `CREATE MATERIALIZED VIEW ... WITH NO DATA`
    MaterializedView,
    /// `REFRESH MATERIALIZED VIEW`
    Refresh,
    /// `CREATE TRIGGER`
    Trigger,
    /// `CREATE RULE`
    Rule,
    /// Row-level security and policies.
    Policy,
    /// `CREATE STATISTICS`
    Statistics,
    /// Replica identity, CLUSTER ON and other table settings that need an index.
    TableSetting,
    /// Advance a sequence past the copied values.
    SequenceValue,
    /// `ANALYZE`
    Analyze,
}

/// What a step executes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum Action {
    /// Statements run in order, in one transaction.
    Sql {
        /// The statements.
        statements: Vec<String>,
    },
    /// Set a sequence past the source's current value and past the largest value of every
    /// column it feeds in the target.
    SetSequence {
        /// The sequence.
        sequence: QualName,
        /// The columns (table, column) whose largest value the sequence must pass.
        columns: Vec<(QualName, String)>,
    },
    /// `ANALYZE` a table.
    Analyze {
        /// The table.
        table: QualName,
    },
    /// A statement that starts a DSQL job (`CREATE INDEX ASYNC`, `ALTER TABLE ASYNC ...
    /// VALIDATE`) and returns its `job_id`; the step waits for the job.
    AsyncJob {
        /// The statement.
        statement: String,
        /// The index the job builds, if it builds one: when an earlier run made it (the
        /// statement then starts no job), that run's job is the one to wait for.
        index: Option<QualName>,
    },
    /// Restart an identity column past the largest copied value.
    RestartIdentity {
        /// The table.
        table: QualName,
        /// The identity column.
        column: String,
    },
}

/// One DDL step of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub(crate) id: String,
    pub(crate) phase: Phase,
    pub(crate) kind: StepKind,
    pub(crate) action: Action,
    pub(crate) table: Option<QualName>,
    /// Indices of the steps that must finish first (always earlier in the plan).
    pub(crate) deps: Vec<usize>,
    /// The statement that removes what the step made (for `--restart`).
    #[serde(skip)]
    pub(crate) undo: Option<String>,
    /// A failure is reported as a warning and the run goes on (objects the target may not
    /// be able to hold, found out only by trying).
    pub(crate) optional: bool,
}

impl Step {
    /// A stable identifier (`kind:object`), recorded in the manifest when done.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Before or after the data.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What kind of object the step makes.
    pub fn kind(&self) -> StepKind {
        self.kind
    }

    /// The table the step concerns, if any.
    pub fn table(&self) -> Option<&QualName> {
        self.table.as_ref()
    }

    /// The SQL the step runs, as text (computed statements shown as comments).
    pub fn sql(&self) -> Vec<String> {
        match &self.action {
            Action::Sql { statements } => statements.clone(),
            Action::SetSequence { sequence, columns } => {
                let past: Vec<String> = columns
                    .iter()
                    .map(|(t, c)| format!("max({c}) of {t}"))
                    .collect();
                vec![if past.is_empty() {
                    format!("-- set {sequence} to the source's value")
                } else {
                    format!(
                        "-- set {sequence} past the source's value and {}",
                        past.join(", ")
                    )
                }]
            }
            Action::Analyze { table } => vec![format!("ANALYZE {}", table.sql())],
            Action::AsyncJob { statement, .. } => {
                vec![
                    statement.clone(),
                    "-- then CALL sys.wait_for_job(<job_id>)".into(),
                ]
            }
            Action::RestartIdentity { table, column } => {
                vec![format!("-- restart {table}.{column} past max({column})")]
            }
        }
    }

    pub(crate) fn action(&self) -> &Action {
        &self.action
    }
}

/// A step before ordering: what it creates and what it must follow.
#[derive(Debug, Clone)]
pub(crate) struct StepSpec {
    pub id: String,
    pub kind: StepKind,
    pub action: Action,
    pub table: Option<QualName>,
    /// Objects this step creates (targets of dependency edges).
    pub creates: Vec<ObjKey>,
    /// Objects whose dependencies this step carries (sources of dependency edges).
    pub carries: Vec<ObjKey>,
    /// Step ids that must run first.
    pub after: Vec<String>,
    /// How to remove what the step makes.
    pub undo: Option<String>,
    /// A failure is a warning, not an error.
    pub optional: bool,
}

impl StepSpec {
    pub fn new(id: String, kind: StepKind, statements: Vec<String>) -> StepSpec {
        StepSpec {
            id,
            kind,
            action: Action::Sql { statements },
            table: None,
            creates: Vec::new(),
            carries: Vec::new(),
            after: Vec::new(),
            undo: None,
            optional: false,
        }
    }

    pub fn optional(mut self) -> StepSpec {
        self.optional = true;
        self
    }

    pub fn undo(mut self, sql: String) -> StepSpec {
        self.undo = Some(sql);
        self
    }

    pub fn creating(mut self, key: ObjKey) -> StepSpec {
        self.creates.push(key);
        self.carries.push(key);
        self
    }

    pub fn carrying(mut self, key: ObjKey) -> StepSpec {
        self.carries.push(key);
        self
    }

    pub fn on_table(mut self, t: &QualName) -> StepSpec {
        self.table = Some(t.clone());
        self
    }

    pub fn after(mut self, id: impl Into<String>) -> StepSpec {
        self.after.push(id.into());
        self
    }

    pub fn with_action(mut self, action: Action) -> StepSpec {
        self.action = action;
        self
    }
}

fn default_phase(kind: StepKind) -> Phase {
    match kind {
        StepKind::Schema
        | StepKind::Extension
        | StepKind::Type
        | StepKind::Sequence
        | StepKind::Table
        | StepKind::SequenceOwner => Phase::PreData,
        // Built after the load like the other indexes (2.5M narrow rows: COPY 4.7 s with
        // the key in place, 2.1 s + 1.2 s to build it after), unless a pre-data object
        // needs it.
        StepKind::PrimaryKey => Phase::PostData,
        _ => Phase::PostData,
    }
}

/// Whether a step of this kind may call functions of the schema while it runs.
fn runs_user_code(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::Index
            | StepKind::Check
            | StepKind::Validate
            | StepKind::Refresh
            | StepKind::Analyze
    )
}

/// Orders step specs into a plan: dependency edges from the catalog (`deps`, as
/// `(dependent, referenced)`) and each step's `after` list; a pre-data step's dependencies
/// are pulled into the pre-data phase. Returns steps whose `deps` point to earlier steps.
pub(crate) fn order(specs: Vec<StepSpec>, deps: &[(ObjKey, ObjKey)]) -> Result<Vec<Step>> {
    let n = specs.len();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut creator: HashMap<ObjKey, usize> = HashMap::new();
    for (i, s) in specs.iter().enumerate() {
        if by_id.insert(s.id.as_str(), i).is_some() {
            return Err(Error::internal(format!("duplicate step id {}", s.id)));
        }
        for k in &s.creates {
            creator.entry(*k).or_insert(i);
        }
    }
    let mut carriers: HashMap<ObjKey, Vec<usize>> = HashMap::new();
    for (i, s) in specs.iter().enumerate() {
        for k in &s.carries {
            carriers.entry(*k).or_default().push(i);
        }
    }
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (a, b) in deps {
        let (Some(users), Some(&made)) = (carriers.get(a), creator.get(b)) else {
            continue;
        };
        for &u in users {
            if u != made {
                edges[u].insert(made);
            }
        }
    }
    for (i, s) in specs.iter().enumerate() {
        for id in &s.after {
            if let Some(&j) = by_id.get(id.as_str()) {
                edges[i].insert(j);
            }
        }
    }
    // A function's body may call another by name, which the catalog does not record: a
    // step that runs user code (an index expression, a check, a refresh, the statistics
    // of an expression index) waits for every function, not only those it names.
    let functions: Vec<usize> = (0..n)
        .filter(|&i| specs[i].kind == StepKind::Function)
        .collect();
    for (i, s) in specs.iter().enumerate() {
        if runs_user_code(s.kind) {
            edges[i].extend(functions.iter().copied());
        }
    }

    // Phases: pre-data steps pull everything they need into pre-data.
    let mut phase: Vec<Phase> = specs.iter().map(|s| default_phase(s.kind)).collect();
    let mut stack: Vec<usize> = (0..n).filter(|&i| phase[i] == Phase::PreData).collect();
    while let Some(i) = stack.pop() {
        for &j in &edges[i] {
            if phase[j] != Phase::PreData {
                phase[j] = Phase::PreData;
                stack.push(j);
            }
        }
    }

    // Kahn's algorithm; among ready steps, earlier phase, then kind, then id.
    let mut indegree: Vec<usize> = edges.iter().map(|e| e.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        for &j in e {
            dependents[j].push(i);
        }
    }
    let key = |i: usize| (phase[i], specs[i].kind, specs[i].id.clone(), i);
    let mut ready: BTreeMap<(Phase, StepKind, String, usize), usize> = BTreeMap::new();
    for (i, d) in indegree.iter().enumerate() {
        if *d == 0 {
            ready.insert(key(i), i);
        }
    }
    let mut order = Vec::with_capacity(n);
    while let Some((_, i)) = ready.pop_first() {
        order.push(i);
        for &d in &dependents[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.insert(key(d), d);
            }
        }
    }
    if order.len() != n {
        let stuck: Vec<&str> = (0..n)
            .filter(|i| indegree[*i] > 0)
            .map(|i| specs[i].id.as_str())
            .take(8)
            .collect();
        return Err(Error::new(
            ErrorKind::Incompatible,
            format!(
                "dependency cycle among schema objects: {}",
                stuck.join(", ")
            ),
        ));
    }
    // Pre-data steps must all come first; a post-data step never precedes a pre-data one
    // because pre-data steps depend only on pre-data steps and sort first among ready ones.
    order.sort_by_key(|&i| phase[i] == Phase::PostData);
    let mut position = vec![0usize; n];
    for (pos, &i) in order.iter().enumerate() {
        position[i] = pos;
    }
    let mut specs: Vec<Option<StepSpec>> = specs.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(n);
    for &i in &order {
        let s = specs[i].take().expect("each step once");
        let mut d: Vec<usize> = edges[i].iter().map(|&j| position[j]).collect();
        d.sort_unstable();
        debug_assert!(d.iter().all(|&p| p < out.len()));
        out.push(Step {
            id: s.id,
            phase: phase[i],
            kind: s.kind,
            action: s.action,
            table: s.table,
            deps: d,
            undo: s.undo,
            optional: s.optional,
        });
    }
    Ok(out)
}

/// A foreign key the target does not get (omitted by config, or the target lacks them):
/// recorded in the manifest so verify can count orphans.
#[derive(Debug, Clone)]
pub(crate) struct OmittedForeignKey {
    pub name: String,
    pub child: QualName,
    pub columns: Vec<String>,
    pub parent: QualName,
    pub parent_columns: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_order_and_pull_into_pre_data() {
        let f = StepSpec::new("function:f".into(), StepKind::Function, vec!["F".into()])
            .creating(ObjKey::Proc(1));
        let t = StepSpec::new("table:t".into(), StepKind::Table, vec!["T".into()])
            .creating(ObjKey::Rel(2));
        let v = StepSpec::new("view:v".into(), StepKind::View, vec!["V".into()])
            .creating(ObjKey::Rel(3));
        let g = StepSpec::new("function:g".into(), StepKind::Function, vec!["G".into()])
            .creating(ObjKey::Proc(4));
        let deps = [
            (ObjKey::Rel(2), ObjKey::Proc(1)),
            (ObjKey::Rel(3), ObjKey::Rel(2)),
            (ObjKey::Rel(3), ObjKey::Proc(4)),
        ];
        let steps = order(vec![v, g, t, f], &deps).unwrap();
        let ids: Vec<&str> = steps.iter().map(|s| s.id()).collect();
        // f is needed by the table: pre-data. g only by the view: after the data.
        assert_eq!(ids, ["function:f", "table:t", "function:g", "view:v"]);
        assert_eq!(steps[0].phase(), Phase::PreData);
        assert_eq!(steps[2].phase(), Phase::PostData);
        assert_eq!(steps[3].deps, vec![1, 2]);
    }

    #[test]
    fn primary_keys_follow_the_data_unless_a_pre_data_step_needs_one() {
        let t = StepSpec::new("table:t".into(), StepKind::Table, vec![]).creating(ObjKey::Rel(1));
        let pk = StepSpec::new("pk:t.t_pkey".into(), StepKind::PrimaryKey, vec![])
            .creating(ObjKey::Constraint(2));
        let steps = order(vec![pk.clone(), t.clone()], &[]).unwrap();
        assert_eq!(steps[1].id(), "pk:t.t_pkey");
        assert_eq!(steps[1].phase(), Phase::PostData);
        // A table whose definition needs the key (e.g. through a function) pulls it forward.
        let u = StepSpec::new("table:u".into(), StepKind::Table, vec![]).creating(ObjKey::Rel(3));
        let steps = order(vec![pk, t, u], &[(ObjKey::Rel(3), ObjKey::Constraint(2))]).unwrap();
        let pk = steps.iter().find(|s| s.id() == "pk:t.t_pkey").unwrap();
        assert_eq!(pk.phase(), Phase::PreData);
    }

    #[test]
    fn steps_that_run_user_code_wait_for_every_function() {
        let f = |id: &str, oid| {
            StepSpec::new(id.into(), StepKind::Function, vec![]).creating(ObjKey::Proc(oid))
        };
        let refresh = StepSpec::new("refresh:v".into(), StepKind::Refresh, vec![]);
        let view = StepSpec::new("view:w".into(), StepKind::View, vec![]);
        // The refresh names neither function (one calls the other by name in its body).
        let steps = order(
            vec![refresh, view, f("function:a", 1), f("function:b", 2)],
            &[],
        )
        .unwrap();
        let at = |id: &str| steps.iter().position(|s| s.id() == id).unwrap();
        let refresh = &steps[at("refresh:v")];
        assert_eq!(refresh.deps, vec![at("function:a"), at("function:b")]);
        assert!(
            steps[at("view:w")].deps.is_empty(),
            "a view runs nothing when made"
        );
    }

    #[test]
    fn cycle_is_reported() {
        let a = StepSpec::new("view:a".into(), StepKind::View, vec![]).creating(ObjKey::Rel(1));
        let b = StepSpec::new("view:b".into(), StepKind::View, vec![]).creating(ObjKey::Rel(2));
        let deps = [
            (ObjKey::Rel(1), ObjKey::Rel(2)),
            (ObjKey::Rel(2), ObjKey::Rel(1)),
        ];
        let e = order(vec![a, b], &deps).unwrap_err();
        assert!(e.to_string().contains("view:a"), "{e}");
    }
}
