//! Source introspection: reads the selected schemas into the Schema model (tables, columns,
//! types, keys, indexes, sequences, views, functions, triggers, ...) using the server's own
//! renderers, resolves the dependencies between those objects from `pg_depend`, and applies
//! the include/exclude table patterns.

mod model;
mod queries;

use std::collections::{BTreeSet, HashMap, HashSet};

use tokio_postgres::{Client, Row};

pub(crate) use model::*;

use crate::config::TableFilter;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::{QualName, ident, literal};

/// Oldest source server this catalog reader supports.
pub(crate) const MIN_SERVER_VERSION: i32 = 130000;

// Well-known catalog OIDs (stable across PostgreSQL versions).
const PG_TYPE: u32 = 1247;
const PG_PROC: u32 = 1255;
const PG_CLASS: u32 = 1259;
const PG_ATTRDEF: u32 = 2604;
const PG_CONSTRAINT: u32 = 2606;
const PG_NAMESPACE: u32 = 2615;
const PG_REWRITE: u32 = 2618;
const PG_TRIGGER: u32 = 2620;
const PG_EXTENSION: u32 = 3079;
const PG_POLICY: u32 = 3256;
const PG_STATISTIC_EXT: u32 = 3381;

async fn query(client: &Client, sql: &str) -> Result<Vec<Row>> {
    client
        .query(sql, &[])
        .await
        .map_err(|e| Error::db(ErrorKind::Source, "reading the source catalog", e))
}

fn opt_oid(row: &Row, idx: usize) -> Option<Oid> {
    row.get::<_, Option<Oid>>(idx).filter(|o| *o != 0)
}

fn first_char(s: String) -> char {
    s.chars().next().unwrap_or(' ')
}

/// Per-type facts for dependency resolution and the binary-format check.
struct TypeInfo {
    typtype: char,
    relid: Oid,
    relkind: String,
    elem: Oid,
    len: i32,
    base: Oid,
    has_send: bool,
    multirange_of: Option<Oid>,
}

/// Reads the catalog of the source database for the tables `filter` selects.
/// The session must have `search_path = ''`.
pub(crate) async fn load(client: &Client, filter: &TableFilter) -> Result<Catalog> {
    client
        .batch_execute("SET search_path = ''")
        .await
        .map_err(|e| Error::db(ErrorKind::Source, "source session setup", e))?;
    let row = &query(client, queries::SERVER).await?[0];
    let version: i32 = row.get(0);
    let mut cat = Catalog {
        server_version_num: version,
        server_version: row.get(1),
        database: row.get(2),
        ..Catalog::default()
    };
    if version < MIN_SERVER_VERSION {
        return Err(Error::new(
            ErrorKind::Incompatible,
            format!(
                "source server is PostgreSQL {}; Migrator reads PostgreSQL 13 and later",
                cat.server_version
            ),
        ));
    }

    let ext_members: HashMap<(Oid, Oid), Oid> = query(client, queries::EXTENSION_MEMBERS)
        .await?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    let member = |class: Oid, oid: Oid| ext_members.contains_key(&(class, oid));

    let type_info: HashMap<Oid, TypeInfo> = query(client, &queries::type_info(version))
        .await?
        .iter()
        .map(|r| {
            (
                r.get(0),
                TypeInfo {
                    typtype: first_char(r.get(1)),
                    relid: r.get(2),
                    relkind: r.get(3),
                    elem: r.get(4),
                    len: r.get(5),
                    base: r.get(6),
                    has_send: r.get(7),
                    multirange_of: opt_oid(r, 8),
                },
            )
        })
        .collect();

    // Relations first: they decide which schemas are selected.
    let (mut all_tables, odd_tables) = read_tables(client, version, &type_info, &member).await?;
    for name in odd_tables {
        if filter.matches(&name) {
            return Err(Error::new(
                ErrorKind::Incompatible,
                format!(
                    "table {name} is a typed table or uses a non-heap access method, which Migrator does not copy; exclude it in [tables]"
                ),
            ));
        }
    }
    let by_oid: HashMap<Oid, QualName> =
        all_tables.iter().map(|t| (t.oid, t.name.clone())).collect();
    let root_of = |mut oid: Oid, tables: &[Table]| -> Oid {
        while let Some((parent, _)) = tables
            .iter()
            .find(|t| t.oid == oid)
            .and_then(|t| t.partition_of.clone())
        {
            oid = parent;
        }
        oid
    };
    let selected_tables: HashSet<Oid> = all_tables
        .iter()
        .filter(|t| {
            let root = root_of(t.oid, &all_tables);
            by_oid.get(&root).is_some_and(|n| filter.matches(n))
        })
        .map(|t| t.oid)
        .collect();
    all_tables.retain(|t| selected_tables.contains(&t.oid));
    cat.tables = all_tables;

    let mut views = read_views(client).await?;
    views.retain(|v| !member(PG_CLASS, v.oid) && filter.matches(&v.name));
    let view_cols = query(client, &queries::columns(version)).await?;
    for r in &view_cols {
        let relkind: String = r.get(17);
        if relkind != "v" && relkind != "m" {
            continue;
        }
        let relid: Oid = r.get(0);
        if let (Some(v), Some(comment)) = (
            views.iter_mut().find(|v| v.oid == relid),
            r.get::<_, Option<String>>(16),
        ) {
            v.column_comments.push((r.get(2), comment));
        }
    }
    cat.views = views;

    // Include patterns must each match something.
    let names: Vec<QualName> = cat
        .tables
        .iter()
        .map(|t| t.name.clone())
        .chain(cat.views.iter().map(|v| v.name.clone()))
        .collect();
    if let Some(original) = filter.include_matching_none(&names) {
        return Err(Error::config(format!(
            "tables.include pattern '{original}' matches no table or view in the source"
        )));
    }

    let mut schema_names: BTreeSet<String> = cat
        .tables
        .iter()
        .map(|t| t.name.schema.clone())
        .chain(cat.views.iter().map(|v| v.name.schema.clone()))
        .collect();
    let all_schemas: Vec<Namespace> = query(client, &queries::schemas())
        .await?
        .iter()
        .map(|r| Namespace {
            oid: r.get(0),
            name: r.get(1),
            comment: r.get(2),
        })
        .filter(|n| !member(PG_NAMESPACE, n.oid))
        .collect();
    // A pattern like `legacy.*` selects its schema (types, functions) even without tables.
    for n in &all_schemas {
        if filter.schema_selected(&n.name) {
            schema_names.insert(n.name.clone());
        }
    }

    cat.extensions = query(client, queries::EXTENSIONS)
        .await?
        .iter()
        .map(|r| Extension {
            oid: r.get(0),
            name: r.get(1),
            schema: r.get(2),
            version: r.get(3),
        })
        .collect();

    let mut types = read_types(client, version).await?;
    types.retain(|t| !member(PG_TYPE, t.oid));
    let mut functions = read_functions(client).await?;
    functions.retain(|f| !member(PG_PROC, f.oid));
    let mut sequences = read_sequences(client).await?;
    sequences.retain(|s| !member(PG_CLASS, s.oid));

    let selected_rel = |oid: Oid, cat: &Catalog| {
        cat.tables.iter().any(|t| t.oid == oid) || cat.views.iter().any(|v| v.oid == oid)
    };
    let mut constraints = read_constraints(client).await?;
    constraints.retain(|c| selected_rel(c.table, &cat));
    let mut indexes = read_indexes(client).await?;
    indexes.retain(|i| selected_rel(i.table, &cat) && !member(PG_CLASS, i.oid));
    let mut triggers = read_triggers(client).await?;
    triggers.retain(|t| selected_rel(t.table, &cat));
    let mut rules = read_rules(client).await?;
    rules.retain(|r| selected_rel(r.table, &cat));
    let mut policies = read_policies(client).await?;
    policies.retain(|p| selected_rel(p.table, &cat));
    let stat_rows = query(client, &queries::statistics()).await?;
    let mut statistics = Vec::new();
    for r in &stat_rows {
        let relid: Oid = r.get(5);
        if selected_rel(relid, &cat) && !member(PG_STATISTIC_EXT, r.get(0)) {
            statistics.push(Statistic {
                oid: r.get(0),
                name: QualName::new(r.get::<_, String>(1), r.get::<_, String>(2)),
                definition: r.get(3),
                comment: r.get(4),
            });
        }
    }

    // Dependency resolution: map every pg_depend endpoint onto the object that a DDL step
    // creates, then pull in the types, functions and sequences that selected objects need.
    let attrdefs: HashMap<Oid, Oid> = query(client, queries::ATTRDEFS)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rewrites: HashMap<Oid, (Oid, bool)> = query(client, queries::REWRITES)
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let domain_constraints: HashMap<Oid, Oid> = query(
        client,
        "SELECT oid, contypid FROM pg_catalog.pg_constraint WHERE contypid <> 0",
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let index_constraint: HashMap<Oid, Oid> = indexes
        .iter()
        .filter_map(|i| i.constraint.map(|c| (i.oid, c)))
        .collect();
    let rel_kinds: HashMap<Oid, char> = query(
        client,
        "SELECT oid, relkind::text FROM pg_catalog.pg_class WHERE oid >= 16384",
    )
    .await?
    .iter()
    .map(|r| (r.get(0), first_char(r.get(1))))
    .collect();

    let resolve = |class: Oid, oid: Oid| -> Option<ObjKey> {
        // Objects that belong to an extension are made by CREATE EXTENSION.
        if let Some(ext) = ext_members.get(&(class, oid)) {
            return Some(ObjKey::Extension(*ext));
        }
        match class {
            PG_CLASS => match rel_kinds.get(&oid) {
                Some('i') | Some('I') => Some(match index_constraint.get(&oid) {
                    Some(c) => ObjKey::Constraint(*c),
                    None => ObjKey::Index(oid),
                }),
                Some('c') => type_info
                    .iter()
                    .find(|(_, t)| t.relid == oid)
                    .map(|(toid, _)| ObjKey::Type(*toid)),
                Some(_) => Some(ObjKey::Rel(oid)),
                None => None,
            },
            PG_TYPE => {
                let mut oid = oid;
                loop {
                    let t = type_info.get(&oid)?;
                    if t.elem != 0 && t.len == -1 && t.typtype == 'b' {
                        oid = t.elem;
                        continue;
                    }
                    if let Some(range) = t.multirange_of {
                        oid = range;
                        continue;
                    }
                    if let Some(ext) = ext_members.get(&(PG_TYPE, oid)) {
                        return Some(ObjKey::Extension(*ext));
                    }
                    if t.relid != 0 && t.relkind != "c" {
                        return Some(ObjKey::Rel(t.relid));
                    }
                    return Some(ObjKey::Type(oid));
                }
            }
            PG_PROC => Some(ObjKey::Proc(oid)),
            PG_ATTRDEF => attrdefs.get(&oid).map(|rel| ObjKey::Rel(*rel)),
            PG_CONSTRAINT => Some(match domain_constraints.get(&oid) {
                Some(typ) => ObjKey::Type(*typ),
                None => ObjKey::Constraint(oid),
            }),
            PG_REWRITE => rewrites.get(&oid).map(|(rel, is_view)| {
                if *is_view {
                    ObjKey::Rel(*rel)
                } else {
                    ObjKey::Rule(oid)
                }
            }),
            PG_TRIGGER => Some(ObjKey::Trigger(oid)),
            PG_NAMESPACE => Some(ObjKey::Schema(oid)),
            PG_EXTENSION => Some(ObjKey::Extension(oid)),
            PG_POLICY => Some(ObjKey::Policy(oid)),
            PG_STATISTIC_EXT => Some(ObjKey::Stat(oid)),
            _ => None,
        }
    };

    let mut edges: Vec<(ObjKey, ObjKey)> = Vec::new();
    // What each depended-on object is called, for naming one that is not selected.
    let mut depended_names: HashMap<ObjKey, String> = HashMap::new();
    for r in query(client, queries::DEPENDS).await? {
        let (Some(a), Some(b)) = (resolve(r.get(0), r.get(1)), resolve(r.get(2), r.get(3))) else {
            continue;
        };
        if let Some(name) = r.get::<_, Option<String>>(4) {
            depended_names.entry(b).or_insert(name);
        }
        // A sequence OWNED BY a column depends on its table only for DROP; for creation
        // the table (its default) depends on the sequence.
        let owned_sequence = matches!(a, ObjKey::Rel(o) if rel_kinds.get(&o) == Some(&'S'))
            && matches!(b, ObjKey::Rel(_));
        if a != b && !owned_sequence {
            edges.push((a, b));
        }
    }
    edges.sort();
    edges.dedup();

    // Which keys exist as selectable objects, and which are extension members.
    let ext_member_key = |k: &ObjKey| matches!(k, ObjKey::Extension(_));

    // Start from what the patterns select, then pull in needed types, functions, sequences.
    let mut keep: HashSet<ObjKey> = HashSet::new();
    for t in &cat.tables {
        keep.insert(ObjKey::Rel(t.oid));
    }
    for v in &cat.views {
        keep.insert(ObjKey::Rel(v.oid));
    }
    for t in &types {
        if schema_names.contains(&t.name.schema) {
            keep.insert(ObjKey::Type(t.oid));
        }
    }
    for f in &functions {
        if schema_names.contains(&f.name.schema) {
            keep.insert(ObjKey::Proc(f.oid));
        }
    }
    for s in &sequences {
        let owned_by_selected = s
            .owned_by
            .as_ref()
            .is_some_and(|(t, _)| cat.tables.iter().any(|x| x.oid == *t));
        let standalone_selected = s.owned_by.is_none() && filter.matches(&s.name);
        if owned_by_selected || standalone_selected {
            keep.insert(ObjKey::Rel(s.oid));
        }
    }
    for c in &constraints {
        keep.insert(ObjKey::Constraint(c.oid));
    }
    for i in &indexes {
        keep.insert(ObjKey::Index(i.oid));
    }
    for t in &triggers {
        keep.insert(ObjKey::Trigger(t.oid));
    }
    for r in &rules {
        keep.insert(ObjKey::Rule(r.oid));
    }
    for p in &policies {
        keep.insert(ObjKey::Policy(p.oid));
    }
    for s in &statistics {
        keep.insert(ObjKey::Stat(s.oid));
    }
    let pullable: HashSet<ObjKey> = types
        .iter()
        .map(|t| ObjKey::Type(t.oid))
        .chain(functions.iter().map(|f| ObjKey::Proc(f.oid)))
        .chain(sequences.iter().map(|s| ObjKey::Rel(s.oid)))
        .collect();
    let known: HashSet<ObjKey> = pullable
        .iter()
        .copied()
        .chain(keep.iter().copied())
        .chain(
            rel_kinds
                .iter()
                .filter(|(_, k)| matches!(k, 'r' | 'p' | 'v' | 'm' | 'S' | 'f'))
                .map(|(o, _)| ObjKey::Rel(*o)),
        )
        .collect();
    let mut dropped: Vec<(ObjKey, ObjKey)> = Vec::new();
    loop {
        let mut changed = false;
        for (a, b) in &edges {
            if !keep.contains(a) || keep.contains(b) || ext_member_key(b) {
                continue;
            }
            if matches!(b, ObjKey::Schema(_)) {
                continue;
            }
            if pullable.contains(b) {
                keep.insert(*b);
                changed = true;
            } else if known.contains(b)
                && !matches!(a, ObjKey::Rel(o) if cat.tables.iter().any(|t| t.oid == *o))
            {
                // Depends on a relation that is not selected: leave this object out.
                keep.remove(a);
                dropped.push((*a, *b));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    types.retain(|t| keep.contains(&ObjKey::Type(t.oid)));
    functions.retain(|f| keep.contains(&ObjKey::Proc(f.oid)));
    sequences.retain(|s| keep.contains(&ObjKey::Rel(s.oid)));
    let describe = |k: &ObjKey, cat: &Catalog| -> String {
        match k {
            ObjKey::Rel(o) => cat
                .rel_name(*o)
                .map(|n| n.to_string())
                .or_else(|| depended_names.get(k).cloned())
                .unwrap_or_else(|| format!("relation {o}")),
            ObjKey::Constraint(o) => constraints
                .iter()
                .find(|c| c.oid == *o)
                .map(|c| format!("constraint {}", c.name))
                .unwrap_or_else(|| format!("constraint {o}")),
            other => format!("{other:?}"),
        }
    };
    for (a, b) in &dropped {
        cat.skipped.push(Skipped {
            object: describe(a, &cat),
            reason: format!("depends on {}, which is not selected", describe(b, &cat)),
        });
    }
    cat.views.retain(|v| keep.contains(&ObjKey::Rel(v.oid)));
    constraints.retain(|c| keep.contains(&ObjKey::Constraint(c.oid)));
    indexes.retain(|i| keep.contains(&ObjKey::Index(i.oid)));
    triggers.retain(|t| keep.contains(&ObjKey::Trigger(t.oid)));
    rules.retain(|r| keep.contains(&ObjKey::Rule(r.oid)));
    policies.retain(|p| keep.contains(&ObjKey::Policy(p.oid)));
    statistics.retain(|s| keep.contains(&ObjKey::Stat(s.oid)));

    // Schemas: every schema that holds a kept object.
    let used: BTreeSet<String> = schema_names
        .iter()
        .cloned()
        .chain(types.iter().map(|t| t.name.schema.clone()))
        .chain(functions.iter().map(|f| f.name.schema.clone()))
        .chain(sequences.iter().map(|s| s.name.schema.clone()))
        .collect();
    cat.schemas = all_schemas
        .into_iter()
        .filter(|n| used.contains(&n.name))
        .collect();

    // Keep only edges among kept objects (schemas and extensions included).
    let mut kept_keys = keep.clone();
    kept_keys.extend(cat.schemas.iter().map(|s| ObjKey::Schema(s.oid)));
    kept_keys.extend(cat.extensions.iter().map(|e| ObjKey::Extension(e.oid)));
    cat.deps = edges
        .into_iter()
        .filter(|(a, b)| kept_keys.contains(a) && kept_keys.contains(b))
        .collect();

    cat.types = types;
    cat.functions = functions;
    cat.sequences = sequences;
    cat.constraints = constraints;
    cat.indexes = indexes;
    cat.triggers = triggers;
    cat.rules = rules;
    cat.policies = policies;
    cat.statistics = statistics;

    for r in query(client, &queries::unsupported()).await? {
        cat.skipped.push(Skipped {
            object: r.get(0),
            reason: r.get(1),
        });
    }

    // Primary keys decide chunking.
    for t in &mut cat.tables {
        if let Some(pk) = cat
            .constraints
            .iter()
            .find(|c| c.table == t.oid && c.kind == 'p')
        {
            t.pk_columns = pk.columns.clone();
            if let [col] = pk.columns.as_slice() {
                let is_int = t
                    .columns
                    .iter()
                    .any(|c| &c.name == col && matches!(c.type_oid, 20 | 21 | 23));
                if is_int {
                    t.int_key = Some(col.clone());
                }
            }
        }
    }
    Ok(cat)
}

async fn read_tables(
    client: &Client,
    version: i32,
    type_info: &HashMap<Oid, TypeInfo>,
    member: &(dyn Fn(Oid, Oid) -> bool + Sync),
) -> Result<(Vec<Table>, Vec<QualName>)> {
    let mut tables = Vec::new();
    let mut odd = Vec::new();
    for r in query(client, &queries::tables()).await? {
        let oid: Oid = r.get(0);
        if member(PG_CLASS, oid) {
            continue;
        }
        let relkind: String = r.get(3);
        let name = QualName::new(r.get::<_, String>(1), r.get::<_, String>(2));
        let typed: bool = r.get(17);
        let am: String = r.get(18);
        if typed || am != "heap" {
            odd.push(name.clone());
        }
        tables.push(Table {
            oid,
            name,
            kind: if relkind == "p" {
                TableKind::Partitioned {
                    key: r.get::<_, Option<String>>(9).unwrap_or_default(),
                }
            } else {
                TableKind::Ordinary
            },
            partition_of: opt_oid(&r, 11)
                .map(|p| (p, r.get::<_, Option<String>>(10).unwrap_or_default())),
            inherits: r.get(12),
            unlogged: r.get::<_, String>(4) == "u",
            reloptions: r.get(5),
            replica_identity: first_char(r.get(6)),
            row_security: r.get(7),
            force_row_security: r.get(8),
            columns: Vec::new(),
            comment: r.get(16),
            est_rows: r.get(13),
            bytes: r.get(15),
            int_key: None,
            pk_columns: Vec::new(),
        });
    }
    let index: HashMap<Oid, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    for r in query(client, &queries::columns(version)).await? {
        let relid: Oid = r.get(0);
        let Some(&ti) = index.get(&relid) else {
            continue;
        };
        let type_oid: Oid = r.get(4);
        let storage: String = r.get(11);
        let typstorage: String = r.get(12);
        let stat: i32 = r.get(13);
        let identity: String = r.get(7);
        let generated: String = r.get(8);
        tables[ti].columns.push(Column {
            num: r.get(1),
            name: r.get(2),
            type_sql: r.get(3),
            type_oid,
            not_null: r.get(5),
            default: r.get(6),
            identity: identity.chars().next(),
            generated: generated == "s",
            collation: r.get(9),
            local: r.get(10),
            storage: (storage != typstorage).then(|| storage_word(&storage)),
            stat_target: (stat >= 0).then_some(stat),
            options: r.get(14),
            compression: r
                .get::<_, Option<String>>(15)
                .map(|c| if c == "l" { "lz4" } else { "pglz" }),
            binary_ok: binary_portable(type_oid, type_info, 0),
            read_as_text: base_type(type_oid, type_info) == XML_OID,
            comment: r.get(16),
        });
    }
    Ok((tables, odd))
}

const XML_OID: Oid = 142;

/// The type under any domains.
fn base_type(mut oid: Oid, types: &HashMap<Oid, TypeInfo>) -> Oid {
    for _ in 0..16 {
        match types.get(&oid) {
            Some(t) if t.typtype == 'd' => oid = t.base,
            _ => break,
        }
    }
    oid
}

fn storage_word(s: &str) -> &'static str {
    match s {
        "p" => "PLAIN",
        "e" => "EXTERNAL",
        "m" => "MAIN",
        _ => "EXTENDED",
    }
}

/// Whether COPY's binary format carries values of this type between two servers: arrays
/// and composites embed type OIDs, which differ between databases for user-defined types.
fn binary_portable(oid: Oid, types: &HashMap<Oid, TypeInfo>, depth: u32) -> bool {
    if depth > 16 {
        return false;
    }
    let Some(t) = types.get(&oid) else {
        // Built-in type: its OID is the same everywhere.
        return true;
    };
    if !t.has_send && t.typtype != 'd' {
        return false;
    }
    match t.typtype {
        'd' => binary_portable(t.base, types, depth + 1),
        'c' => false,
        'b' if t.elem != 0 && t.len == -1 => false,
        _ => true,
    }
}

async fn read_views(client: &Client) -> Result<Vec<View>> {
    Ok(query(client, &queries::views())
        .await?
        .iter()
        .map(|r| View {
            oid: r.get(0),
            name: QualName::new(r.get::<_, String>(1), r.get::<_, String>(2)),
            materialized: r.get(3),
            definition: r
                .get::<_, String>(4)
                .trim_end()
                .trim_end_matches(';')
                .to_string(),
            options: r.get(5),
            populated: r.get(6),
            comment: r.get(7),
            column_comments: Vec::new(),
        })
        .collect())
}

async fn read_types(client: &Client, version: i32) -> Result<Vec<TypeDef>> {
    let labels: HashMap<Oid, Vec<String>> = query(client, queries::ENUM_LABELS)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut domain_cons: HashMap<Oid, Vec<(String, String, Option<String>)>> = HashMap::new();
    for r in query(client, queries::DOMAIN_CONSTRAINTS).await? {
        domain_cons
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2), r.get(3)));
    }
    let mut attrs: HashMap<Oid, Vec<(String, String, Option<String>)>> = HashMap::new();
    for r in query(client, &queries::composite_attributes()).await? {
        attrs
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2), r.get(3)));
    }
    let ranges: HashMap<Oid, Row> = query(client, &queries::ranges(version))
        .await?
        .into_iter()
        .map(|r| (r.get(0), r))
        .collect();
    let mut out = Vec::new();
    for r in query(client, &queries::types()).await? {
        let oid: Oid = r.get(0);
        let typtype: String = r.get(3);
        let kind = match typtype.as_str() {
            "e" => TypeKind::Enum {
                labels: labels.get(&oid).cloned().unwrap_or_default(),
            },
            "d" => TypeKind::Domain {
                base: r.get::<_, Option<String>>(5).unwrap_or_default(),
                base_oid: r.get(10),
                not_null: r.get(6),
                default: r.get(7),
                collation: r.get(8),
                constraints: domain_cons.remove(&oid).unwrap_or_default(),
            },
            "c" => TypeKind::Composite {
                attributes: attrs.remove(&r.get::<_, Oid>(9)).unwrap_or_default(),
            },
            "r" => {
                let Some(rg) = ranges.get(&oid) else { continue };
                TypeKind::Range {
                    subtype: rg.get(1),
                    opclass: rg.get(2),
                    collation: rg.get(3),
                    canonical: rg.get(4),
                    subdiff: rg.get(5),
                    multirange: rg.get::<_, Option<String>>(6).map(|m| QualName::parse(&m)),
                }
            }
            _ => continue,
        };
        out.push(TypeDef {
            oid,
            name: QualName::new(r.get::<_, String>(1), r.get::<_, String>(2)),
            sql_name: r.get(11),
            kind,
            comment: r.get(4),
        });
    }
    Ok(out)
}

async fn read_functions(client: &Client) -> Result<Vec<Function>> {
    let aggs: HashMap<Oid, Row> = query(client, queries::AGGREGATES)
        .await?
        .into_iter()
        .map(|r| (r.get(0), r))
        .collect();
    let mut out = Vec::new();
    for r in query(client, &queries::functions()).await? {
        let oid: Oid = r.get(0);
        let name = QualName::new(r.get::<_, String>(1), r.get::<_, String>(2));
        let kind = first_char(r.get(3));
        let definition = if kind == 'a' {
            match aggs.get(&oid) {
                Some(a) => aggregate_definition(&name, a),
                None => continue,
            }
        } else {
            r.get::<_, Option<String>>(7).unwrap_or_default()
        };
        out.push(Function {
            oid,
            name,
            identity_args: r.get(4),
            kind,
            definition,
            comment: r.get(6),
        });
    }
    Ok(out)
}

/// `CREATE AGGREGATE` from `pg_aggregate` (the server has no renderer for it).
fn aggregate_definition(name: &QualName, a: &Row) -> String {
    let kind: String = a.get(1);
    let mut parts = vec![
        format!("SFUNC = {}", a.get::<_, String>(2)),
        format!("STYPE = {}", a.get::<_, String>(3)),
    ];
    let sspace: i32 = a.get(4);
    if sspace != 0 {
        parts.push(format!("SSPACE = {sspace}"));
    }
    if let Some(f) = a.get::<_, Option<String>>(5) {
        parts.push(format!("FINALFUNC = {f}"));
    }
    if a.get::<_, bool>(6) {
        parts.push("FINALFUNC_EXTRA".into());
    }
    let modify: String = a.get(7);
    let default_modify = if kind == "n" { "r" } else { "w" };
    if modify != default_modify {
        parts.push(format!(
            "FINALFUNC_MODIFY = {}",
            match modify.as_str() {
                "r" => "READ_ONLY",
                "s" => "SHAREABLE",
                _ => "READ_WRITE",
            }
        ));
    }
    for (i, key) in [
        (8, "COMBINEFUNC"),
        (9, "SERIALFUNC"),
        (10, "DESERIALFUNC"),
        (11, "MSFUNC"),
        (12, "MINVFUNC"),
        (13, "MFINALFUNC"),
    ] {
        if let Some(f) = a.get::<_, Option<String>>(i) {
            parts.push(format!("{key} = {f}"));
        }
    }
    if a.get::<_, bool>(14) {
        parts.push("MFINALFUNC_EXTRA".into());
    }
    if let Some(t) = a.get::<_, Option<String>>(15) {
        parts.push(format!("MSTYPE = {t}"));
    }
    let mspace: i32 = a.get(16);
    if mspace != 0 {
        parts.push(format!("MSSPACE = {mspace}"));
    }
    if let Some(v) = a.get::<_, Option<String>>(17) {
        parts.push(format!("INITCOND = {}", literal(&v)));
    }
    if let Some(v) = a.get::<_, Option<String>>(18) {
        parts.push(format!("MINITCOND = {}", literal(&v)));
    }
    if let Some(op) = a.get::<_, Option<String>>(19) {
        parts.push(format!("SORTOP = OPERATOR({op})"));
    }
    match a.get::<_, String>(20).as_str() {
        "s" => parts.push("PARALLEL = SAFE".into()),
        "r" => parts.push("PARALLEL = RESTRICTED".into()),
        _ => {}
    }
    if kind == "h" {
        parts.push("HYPOTHETICAL".into());
    }
    let args: String = a.get(21);
    format!(
        "CREATE AGGREGATE {}({args}) (\n    {}\n)",
        name.sql(),
        parts.join(",\n    ")
    )
}

async fn read_sequences(client: &Client) -> Result<Vec<Sequence>> {
    Ok(query(client, &queries::sequences())
        .await?
        .iter()
        .map(|r| Sequence {
            oid: r.get(0),
            name: QualName::new(r.get::<_, String>(1), r.get::<_, String>(2)),
            data_type: r.get(3),
            start: r.get(4),
            increment: r.get(5),
            max: r.get(7),
            min: r.get(6),
            cache: r.get(8),
            cycle: r.get(9),
            owned_by: opt_oid(r, 10).and_then(|t| r.get::<_, Option<String>>(11).map(|c| (t, c))),
            feeds: {
                let mut feeds: Vec<(Oid, String)> = r
                    .get::<_, Vec<String>>(14)
                    .iter()
                    .filter_map(|f| {
                        let (oid, col) = f.split_once(':')?;
                        Some((oid.parse().ok()?, col.to_string()))
                    })
                    .collect();
                if let Some(owner) =
                    opt_oid(r, 10).and_then(|t| r.get::<_, Option<String>>(11).map(|c| (t, c)))
                    && !feeds.contains(&owner)
                {
                    feeds.push(owner);
                }
                feeds
            },
            identity: r.get(12),
            comment: r.get(13),
        })
        .collect())
}

async fn read_constraints(client: &Client) -> Result<Vec<Constraint>> {
    let mut out = Vec::new();
    for r in query(client, &queries::constraints()).await? {
        let kind = first_char(r.get(3));
        let local: bool = r.get(8);
        // Cloned FKs come with the parent's FK.
        if kind == 'f' && opt_oid(&r, 6).is_some() {
            continue;
        }
        out.push(Constraint {
            oid: r.get(0),
            table: r.get(1),
            name: r.get(2),
            kind,
            definition: r.get(4),
            validated: r.get(5),
            index: opt_oid(&r, 7),
            comment: r.get(9),
            columns: r.get(10),
            references: opt_oid(&r, 11).map(|t| (t, r.get(12))),
            local,
        });
    }
    Ok(out)
}

async fn read_indexes(client: &Client) -> Result<Vec<Index>> {
    Ok(query(client, &queries::indexes())
        .await?
        .iter()
        .map(|r| Index {
            oid: r.get(0),
            table: r.get(1),
            name: r.get(2),
            definition: r.get(3),
            parent: opt_oid(r, 4),
            clustered: r.get(5),
            replica_identity: r.get(6),
            constraint: opt_oid(r, 7),
            comment: r.get(8),
            columns: r.get(9),
            expression_or_partial: r.get(10),
        })
        .collect())
}

async fn read_triggers(client: &Client) -> Result<Vec<Trigger>> {
    Ok(query(client, &queries::triggers())
        .await?
        .iter()
        .map(|r| Trigger {
            oid: r.get(0),
            table: r.get(1),
            name: r.get(2),
            definition: r.get(3),
            enabled: first_char(r.get(4)),
            comment: r.get(5),
        })
        .collect())
}

async fn read_rules(client: &Client) -> Result<Vec<Rule>> {
    Ok(query(client, &queries::rules())
        .await?
        .iter()
        .map(|r| Rule {
            oid: r.get(0),
            table: r.get(1),
            name: r.get(2),
            definition: r
                .get::<_, String>(3)
                .trim_end()
                .trim_end_matches(';')
                .to_string(),
            enabled: first_char(r.get(4)),
            comment: r.get(5),
        })
        .collect())
}

async fn read_policies(client: &Client) -> Result<Vec<Policy>> {
    Ok(query(client, &queries::policies())
        .await?
        .iter()
        .map(|r| {
            let name: String = r.get(2);
            let permissive: bool = r.get(3);
            let cmd = match r.get::<_, String>(4).as_str() {
                "r" => "SELECT",
                "a" => "INSERT",
                "w" => "UPDATE",
                "d" => "DELETE",
                _ => "ALL",
            };
            let roles: Vec<String> = r.get(5);
            let mut def = format!(
                "AS {} FOR {cmd} TO {}",
                if permissive {
                    "PERMISSIVE"
                } else {
                    "RESTRICTIVE"
                },
                roles.join(", ")
            );
            if let Some(q) = r.get::<_, Option<String>>(6) {
                def.push_str(&format!(" USING ({q})"));
            }
            if let Some(c) = r.get::<_, Option<String>>(7) {
                def.push_str(&format!(" WITH CHECK ({c})"));
            }
            Policy {
                oid: r.get(0),
                table: r.get(1),
                definition: format!("CREATE POLICY {} ON {{table}} {def}", ident(&name)),
                name,
                comment: r.get(8),
            }
        })
        .collect())
}
