//! The `dsql` profile (Amazon Aurora DSQL): a schema DSQL accepts, made from the source's.
//! Column types follow DSQL's types table ([`types`]): what DSQL refuses is mapped
//! ([`columns`]: `jsonb` to `json` where the cluster refuses it, arrays to `json` or text,
//! `inet` and the other query-runtime types to text, an unconstrained `numeric` to the
//! `numeric(p,s)` its data need, enum to text with a CHECK, domain to its base type with
//! its CHECKs), and the data are measured against DSQL's limits before anything is written
//! ([`measure`]). Partitioned tables become one table, inheritance is flattened, integer
//! keys follow the key strategy, indexes are built with `CREATE INDEX ASYNC`, foreign keys
//! are added `NOT VALID` and validated with `ALTER TABLE ASYNC`, and what DSQL cannot hold
//! (triggers, PL/pgSQL, extensions, rules, policies, materialized views, indexes on types it
//! cannot index) is reported and skipped. Every statement is one DDL for a transaction of
//! its own. Each mapping is a finding in the plan; `--strict` makes them errors. What the
//! sources disagree on, or what changed during 2026 (sequences, foreign keys, `json` and
//! `jsonb` columns, numeric precision), is asked of each cluster ([`probe`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::catalog::{Catalog, Constraint, Index, ObjKey, Oid, Table};
use crate::config::{Config, ForeignKeyMode, KeyStrategy};
use crate::ddl::{Action, OmittedForeignKey, StepKind, StepSpec};
use crate::findings::{Finding, Severity};
use crate::sql::{QualName, ident, literal};
use crate::transform;

pub(crate) mod columns;
pub(crate) mod measure;
pub mod types;

use columns::{ColumnMap, rewrite_casts};
use measure::NumericChoice;

/// Workers when `copy.jobs` is not set: [`JOBS_PER_CPU`] for each of the client's CPUs,
/// between [`MIN_JOBS`] and [`MAX_JOBS`]. A DSQL commit waits for a quorum across
/// availability zones, so a session spends most of its time waiting, not computing: more
/// sessions than CPUs keep the client busy. From the rows/s against jobs curve at 0, 5 and
/// 20 ms a commit (benches, scenario I, BENCHMARKS-dsql-latency.md): on 2 CPUs, 8 jobs were
/// within 10% of the best at every latency, 2 jobs lost a third at 20 ms, and 32 or 64 were
/// no faster.
pub(crate) fn default_jobs(cpus: usize) -> usize {
    (JOBS_PER_CPU * cpus).clamp(MIN_JOBS, MAX_JOBS)
}

/// See [`default_jobs`].
const JOBS_PER_CPU: usize = 4;
const MIN_JOBS: usize = 8;
/// The most the curve measured (64 jobs hold about 194 sessions, far under DSQL's 10,000).
const MAX_JOBS: usize = 64;

/// What the target cluster supports (probed at plan time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// Sequences and IDENTITY columns (since February 2026).
    pub sequences: bool,
    /// Foreign keys (since August 2026).
    pub foreign_keys: bool,
    /// `json` columns (2026; a query-runtime type at launch).
    pub json: bool,
    /// `jsonb` columns (the sources disagree: see [`types`]).
    pub jsonb: bool,
    /// The largest `numeric` precision (1000 since August 2026, 38 before).
    pub numeric_max_precision: u32,
}

impl Capabilities {
    /// Whether a column of the type `rule` describes is stored as it is.
    pub fn stores(&self, rule: &types::TypeRule) -> bool {
        match (rule.column, rule.name) {
            (types::Column::Stored, _) => true,
            (types::Column::Probed, "json") => self.json,
            (types::Column::Probed, "jsonb") => self.jsonb,
            _ => false,
        }
    }
}

/// A source table (a leaf, for partitions) as DSQL gets it.
#[derive(Debug, Clone)]
pub(crate) struct TableMap {
    /// The target table (a partition's rows go to its root table).
    pub target: QualName,
    pub columns: Vec<ColumnMap>,
    /// The source's primary key columns: rows are read in this order, and an interrupted
    /// chunk resumes after the last key it committed.
    pub key: Vec<String>,
    /// For each secondary index of the target table, the positions of its columns in
    /// `columns`: their bytes count toward the transaction's size.
    pub index_columns: Vec<Vec<usize>>,
}

/// The rendered schema.
pub(crate) struct Rendered {
    pub steps: Vec<StepSpec>,
    pub findings: Vec<Finding>,
    /// Per source data table.
    pub tables: HashMap<Oid, TableMap>,
    /// Foreign keys not created (omitted or unsupported), recorded in the manifest so
    /// verify can look for orphans.
    pub omitted_foreign_keys: Vec<OmittedForeignKey>,
}

struct Ctx<'a> {
    cat: &'a Catalog,
    config: &'a Config,
    strict: bool,
    findings: Vec<Finding>,
}

impl Ctx<'_> {
    /// A mapping: a warning, or an error under `--strict`.
    fn mapped(&mut self, object: impl Into<String>, message: impl Into<String>) {
        let severity = if self.strict {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.findings.push(Finding::new(severity, object, message));
    }

    fn skipped(&mut self, object: impl Into<String>, why: &str) {
        self.mapped(object, format!("not created in DSQL: {why}"));
    }
}

fn parent_oid_root(cat: &Catalog, oid: Oid) -> &Oid {
    let r = root(cat, oid);
    cat.tables
        .iter()
        .find(|t| t.oid == r)
        .map(|t| &t.oid)
        .unwrap_or(&0)
}

/// The root of a partition tree (itself for other tables).
fn root(cat: &Catalog, mut oid: Oid) -> Oid {
    while let Some((parent, _)) = cat.table(oid).and_then(|t| t.partition_of.clone()) {
        oid = parent;
    }
    oid
}

/// Renders the DSQL schema and decides each table's mapping.
pub(crate) fn render(
    cat: &Catalog,
    config: &Config,
    caps: Capabilities,
    numerics: &HashMap<(Oid, String), NumericChoice>,
    strict: bool,
) -> Rendered {
    let normalized = cat.with_partition_keys();
    let cat = &normalized;
    let mut cx = Ctx {
        cat,
        config,
        strict,
        findings: Vec::new(),
    };
    let mut steps = Vec::new();
    let strategy = config.keys.strategy;
    if strategy == KeyStrategy::Identity && !caps.sequences {
        cx.findings.push(Finding::new(
            Severity::Error,
            "keys.strategy",
            "keys.strategy = identity needs a DSQL cluster with sequences (February 2026 or later); \
             this target has none: use uuid or keep",
        ));
    }
    let uuid_cols = if strategy == KeyStrategy::Uuid {
        transform::keys::uuid_columns(cat)
    } else {
        HashMap::new()
    };
    let casts = columns::casts(cat, caps);

    for s in &cat.schemas {
        if s.name != "public" {
            steps.push(
                StepSpec::new(
                    format!("schema:{}", s.name),
                    StepKind::Schema,
                    vec![format!("CREATE SCHEMA IF NOT EXISTS {}", ident(&s.name))],
                )
                .creating(ObjKey::Schema(s.oid)),
            );
        }
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    cx.findings.push(Finding::new(
        Severity::Info,
        "target cluster",
        format!(
            "asked of the cluster: sequences {}, foreign keys {}, json columns {}, jsonb columns {}, \
             numeric precision up to {}",
            yes(caps.sequences),
            yes(caps.foreign_keys),
            yes(caps.json),
            yes(caps.jsonb),
            caps.numeric_max_precision
        ),
    ));
    for e in &cat.extensions {
        cx.skipped(format!("extension {}", e.name), "DSQL has no extensions");
    }
    // Tables: partitions fold into their root, inheritance is flattened.
    let mut tables: HashMap<Oid, TableMap> = HashMap::new();
    let mut pk_of: HashMap<QualName, Vec<String>> = HashMap::new();
    for t in cat.tables.iter().filter(|t| t.partition_of.is_none()) {
        let inputs = columns::Inputs {
            config,
            caps,
            uuid_cols: &uuid_cols,
            casts: &casts,
            numerics,
        };
        let (step, map, pk) = table_step(&mut cx, t, &inputs);
        steps.push(step);
        pk_of.insert(t.name.clone(), pk);
        if !t.is_partitioned() {
            tables.insert(t.oid, map.clone());
        }
        if t.is_partitioned() {
            cx.mapped(
                t.name.to_string(),
                "partitioned table created as one table holding every partition's rows",
            );
            for leaf in cat.tables.iter().filter(|l| {
                !l.is_partitioned() && l.partition_of.is_some() && root(cat, l.oid) == t.oid
            }) {
                let mut leaf_map = map.clone();
                // A partition may order its columns differently: read them by name.
                leaf_map.key = leaf.pk_columns.clone();
                if leaf_map.key.is_empty() {
                    leaf_map.key = pk_of[&t.name].clone();
                }
                let _ = leaf;
                tables.insert(leaf.oid, leaf_map);
            }
        }
        if !t.inherits.is_empty() {
            cx.mapped(
                t.name.to_string(),
                "inheritance flattened: the table holds every column itself",
            );
        }
        if t.unlogged {
            cx.mapped(
                t.name.to_string(),
                "UNLOGGED dropped: DSQL tables are always durable",
            );
        }
        for m in &map.columns {
            let Some(note) = m.note.clone() else { continue };
            let object = format!("{}.{}", t.name, m.name);
            if m.uuid_key.is_some()
                || m.identity
                || m.name.starts_with("legacy_")
                || note.starts_with("integer key")
            {
                // What keys.strategy asked for: worth knowing, not a compromise.
                cx.findings.push(Finding::new(Severity::Info, object, note));
            } else {
                cx.mapped(object, note);
            }
        }
        if t.columns.len() > 255 {
            cx.findings.push(Finding::new(
                Severity::Error,
                t.name.to_string(),
                format!(
                    "{} has {} columns; DSQL allows 255",
                    t.name,
                    t.columns.len()
                ),
            ));
        }
    }

    // Sequences: created where a rendered column still takes its default from one.
    let defaults: Vec<String> = tables
        .values()
        .flat_map(|m| m.columns.iter().filter_map(|c| c.default.clone()))
        .collect();
    for s in &cat.sequences {
        let used = defaults.iter().any(|d| {
            d.contains("nextval(")
                && (d.contains(&format!("'{}'", s.name)) || d.contains(&s.name.sql()))
        });
        if s.identity || !used {
            continue;
        }
        if caps.sequences {
            steps.push(
                StepSpec::new(
                    format!("sequence:{}", s.name),
                    StepKind::Sequence,
                    vec![format!(
                        "CREATE SEQUENCE {} AS bigint INCREMENT BY {} START WITH {} CACHE 65536",
                        s.name.sql(),
                        s.increment,
                        s.start
                    )],
                )
                .creating(ObjKey::Rel(s.oid)),
            );
        } else {
            cx.skipped(
                s.name.to_string(),
                "this cluster has no sequences; defaults that used it are dropped",
            );
        }
    }

    // Indexes: btree only, built ASYNC after the data.
    let mut index_names: HashSet<(QualName, String)> = HashSet::new();
    let mut per_table: BTreeMap<QualName, usize> = BTreeMap::new();
    for i in &cat.indexes {
        if i.constraint.is_some() {
            continue; // primary keys and UNIQUE constraints are in CREATE TABLE
        }
        let Some(owner) = cat.table(i.table) else {
            cx.skipped(format!("index {}", i.name), "indexes of materialized views");
            continue;
        };
        let target_table = cat
            .table(root(cat, owner.oid))
            .map(|t| t.name.clone())
            .unwrap_or_else(|| owner.name.clone());
        if let Some(reason) = unsupported_index(i) {
            cx.skipped(format!("index {}.{}", owner.name.schema, i.name), reason);
            continue;
        }
        let owner_columns = tables
            .values()
            .find(|m| m.target == target_table)
            .map(|m| m.columns.as_slice())
            .unwrap_or_default();
        if let Some(c) = unindexable(owner_columns, &i.columns) {
            cx.skipped(
                format!("index {}.{}", owner.name.schema, i.name),
                &format!(
                    "DSQL cannot index {} columns ({} is {})",
                    c.target_type, c.name, c.target_type
                ),
            );
            continue;
        }
        let Some(body) = index_body(i) else {
            cx.skipped(
                format!("index {}", i.name),
                "its definition could not be read",
            );
            continue;
        };
        // Partition-local indexes fold into one index of the root table.
        let name = if owner.partition_of.is_some() && i.parent.is_none() {
            if i.columns.is_empty() || i.expression_or_partial {
                cx.skipped(
                    format!("index {}.{}", owner.name.schema, i.name),
                    "a partition's own expression or partial index",
                );
                continue;
            }
            format!("{}_{}_idx", target_table.name, i.columns.join("_"))
        } else if owner.partition_of.is_some() {
            continue; // the parent's partitioned index stands for it
        } else {
            i.name.clone()
        };
        if !index_names.insert((target_table.clone(), body.clone())) {
            continue;
        }
        *per_table.entry(target_table.clone()).or_default() += 1;
        let unique = if i.definition.starts_with("CREATE UNIQUE") {
            "UNIQUE "
        } else {
            ""
        };
        let sql = format!(
            "CREATE {unique}INDEX ASYNC IF NOT EXISTS {} ON {} {}",
            ident(&name),
            target_table.sql(),
            rewrite_casts(&body, &casts)
        );
        steps.push(
            StepSpec::new(
                format!("index:{}.{}", target_table.schema, name),
                StepKind::Index,
                vec![],
            )
            .with_action(Action::AsyncJob {
                statement: sql,
                index: Some(QualName::new(&target_table.schema, &name)),
            })
            .creating(ObjKey::Index(i.oid))
            .on_table(&target_table)
            .after(format!("table:{target_table}")),
        );
    }
    for (t, n) in per_table {
        // Primary key and UNIQUE constraints are indexes too.
        let constraint_indexes = cat
            .constraints
            .iter()
            .filter(|c| {
                matches!(c.kind, 'p' | 'u') && cat.table(c.table).is_some_and(|x| x.name == t)
            })
            .count();
        if n + constraint_indexes > 24 {
            cx.findings.push(Finding::new(
                Severity::Error,
                t.to_string(),
                format!(
                    "{t} would have {} indexes; DSQL allows 24 per table",
                    n + constraint_indexes
                ),
            ));
        }
    }
    // Bytes of secondary index entries count toward DSQL's transaction size.
    let indexed: Vec<(QualName, Vec<String>)> = steps
        .iter()
        .filter(|s| s.kind == StepKind::Index)
        .filter_map(|s| {
            let i = s.creates.iter().find_map(|k| match k {
                ObjKey::Index(o) => cat.indexes.iter().find(|i| i.oid == *o),
                _ => None,
            })?;
            Some((s.table.clone()?, i.columns.clone()))
        })
        .collect();
    for map in tables.values_mut() {
        map.index_columns = indexed
            .iter()
            .filter(|(t, _)| *t == map.target)
            .map(|(_, cols)| {
                cols.iter()
                    .filter_map(|c| map.columns.iter().position(|m| &m.name == c))
                    .collect()
            })
            .collect();
    }

    // Foreign keys.
    let mut omitted = Vec::new();
    let mut fk_seen: HashSet<(QualName, Vec<String>, QualName)> = HashSet::new();
    for fk in cat.constraints.iter().filter(|c| c.kind == 'f') {
        let (Some(child), Some((parent_oid, parent_cols))) =
            (cat.table(fk.table), fk.references.as_ref())
        else {
            continue;
        };
        let child_target = cat
            .table(root(cat, child.oid))
            .map(|t| t.name.clone())
            .unwrap_or_else(|| child.name.clone());
        let Some(parent) = cat.table(root(cat, *parent_oid)) else {
            continue;
        };
        if !fk_seen.insert((
            child_target.clone(),
            fk.columns.clone(),
            parent.name.clone(),
        )) {
            continue;
        }
        let name = if child.partition_of.is_some() {
            format!("{}_{}_fkey", child_target.name, fk.columns.join("_"))
        } else {
            fk.name.clone()
        };
        // On a folded partitioned table, a partition's foreign key binds every row: only
        // when all partitions have it.
        let on_every_partition = child.partition_of.is_none() || {
            let leaves: Vec<&Table> = cat
                .tables
                .iter()
                .filter(|l| {
                    !l.is_partitioned()
                        && l.partition_of.is_some()
                        && root(cat, l.oid) == root(cat, child.oid)
                })
                .collect();
            leaves.iter().all(|l| {
                cat.constraints.iter().any(|c| {
                    c.table == l.oid
                        && c.kind == 'f'
                        && c.columns == fk.columns
                        && c.references.as_ref().map(|(p, cols)| (root(cat, *p), cols))
                            == Some((*parent_oid_root(cat, *parent_oid), parent_cols))
                })
            })
        };
        let create = config.foreign_keys.mode == ForeignKeyMode::Create
            && caps.foreign_keys
            && on_every_partition;
        if !create {
            let why = if !on_every_partition {
                "only some partitions of the folded table have it"
            } else if caps.foreign_keys {
                "foreign_keys.mode = omit"
            } else {
                "this cluster has no foreign keys"
            };
            cx.findings.push(Finding::new(
                Severity::Info,
                format!("{child_target}.{name}"),
                format!("foreign key not created ({why}): recorded in the manifest, and verify reports orphans"),
            ));
            omitted.push(OmittedForeignKey {
                name,
                child: child_target,
                columns: fk.columns.clone(),
                parent: parent.name.clone(),
                parent_columns: parent_cols.clone(),
            });
            continue;
        }
        steps.extend(foreign_key_steps(
            &child_target,
            &name,
            fk,
            parent,
            parent_cols,
        ));
    }

    // Checks added NOT VALID in the source stay so.
    for c in cat
        .constraints
        .iter()
        .filter(|c| c.kind == 'c' && !c.validated)
    {
        if let Some(t) = cat.table(c.table) {
            cx.mapped(
                format!("{}.{}", t.name, c.name),
                "NOT VALID check constraint not created: DSQL checks every row it holds",
            );
        }
    }
    for c in cat.constraints.iter().filter(|c| c.kind == 'x') {
        if let Some(t) = cat.table(c.table) {
            cx.skipped(
                format!("{}.{}", t.name, c.name),
                "DSQL has no exclusion constraints",
            );
        }
    }

    // Views whose dependencies all exist; SQL functions; the rest reported.
    let created: HashSet<ObjKey> = steps
        .iter()
        .flat_map(|s| s.creates.iter().copied())
        .collect();
    let mut functions_created = HashSet::new();
    for f in &cat.functions {
        let why = match (f.kind, f.definition.contains("LANGUAGE sql")) {
            ('a', _) => Some("DSQL has no user-defined aggregates"),
            ('p', _) => Some("DSQL has no procedures"),
            (_, false) => Some("only LANGUAGE sql functions exist in DSQL"),
            _ => None,
        };
        match why {
            Some(why) => cx.skipped(
                format!(
                    "{} {}({})",
                    f.kind_word().to_lowercase(),
                    f.name,
                    f.identity_args
                ),
                why,
            ),
            None => {
                functions_created.insert(ObjKey::Proc(f.oid));
                // Best effort: DSQL checks function bodies, and a body may compare a key
                // that became a UUID with an integer.
                steps.push(
                    StepSpec::new(
                        format!("function:{}({})", f.name, f.identity_args),
                        StepKind::Function,
                        vec![rewrite_casts(&f.definition, &casts)],
                    )
                    .creating(ObjKey::Proc(f.oid))
                    .optional(),
                );
            }
        }
    }
    let mut available: HashSet<ObjKey> = created.union(&functions_created).copied().collect();
    for v in &cat.views {
        if v.materialized {
            cx.skipped(
                format!("materialized view {}", v.name),
                "DSQL has no materialized views",
            );
            continue;
        }
        let needs: Vec<&ObjKey> = cat
            .deps
            .iter()
            .filter(|(a, _)| *a == ObjKey::Rel(v.oid))
            .map(|(_, b)| b)
            .collect();
        let missing = needs.iter().find(|k| {
            matches!(k, ObjKey::Proc(_) | ObjKey::Rel(_))
                && !available.contains(k)
                && cat
                    .table(match k {
                        ObjKey::Rel(o) => *o,
                        _ => 0,
                    })
                    .is_none()
        });
        if let Some(m) = missing {
            cx.skipped(
                format!("view {}", v.name),
                &format!("it needs {m:?}, which DSQL does not get"),
            );
            continue;
        }
        available.insert(ObjKey::Rel(v.oid));
        steps.push(
            StepSpec::new(
                format!("view:{}", v.name),
                StepKind::View,
                vec![format!(
                    "CREATE VIEW {} AS\n{}",
                    v.name.sql(),
                    rewrite_casts(&v.definition, &casts)
                )],
            )
            .creating(ObjKey::Rel(v.oid))
            .optional(),
        );
    }
    for tr in &cat.triggers {
        cx.skipped(format!("trigger {}", tr.name), "DSQL has no triggers");
    }
    for r in &cat.rules {
        cx.skipped(format!("rule {}", r.name), "DSQL has no rules");
    }
    for p in &cat.policies {
        cx.skipped(
            format!("policy {}", p.name),
            "DSQL has no row-level security",
        );
    }
    for s in &cat.statistics {
        cx.skipped(
            format!("statistics {}", s.name),
            "DSQL has no extended statistics",
        );
    }

    // After the data: keys and sequences continue past the copied values.
    for t in cat.tables.iter().filter(|t| t.partition_of.is_none()) {
        let Some(map) = tables.values().find(|m| m.target == t.name) else {
            continue;
        };
        for c in map.columns.iter().filter(|c| c.identity) {
            steps.push(
                StepSpec::new(
                    format!("restart:{}.{}", t.name, c.name),
                    StepKind::SequenceValue,
                    vec![],
                )
                .with_action(Action::RestartIdentity {
                    table: t.name.clone(),
                    column: c.name.clone(),
                })
                .on_table(&t.name)
                .after(format!("table:{}", t.name)),
            );
        }
    }
    if caps.sequences {
        let tables_by_oid = cat.tables_by_oid();
        let created_sequences: HashSet<String> = steps.iter().map(|s| s.id.clone()).collect();
        for s in cat
            .sequences
            .iter()
            .filter(|s| created_sequences.contains(&format!("sequence:{}", s.name)))
        {
            let columns = s
                .feeds
                .iter()
                .filter_map(|(t, c)| {
                    tables_by_oid.get(t).map(|t| {
                        (
                            cat.table(root(cat, t.oid))
                                .map(|r| r.name.clone())
                                .unwrap_or_else(|| t.name.clone()),
                            c.clone(),
                        )
                    })
                })
                .collect();
            steps.push(
                StepSpec::new(
                    format!("seqval:{}", s.name),
                    StepKind::SequenceValue,
                    vec![],
                )
                .with_action(Action::SetSequence {
                    sequence: s.name.clone(),
                    columns,
                })
                .after(format!("sequence:{}", s.name)),
            );
        }
    }

    Rendered {
        steps,
        findings: cx.findings,
        tables,
        omitted_foreign_keys: omitted,
    }
}

fn table_step(
    cx: &mut Ctx<'_>,
    t: &Table,
    inputs: &columns::Inputs<'_>,
) -> (StepSpec, TableMap, Vec<String>) {
    let cat = cx.cat;
    let casts = inputs.casts;
    // A flattened child lists its inherited columns too (they are all in `columns`).
    let columns = columns::of_table(cat, t, inputs);
    let mut defs: Vec<String> = columns
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", ident(&c.name), c.target_type);
            if c.identity {
                s.push_str(" GENERATED BY DEFAULT AS IDENTITY (CACHE 65536)");
            } else if let Some(d) = &c.default {
                s.push_str(&format!(" DEFAULT {d}"));
            }
            if c.not_null {
                s.push_str(" NOT NULL");
            }
            s
        })
        .collect();
    for c in &columns {
        for check in &c.checks {
            defs.push(format!("CHECK {check}"));
        }
    }
    // The primary key: the table's own, or for a partitioned table the one every
    // partition shares.
    let pk: Vec<String> = t.pk_columns.clone();
    if t.is_partitioned()
        && !pk.is_empty()
        && !cat
            .constraints
            .iter()
            .any(|c| c.table == t.oid && c.kind == 'p')
    {
        cx.mapped(
            t.name.to_string(),
            format!("primary key ({}) taken from its partitions", pk.join(", ")),
        );
    }
    if pk.is_empty()
        && cx.config.keys.strategy == KeyStrategy::Uuid
        && !cx.config.keys.allow_keyless
    {
        cx.findings.push(Finding::new(
            Severity::Error,
            t.name.to_string(),
            "no primary key, so under keys.strategy = \"uuid\" its rows get no UUID key, an \
             interrupted copy starts it again and sync cannot carry its changes: add a primary \
             key in the source, leave the table out (tables.exclude), or accept this with \
             keys.allow_keyless = true",
        ));
    } else if pk.is_empty() {
        cx.mapped(
            t.name.to_string(),
            "no primary key: DSQL adds a hidden one, and no UUID key is made for it; an \
             interrupted copy of this table starts it again, and sync refuses it once it \
             has changed (add a primary key in the source before the copy)",
        );
    } else if let Some(c) = unindexable(&columns, &pk) {
        cx.findings.push(Finding::new(
            Severity::Error,
            format!("{}.{}", t.name, c.name),
            format!(
                "{}.{} is part of the primary key and is {} in DSQL, which DSQL cannot index: \
                 leave the table out ([tables] exclude), or stay on PostgreSQL (--profile postgres)",
                t.name, c.name, c.target_type
            ),
        ));
    } else {
        let cols: Vec<String> = pk.iter().map(|c| ident(c)).collect();
        defs.push(format!("PRIMARY KEY ({})", cols.join(", ")));
    }
    let mut unique_names = Vec::new();
    for c in cat
        .constraints
        .iter()
        .filter(|c| c.table == t.oid && c.kind == 'u')
    {
        if let Some(col) = unindexable(&columns, &c.columns) {
            cx.skipped(
                format!("{}.{}", t.name, c.name),
                &format!(
                    "DSQL cannot index {} columns ({} is {})",
                    col.target_type, col.name, col.target_type
                ),
            );
            continue;
        }
        let cols: Vec<String> = c.columns.iter().map(|c| ident(c)).collect();
        defs.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            ident(&c.name),
            cols.join(", ")
        ));
        unique_names.push(c.oid);
    }
    for c in cat.constraints.iter().filter(|c| {
        c.table == t.oid && c.kind == 'c' && c.validated && (c.local || t.partition_of.is_some())
    }) {
        defs.push(format!(
            "CONSTRAINT {} {}",
            ident(&c.name),
            rewrite_casts(&c.definition, casts)
        ));
    }
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    {}\n)",
        t.name.sql(),
        defs.join(",\n    ")
    );
    let mut statements = vec![sql];
    if let Some(text) = &t.comment {
        statements.push(format!(
            "COMMENT ON TABLE {} IS {}",
            t.name.sql(),
            literal(text)
        ));
    }
    let mut step = StepSpec::new(format!("table:{}", t.name), StepKind::Table, statements)
        .creating(ObjKey::Rel(t.oid))
        .on_table(&t.name)
        .undo(format!("DROP TABLE IF EXISTS {}", t.name.sql()));
    for c in cat
        .constraints
        .iter()
        .filter(|c| c.table == t.oid && matches!(c.kind, 'p' | 'u' | 'c'))
    {
        step = step.creating(ObjKey::Constraint(c.oid));
    }
    for s in cat.sequences.iter().filter(|s| {
        s.identity
            || s.feeds
                .iter()
                .any(|(o, c)| *o == t.oid && t.int_key.as_deref() == Some(c.as_str()))
    }) {
        if s.owned_by.as_ref().is_some_and(|(o, _)| *o == t.oid)
            || s.feeds.iter().any(|(o, _)| *o == t.oid)
        {
            step = step.creating(ObjKey::Rel(s.oid));
        }
    }
    let map = TableMap {
        target: t.name.clone(),
        columns,
        key: pk.clone(),
        index_columns: Vec::new(),
    };
    (step, map, pk)
}

/// The first of `names` whose type in DSQL no index key may hold.
fn unindexable<'a>(columns: &'a [ColumnMap], names: &[String]) -> Option<&'a ColumnMap> {
    names.iter().find_map(|n| {
        columns
            .iter()
            .find(|c| &c.name == n && !types::rule_of_sql(&c.target_type).indexable)
    })
}

/// Why DSQL cannot have this index, if it cannot.
fn unsupported_index(i: &Index) -> Option<&'static str> {
    if !i.definition.contains(" USING btree ") {
        return Some("DSQL indexes are btree only");
    }
    None
}

/// `(columns) [INCLUDE (...)] [WHERE ...]`: the part of `pg_get_indexdef` after the access
/// method.
fn index_body(i: &Index) -> Option<String> {
    let at = i.definition.find(" USING btree ")?;
    Some(i.definition[at + " USING btree ".len()..].to_string())
}

fn foreign_key_steps(
    child: &QualName,
    name: &str,
    fk: &Constraint,
    parent: &Table,
    parent_cols: &[String],
) -> Vec<StepSpec> {
    let cols: Vec<String> = fk.columns.iter().map(|c| ident(c)).collect();
    let pcols: Vec<String> = parent_cols.iter().map(|c| ident(c)).collect();
    // Keep the actions and deferrability of the source's definition.
    let tail = fk
        .definition
        .find(')')
        .and_then(|first| {
            fk.definition[first + 1..]
                .find(')')
                .map(|second| first + 1 + second + 1)
        })
        .map(|end| {
            fk.definition[end..]
                .trim()
                .trim_end_matches("NOT VALID")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let add = format!(
        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}){}{} NOT VALID",
        child.sql(),
        ident(name),
        cols.join(", "),
        parent.name.sql(),
        pcols.join(", "),
        if tail.is_empty() { "" } else { " " },
        tail
    );
    let id = format!("fk:{child}.{name}");
    let mut out = vec![
        StepSpec::new(id.clone(), StepKind::ForeignKey, vec![add])
            .creating(ObjKey::Constraint(fk.oid))
            .on_table(child)
            .after(format!("table:{child}"))
            .after(format!("table:{}", parent.name))
            // --restart drops tables one by one: the keys between them go first.
            .undo(format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}",
                child.sql(),
                ident(name)
            )),
    ];
    if fk.validated {
        out.push(
            StepSpec::new(
                format!("validate:{child}.{name}"),
                StepKind::Validate,
                vec![],
            )
            .with_action(Action::AsyncJob {
                statement: format!(
                    "ALTER TABLE ASYNC {} VALIDATE CONSTRAINT {}",
                    child.sql(),
                    ident(name)
                ),
                index: None,
            })
            .on_table(child)
            .after(id),
        );
    }
    out
}

/// Finds out what the target cluster supports by trying it inside transactions that are
/// rolled back: nothing is left behind.
pub(crate) async fn probe(target: &tokio_postgres::Client) -> crate::error::Result<Capabilities> {
    async fn works(target: &tokio_postgres::Client, ddl: &str) -> crate::error::Result<bool> {
        let ok = target.batch_execute(&format!("BEGIN; {ddl}")).await.is_ok();
        target.batch_execute("ROLLBACK").await.map_err(|e| {
            crate::error::Error::db(crate::error::ErrorKind::Target, "probing the target", e)
        })?;
        Ok(ok)
    }
    let type_works = |ty: String| async move {
        works(
            target,
            &format!("CREATE TABLE public._migrator_probe_type (v {ty})"),
        )
        .await
    };
    Ok(Capabilities {
        sequences: works(target, "CREATE SEQUENCE public._migrator_probe_seq AS bigint CACHE 65536").await?,
        foreign_keys: works(
            target,
            "CREATE TABLE public._migrator_probe_fk (id bigint PRIMARY KEY, parent bigint REFERENCES public._migrator_probe_fk (id))",
        )
        .await?,
        json: type_works("json".into()).await?,
        jsonb: type_works("jsonb".into()).await?,
        numeric_max_precision: if type_works(format!(
            "numeric({},0)",
            types::NUMERIC_MAX_PRECISION
        ))
        .await?
        {
            types::NUMERIC_MAX_PRECISION
        } else {
            types::NUMERIC_MAX_PRECISION_BEFORE_2026_08
        },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_jobs_grow_with_cpus_within_the_measured_range() {
        assert_eq!(super::default_jobs(1), 8);
        assert_eq!(super::default_jobs(2), 8);
        assert_eq!(super::default_jobs(6), 24);
        assert_eq!(super::default_jobs(64), 64);
    }
}
