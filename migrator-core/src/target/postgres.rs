//! The `postgres` profile (Amazon RDS, Aurora PostgreSQL, any PostgreSQL): the schema
//! rendered as the source has it, split into steps for the fast-load order: types, sequences,
//! tables with their primary keys before the data; indexes, constraints, foreign keys
//! (`NOT VALID`, then `VALIDATE`), views, functions, triggers, rules, policies, materialized
//! view refreshes, sequence values and `ANALYZE` after it.

use std::collections::HashMap;

use crate::catalog::{Catalog, Column, Constraint, ObjKey, Table, TableKind, TypeKind};
use crate::ddl::{Action, StepKind, StepSpec};
use crate::sql::{QualName, ident, literal};

/// `COMMENT ON <what> IS '<text>'`, when there is a comment.
fn comment(what: impl std::fmt::Display, text: &Option<String>) -> Option<String> {
    text.as_ref()
        .map(|t| format!("COMMENT ON {what} IS {}", literal(t)))
}

/// The statement that gives a trigger or rule its firing state (`tgenabled`/`ev_enabled`):
/// none for the default `O`.
fn enable_state(kind: &str, state: char, table: &QualName, name: &str) -> Option<String> {
    let how = match state {
        'D' => "DISABLE",
        'R' => "ENABLE REPLICA",
        'A' => "ENABLE ALWAYS",
        _ => return None,
    };
    Some(format!(
        "ALTER TABLE {} {how} {kind} {}",
        table.sql(),
        ident(name)
    ))
}

fn with_options(options: &[String]) -> String {
    if options.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = options
        .iter()
        .map(|o| match o.split_once('=') {
            Some((k, v)) => format!("{k}={}", literal(v)),
            None => o.clone(),
        })
        .collect();
    format!(" WITH ({})", parts.join(", "))
}

/// Renders every selected object of the catalog as steps.
pub(crate) fn schema_steps(cat: &Catalog) -> Vec<StepSpec> {
    let mut steps = Vec::new();
    let tables: HashMap<u32, &Table> = cat.tables_by_oid();

    for s in &cat.schemas {
        let mut sql = vec![format!("CREATE SCHEMA IF NOT EXISTS {}", ident(&s.name))];
        sql.extend(comment(format!("SCHEMA {}", ident(&s.name)), &s.comment));
        steps.push(
            StepSpec::new(format!("schema:{}", s.name), StepKind::Schema, sql)
                .creating(ObjKey::Schema(s.oid)),
        );
    }
    for e in &cat.extensions {
        steps.push(
            StepSpec::new(
                format!("extension:{}", e.name),
                StepKind::Extension,
                vec![format!(
                    "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                    ident(&e.name),
                    ident(&e.schema)
                )],
            )
            .creating(ObjKey::Extension(e.oid)),
        );
    }
    for t in &cat.types {
        steps.push(
            StepSpec::new(format!("type:{}", t.name), StepKind::Type, type_sql(t))
                .creating(ObjKey::Type(t.oid))
                .undo(format!(
                    "DROP {} IF EXISTS {} CASCADE",
                    if matches!(t.kind, TypeKind::Domain { .. }) {
                        "DOMAIN"
                    } else {
                        "TYPE"
                    },
                    t.name.sql()
                )),
        );
    }
    for f in &cat.functions {
        let mut sql = vec![f.definition.clone()];
        sql.extend(comment(
            format!("{} {}({})", f.kind_word(), f.name.sql(), f.identity_args),
            &f.comment,
        ));
        steps.push(
            StepSpec::new(
                format!("function:{}({})", f.name, f.identity_args),
                StepKind::Function,
                sql,
            )
            .creating(ObjKey::Proc(f.oid))
            .undo(format!(
                "DROP {} IF EXISTS {}({}) CASCADE",
                f.kind_word(),
                f.name.sql(),
                f.identity_args
            )),
        );
    }
    for s in cat.sequences.iter().filter(|s| !s.identity) {
        let mut sql = vec![format!(
            "CREATE SEQUENCE {} AS {} {}",
            s.name.sql(),
            s.data_type,
            sequence_options(s)
        )];
        sql.extend(comment(format!("SEQUENCE {}", s.name.sql()), &s.comment));
        steps.push(
            StepSpec::new(format!("sequence:{}", s.name), StepKind::Sequence, sql)
                .creating(ObjKey::Rel(s.oid))
                .undo(format!("DROP SEQUENCE IF EXISTS {} CASCADE", s.name.sql())),
        );
        if let Some((table, column)) = &s.owned_by
            && let Some(t) = tables.get(table)
        {
            steps.push(
                StepSpec::new(
                    format!("owner:{}", s.name),
                    StepKind::SequenceOwner,
                    vec![format!(
                        "ALTER SEQUENCE {} OWNED BY {}.{}",
                        s.name.sql(),
                        t.name.sql(),
                        ident(column)
                    )],
                )
                .carrying(ObjKey::Rel(s.oid))
                .after(format!("table:{}", t.name))
                .after(format!("sequence:{}", s.name)),
            );
        }
    }
    for t in &cat.tables {
        steps.push(table_step(cat, t, &tables));
    }
    constraint_and_index_steps(cat, &tables, &mut steps);
    for v in &cat.views {
        let word = if v.materialized {
            "MATERIALIZED VIEW"
        } else {
            "VIEW"
        };
        let mut sql = vec![format!(
            "CREATE {word} {}{} AS\n{}{}",
            v.name.sql(),
            with_options(&v.options),
            v.definition,
            if v.materialized { "\nWITH NO DATA" } else { "" }
        )];
        sql.extend(comment(format!("{word} {}", v.name.sql()), &v.comment));
        for (col, text) in &v.column_comments {
            sql.extend(comment(
                format!("COLUMN {}.{}", v.name.sql(), ident(col)),
                &Some(text.clone()),
            ));
        }
        let kind = if v.materialized {
            StepKind::MaterializedView
        } else {
            StepKind::View
        };
        let prefix = if v.materialized { "matview" } else { "view" };
        steps.push(
            StepSpec::new(format!("{prefix}:{}", v.name), kind, sql)
                .creating(ObjKey::Rel(v.oid))
                .on_table(&v.name)
                .undo(format!("DROP {word} IF EXISTS {} CASCADE", v.name.sql())),
        );
        if v.materialized && v.populated {
            steps.push(
                StepSpec::new(
                    format!("refresh:{}", v.name),
                    StepKind::Refresh,
                    vec![format!("REFRESH MATERIALIZED VIEW {}", v.name.sql())],
                )
                .on_table(&v.name)
                .after(format!("matview:{}", v.name)),
            );
        }
    }
    let rel_name = |oid: u32| cat.rel_name(oid).cloned();
    for tr in &cat.triggers {
        let Some(table) = rel_name(tr.table) else {
            continue;
        };
        let mut sql = vec![tr.definition.clone()];
        sql.extend(enable_state("TRIGGER", tr.enabled, &table, &tr.name));
        sql.extend(comment(
            format!("TRIGGER {} ON {}", ident(&tr.name), table.sql()),
            &tr.comment,
        ));
        steps.push(
            StepSpec::new(
                format!("trigger:{table}.{}", tr.name),
                StepKind::Trigger,
                sql,
            )
            .creating(ObjKey::Trigger(tr.oid))
            .on_table(&table),
        );
    }
    for r in &cat.rules {
        let Some(table) = rel_name(r.table) else {
            continue;
        };
        let mut sql = vec![r.definition.clone()];
        sql.extend(enable_state("RULE", r.enabled, &table, &r.name));
        sql.extend(comment(
            format!("RULE {} ON {}", ident(&r.name), table.sql()),
            &r.comment,
        ));
        steps.push(
            StepSpec::new(format!("rule:{table}.{}", r.name), StepKind::Rule, sql)
                .creating(ObjKey::Rule(r.oid))
                .on_table(&table),
        );
    }
    for t in cat
        .tables
        .iter()
        .filter(|t| t.row_security || t.force_row_security)
    {
        let mut sql = Vec::new();
        if t.row_security {
            sql.push(format!(
                "ALTER TABLE ONLY {} ENABLE ROW LEVEL SECURITY",
                t.name.sql()
            ));
        }
        if t.force_row_security {
            sql.push(format!(
                "ALTER TABLE ONLY {} FORCE ROW LEVEL SECURITY",
                t.name.sql()
            ));
        }
        steps.push(
            StepSpec::new(format!("rls:{}", t.name), StepKind::Policy, sql)
                .on_table(&t.name)
                .after(format!("table:{}", t.name)),
        );
    }
    for p in &cat.policies {
        let Some(table) = rel_name(p.table) else {
            continue;
        };
        let mut sql = vec![p.definition.replace("{table}", &table.sql())];
        sql.extend(comment(
            format!("POLICY {} ON {}", ident(&p.name), table.sql()),
            &p.comment,
        ));
        steps.push(
            StepSpec::new(format!("policy:{table}.{}", p.name), StepKind::Policy, sql)
                .creating(ObjKey::Policy(p.oid))
                .on_table(&table),
        );
    }
    for s in &cat.statistics {
        let mut sql = vec![s.definition.clone()];
        sql.extend(comment(format!("STATISTICS {}", s.name.sql()), &s.comment));
        steps.push(
            StepSpec::new(format!("statistics:{}", s.name), StepKind::Statistics, sql)
                .creating(ObjKey::Stat(s.oid)),
        );
    }
    steps
}

/// Post-load steps that depend on the copied data: sequence values and statistics.
pub(crate) fn data_steps(cat: &Catalog, data_only: bool) -> Vec<StepSpec> {
    let mut steps = Vec::new();
    let tables = cat.tables_by_oid();
    for s in &cat.sequences {
        let columns: Vec<(QualName, String)> = s
            .feeds
            .iter()
            .filter_map(|(t, c)| tables.get(t).map(|t| (t.name.clone(), c.clone())))
            .collect();
        let mut step = StepSpec::new(
            format!("seqval:{}", s.name),
            StepKind::SequenceValue,
            vec![],
        )
        .with_action(Action::SetSequence {
            sequence: s.name.clone(),
            columns: columns.clone(),
        });
        if !data_only {
            step = step.carrying(ObjKey::Rel(s.oid));
            for (t, _) in &columns {
                step = step.after(format!("table:{t}"));
            }
        }
        steps.push(step);
    }
    for t in cat.tables.iter() {
        let mut step = StepSpec::new(format!("analyze:{}", t.name), StepKind::Analyze, vec![])
            .with_action(Action::Analyze {
                table: t.name.clone(),
            })
            .on_table(&t.name);
        if !data_only {
            step = step.after(format!("table:{}", t.name));
            // Statistics on index expressions need the indexes.
            for i in cat.indexes.iter().filter(|i| i.table == t.oid) {
                step = step.after(index_step_id(cat, i.oid, &tables));
            }
        }
        steps.push(step);
    }
    steps
}

fn sequence_options(s: &crate::catalog::Sequence) -> String {
    format!(
        "START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {}{}",
        s.start,
        s.increment,
        s.min,
        s.max,
        s.cache,
        if s.cycle { " CYCLE" } else { " NO CYCLE" }
    )
}

fn type_sql(t: &crate::catalog::TypeDef) -> Vec<String> {
    let name = t.name.sql();
    let mut sql = Vec::new();
    let comment_word = match &t.kind {
        TypeKind::Enum { labels } => {
            let labels: Vec<String> = labels.iter().map(|l| literal(l)).collect();
            sql.push(format!(
                "CREATE TYPE {name} AS ENUM ({})",
                labels.join(", ")
            ));
            "TYPE"
        }
        TypeKind::Domain {
            base,
            not_null,
            default,
            collation,
            constraints,
            ..
        } => {
            let mut s = format!("CREATE DOMAIN {name} AS {base}");
            if let Some(c) = collation {
                s.push_str(&format!(" COLLATE {c}"));
            }
            if let Some(d) = default {
                s.push_str(&format!(" DEFAULT {d}"));
            }
            if *not_null {
                s.push_str(" NOT NULL");
            }
            let mut later = Vec::new();
            for (cname, def, _) in constraints {
                if def.ends_with("NOT VALID") {
                    later.push(format!(
                        "ALTER DOMAIN {name} ADD CONSTRAINT {} {def}",
                        ident(cname)
                    ));
                } else {
                    s.push_str(&format!(" CONSTRAINT {} {def}", ident(cname)));
                }
            }
            sql.push(s);
            sql.extend(later);
            for (cname, _, c) in constraints {
                sql.extend(comment(
                    format!("CONSTRAINT {} ON DOMAIN {name}", ident(cname)),
                    c,
                ));
            }
            "DOMAIN"
        }
        TypeKind::Composite { attributes } => {
            let attrs: Vec<String> = attributes
                .iter()
                .map(|(n, ty, coll)| match coll {
                    Some(c) => format!("{} {ty} COLLATE {c}", ident(n)),
                    None => format!("{} {ty}", ident(n)),
                })
                .collect();
            sql.push(format!("CREATE TYPE {name} AS ({})", attrs.join(", ")));
            "TYPE"
        }
        TypeKind::Range {
            subtype,
            opclass,
            collation,
            canonical,
            subdiff,
            multirange,
        } => {
            let mut parts = vec![format!("SUBTYPE = {subtype}")];
            if let Some(o) = opclass {
                parts.push(format!("SUBTYPE_OPCLASS = {o}"));
            }
            if let Some(c) = collation {
                parts.push(format!("COLLATION = {c}"));
            }
            if let Some(c) = canonical {
                parts.push(format!("CANONICAL = {c}"));
            }
            if let Some(d) = subdiff {
                parts.push(format!("SUBTYPE_DIFF = {d}"));
            }
            if let Some(m) = multirange {
                parts.push(format!("MULTIRANGE_TYPE_NAME = {}", m.sql()));
            }
            sql.push(format!(
                "CREATE TYPE {name} AS RANGE ({})",
                parts.join(", ")
            ));
            "TYPE"
        }
    };
    sql.extend(comment(format!("{comment_word} {name}"), &t.comment));
    sql
}

fn column_sql(cat: &Catalog, t: &Table, c: &Column, partition: bool) -> String {
    let mut s = format!("{} {}", ident(&c.name), c.type_sql);
    if let Some(coll) = &c.collation {
        s.push_str(&format!(" COLLATE {coll}"));
    }
    if c.generated {
        if let Some(expr) = &c.default {
            s.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
        }
    } else if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    if let Some(kind) = c.identity
        && !partition
    {
        let how = if kind == 'a' { "ALWAYS" } else { "BY DEFAULT" };
        match cat.sequences.iter().find(|s| {
            s.identity
                && s.owned_by
                    .as_ref()
                    .is_some_and(|(o, col)| *o == t.oid && col == &c.name)
        }) {
            Some(seq) => s.push_str(&format!(
                " GENERATED {how} AS IDENTITY (SEQUENCE NAME {} {})",
                seq.name.sql(),
                sequence_options(seq)
            )),
            None => s.push_str(&format!(" GENERATED {how} AS IDENTITY")),
        }
    }
    s
}

fn table_step(cat: &Catalog, t: &Table, tables: &HashMap<u32, &Table>) -> StepSpec {
    let partition = t.partition_of.is_some();
    let mut defs: Vec<String> = t
        .columns
        .iter()
        .filter(|c| c.local || partition)
        .map(|c| column_sql(cat, t, c, partition))
        .collect();
    // Validated CHECKs go inline: evaluating them during COPY is cheaper than a second
    // scan. A partition needs its parent's CHECKs before ATTACH.
    let inline_checks: Vec<&Constraint> = cat
        .constraints
        .iter()
        .filter(|c| c.table == t.oid && c.kind == 'c' && c.validated && (c.local || partition))
        .collect();
    for c in &inline_checks {
        defs.push(format!("CONSTRAINT {} {}", ident(&c.name), c.definition));
    }
    let mut create = format!(
        "CREATE {}TABLE {} (\n    {}\n)",
        if t.unlogged { "UNLOGGED " } else { "" },
        t.name.sql(),
        defs.join(",\n    ")
    );
    if !t.inherits.is_empty() {
        let parents: Vec<String> = t
            .inherits
            .iter()
            .filter_map(|p| tables.get(p).map(|p| p.name.sql()))
            .collect();
        create.push_str(&format!("\nINHERITS ({})", parents.join(", ")));
    }
    if let TableKind::Partitioned { key } = &t.kind {
        create.push_str(&format!("\nPARTITION BY {key}"));
    }
    create.push_str(&with_options(&t.reloptions));
    let mut sql = vec![create];
    let mut step_after = Vec::new();
    if let Some((parent, bound)) = &t.partition_of
        && let Some(p) = tables.get(parent)
    {
        sql.push(format!(
            "ALTER TABLE ONLY {} ATTACH PARTITION {} {bound}",
            p.name.sql(),
            t.name.sql()
        ));
        step_after.push(format!("table:{}", p.name));
    }
    let name = t.name.sql();
    for c in &t.columns {
        let col = ident(&c.name);
        if !c.local && !partition {
            if let Some(d) = c.default.as_ref().filter(|_| !c.generated) {
                sql.push(format!(
                    "ALTER TABLE ONLY {name} ALTER COLUMN {col} SET DEFAULT {d}"
                ));
            }
            if c.not_null {
                sql.push(format!(
                    "ALTER TABLE ONLY {name} ALTER COLUMN {col} SET NOT NULL"
                ));
            }
        }
        if let Some(n) = c.stat_target {
            sql.push(format!(
                "ALTER TABLE ONLY {name} ALTER COLUMN {col} SET STATISTICS {n}"
            ));
        }
        if let Some(st) = c.storage {
            sql.push(format!(
                "ALTER TABLE ONLY {name} ALTER COLUMN {col} SET STORAGE {st}"
            ));
        }
        if !c.options.is_empty() {
            sql.push(format!(
                "ALTER TABLE ONLY {name} ALTER COLUMN {col} SET ({})",
                c.options.join(", ")
            ));
        }
        if let Some(m) = c.compression {
            sql.push(format!(
                "ALTER TABLE ONLY {name} ALTER COLUMN {col} SET COMPRESSION {m}"
            ));
        }
    }
    match t.replica_identity {
        'n' => sql.push(format!("ALTER TABLE ONLY {name} REPLICA IDENTITY NOTHING")),
        'f' => sql.push(format!("ALTER TABLE ONLY {name} REPLICA IDENTITY FULL")),
        _ => {}
    }
    sql.extend(comment(format!("TABLE {name}"), &t.comment));
    for c in &t.columns {
        sql.extend(comment(
            format!("COLUMN {name}.{}", ident(&c.name)),
            &c.comment,
        ));
    }
    for c in &inline_checks {
        sql.extend(comment(
            format!("CONSTRAINT {} ON {name}", ident(&c.name)),
            &c.comment,
        ));
    }
    let mut step = StepSpec::new(format!("table:{}", t.name), StepKind::Table, sql)
        .creating(ObjKey::Rel(t.oid))
        .on_table(&t.name)
        .undo(format!("DROP TABLE IF EXISTS {} CASCADE", t.name.sql()));
    for c in &inline_checks {
        step = step.creating(ObjKey::Constraint(c.oid));
    }
    for s in cat.sequences.iter().filter(|s| s.identity) {
        if s.owned_by.as_ref().is_some_and(|(o, _)| *o == t.oid) {
            step = step.creating(ObjKey::Rel(s.oid));
        }
    }
    for a in step_after {
        step = step.after(a);
    }
    step
}

/// The id of the step that creates index `oid` (a plain index or the constraint it backs).
fn index_step_id(cat: &Catalog, oid: u32, tables: &HashMap<u32, &Table>) -> String {
    let Some(i) = cat.indexes.iter().find(|i| i.oid == oid) else {
        return String::new();
    };
    let table = tables
        .get(&i.table)
        .map(|t| t.name.clone())
        .or_else(|| cat.rel_name(i.table).cloned())
        .unwrap_or_else(|| QualName::new("?", "?"));
    match i
        .constraint
        .and_then(|c| cat.constraints.iter().find(|k| k.oid == c))
    {
        Some(c) if c.kind == 'p' => format!("pk:{table}.{}", c.name),
        Some(c) => format!("constraint:{table}.{}", c.name),
        None => format!("index:{}.{}", table.schema, i.name),
    }
}

fn constraint_and_index_steps(
    cat: &Catalog,
    tables: &HashMap<u32, &Table>,
    steps: &mut Vec<StepSpec>,
) {
    for c in &cat.constraints {
        let Some(t) = tables.get(&c.table) else {
            continue;
        };
        let tname = t.name.sql();
        let only = if t.is_partitioned() && c.kind == 'f' {
            ""
        } else {
            "ONLY "
        };
        let comment_sql = comment(
            format!("CONSTRAINT {} ON {tname}", ident(&c.name)),
            &c.comment,
        );
        match c.kind {
            'p' | 'u' | 'x' => {
                let kind = if c.kind == 'p' {
                    StepKind::PrimaryKey
                } else {
                    StepKind::Index
                };
                let prefix = if c.kind == 'p' { "pk" } else { "constraint" };
                let mut sql = vec![format!(
                    "ALTER TABLE {only}{tname} ADD CONSTRAINT {} {}",
                    ident(&c.name),
                    c.definition
                )];
                sql.extend(comment_sql);
                let index = c
                    .index
                    .and_then(|i| cat.indexes.iter().find(|x| x.oid == i));
                if let Some(i) = index {
                    sql.extend(comment(
                        format!("INDEX {}.{}", ident(&t.name.schema), ident(&i.name)),
                        &i.comment,
                    ));
                }
                let mut step = StepSpec::new(format!("{prefix}:{}.{}", t.name, c.name), kind, sql)
                    .creating(ObjKey::Constraint(c.oid))
                    .on_table(&t.name);
                if let Some(i) = index {
                    step = step.creating(ObjKey::Index(i.oid));
                }
                steps.push(step);
            }
            'c' if !c.validated => {
                let mut sql = vec![format!(
                    "ALTER TABLE {only}{tname} ADD CONSTRAINT {} {}",
                    ident(&c.name),
                    c.definition
                )];
                sql.extend(comment_sql);
                steps.push(
                    StepSpec::new(format!("check:{}.{}", t.name, c.name), StepKind::Check, sql)
                        .creating(ObjKey::Constraint(c.oid))
                        .on_table(&t.name),
                );
            }
            'f' => {
                // Added NOT VALID (no scan, no lock on the data for long), validated in a
                // separate step that can run beside others. A partitioned table cannot take
                // a NOT VALID foreign key.
                let deferred_validation = c.validated && !t.is_partitioned();
                let def = if deferred_validation {
                    format!("{} NOT VALID", c.definition)
                } else {
                    c.definition.clone()
                };
                let mut sql = vec![format!(
                    "ALTER TABLE {only}{tname} ADD CONSTRAINT {} {def}",
                    ident(&c.name)
                )];
                sql.extend(comment_sql);
                let id = format!("fk:{}.{}", t.name, c.name);
                steps.push(
                    StepSpec::new(id.clone(), StepKind::ForeignKey, sql)
                        .creating(ObjKey::Constraint(c.oid))
                        .on_table(&t.name),
                );
                if deferred_validation {
                    steps.push(
                        StepSpec::new(
                            format!("validate:{}.{}", t.name, c.name),
                            StepKind::Validate,
                            vec![format!(
                                "ALTER TABLE ONLY {tname} VALIDATE CONSTRAINT {}",
                                ident(&c.name)
                            )],
                        )
                        .on_table(&t.name)
                        .after(id),
                    );
                }
            }
            _ => {}
        }
    }
    for i in &cat.indexes {
        let table = tables
            .get(&i.table)
            .map(|t| t.name.clone())
            .or_else(|| cat.rel_name(i.table).cloned());
        let Some(table) = table else { continue };
        let qualified = format!("{}.{}", ident(&table.schema), ident(&i.name));
        if i.constraint.is_none() {
            let mut sql = vec![i.definition.clone()];
            sql.extend(comment(format!("INDEX {qualified}"), &i.comment));
            let mut step = StepSpec::new(
                format!("index:{}.{}", table.schema, i.name),
                StepKind::Index,
                sql,
            )
            .creating(ObjKey::Index(i.oid))
            .on_table(&table);
            if i.expression_or_partial {
                // An expression may call a function whose SQL body calls others, which
                // pg_depend does not record: every function exists first.
                for f in &cat.functions {
                    step = step.after(format!("function:{}({})", f.name, f.identity_args));
                }
            }
            if cat
                .views
                .iter()
                .any(|v| v.oid == i.table && v.materialized && v.populated)
            {
                // Build a materialized view's indexes after filling it.
                step = step.after(format!("refresh:{table}"));
            }
            steps.push(step);
        }
        let own = index_step_id(cat, i.oid, tables);
        if let Some(parent) = i.parent {
            let parent_id = index_step_id(cat, parent, tables);
            if let Some(p) = cat.indexes.iter().find(|x| x.oid == parent) {
                let pschema = tables
                    .get(&p.table)
                    .map(|t| t.name.schema.clone())
                    .unwrap_or_else(|| table.schema.clone());
                steps.push(
                    StepSpec::new(
                        format!("attach:{}.{}", table.schema, i.name),
                        StepKind::IndexAttach,
                        vec![format!(
                            "ALTER INDEX {}.{} ATTACH PARTITION {qualified}",
                            ident(&pschema),
                            ident(&p.name)
                        )],
                    )
                    .on_table(&table)
                    .after(own.clone())
                    .after(parent_id),
                );
            }
        }
        if i.clustered {
            steps.push(
                StepSpec::new(
                    format!("cluster:{table}"),
                    StepKind::TableSetting,
                    vec![format!(
                        "ALTER TABLE ONLY {} CLUSTER ON {}",
                        table.sql(),
                        ident(&i.name)
                    )],
                )
                .on_table(&table)
                .after(own.clone()),
            );
        }
        if i.replica_identity {
            steps.push(
                StepSpec::new(
                    format!("replident:{table}"),
                    StepKind::TableSetting,
                    vec![format!(
                        "ALTER TABLE ONLY {} REPLICA IDENTITY USING INDEX {}",
                        table.sql(),
                        ident(&i.name)
                    )],
                )
                .on_table(&table)
                .after(own),
            );
        }
    }
}
