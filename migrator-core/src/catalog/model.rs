//! The Schema model: what the source holds, as the server itself renders it.

use std::collections::HashMap;

use serde::Serialize;

use crate::sql::QualName;

/// A PostgreSQL object id.
pub(crate) type Oid = u32;

/// The identity of an object that a DDL step creates. Dependencies are edges between these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ObjKey {
    Schema(Oid),
    Extension(Oid),
    Type(Oid),
    Proc(Oid),
    /// A table, view, materialized view or sequence.
    Rel(Oid),
    Constraint(Oid),
    Index(Oid),
    Trigger(Oid),
    Rule(Oid),
    Policy(Oid),
    Stat(Oid),
}

/// Everything introspected from the source for the selected schemas and tables.
#[derive(Debug, Default, Clone)]
pub(crate) struct Catalog {
    pub server_version_num: i32,
    pub server_version: String,
    pub database: String,
    pub schemas: Vec<Namespace>,
    pub extensions: Vec<Extension>,
    pub types: Vec<TypeDef>,
    pub functions: Vec<Function>,
    pub sequences: Vec<Sequence>,
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub triggers: Vec<Trigger>,
    pub rules: Vec<Rule>,
    pub policies: Vec<Policy>,
    pub statistics: Vec<Statistic>,
    /// Dependency edges `(dependent, referenced)` between selected objects.
    pub deps: Vec<(ObjKey, ObjKey)>,
    /// Objects present in the source that are not migrated, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Catalog {
    pub fn table(&self, oid: Oid) -> Option<&Table> {
        self.tables.iter().find(|t| t.oid == oid)
    }

    /// The root of a table's partition tree (the table itself if it is not a partition).
    pub fn root_of(&self, mut oid: Oid) -> Option<&Table> {
        for _ in 0..64 {
            match self.table(oid)?.partition_of.as_ref() {
                Some((parent, _)) if self.table(*parent).is_some() => oid = *parent,
                _ => break,
            }
        }
        self.table(oid)
    }

    /// A partitioned table without a primary key of its own takes the one all its
    /// partitions share (what a target that folds partitions into one table keys it by).
    pub fn with_partition_keys(&self) -> Catalog {
        let mut out = self.clone();
        let parents: Vec<Oid> = out
            .tables
            .iter()
            .filter(|t| t.is_partitioned() && t.pk_columns.is_empty())
            .map(|t| t.oid)
            .collect();
        for p in parents {
            let leaves: Vec<&Table> = self
                .tables
                .iter()
                .filter(|l| {
                    !l.is_partitioned()
                        && l.partition_of.is_some()
                        && self.root_of(l.oid).is_some_and(|r| r.oid == p)
                })
                .collect();
            let Some(first) = leaves.first() else {
                continue;
            };
            if first.pk_columns.is_empty()
                || !leaves.iter().all(|l| l.pk_columns == first.pk_columns)
            {
                continue;
            }
            let (pk, key) = (first.pk_columns.clone(), first.int_key.clone());
            if let Some(t) = out.tables.iter_mut().find(|t| t.oid == p) {
                t.pk_columns = pk;
                t.int_key = key;
            }
        }
        out
    }

    /// The qualified name of any selected relation (table, view, sequence).
    pub fn rel_name(&self, oid: Oid) -> Option<&QualName> {
        self.tables
            .iter()
            .find(|t| t.oid == oid)
            .map(|t| &t.name)
            .or_else(|| self.views.iter().find(|v| v.oid == oid).map(|v| &v.name))
            .or_else(|| {
                self.sequences
                    .iter()
                    .find(|s| s.oid == oid)
                    .map(|s| &s.name)
            })
    }

    /// Tables that hold rows (everything but partitioned parents), in catalog order.
    pub fn data_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter().filter(|t| !t.is_partitioned())
    }

    pub fn tables_by_oid(&self) -> HashMap<Oid, &Table> {
        self.tables.iter().map(|t| (t.oid, t)).collect()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    pub oid: Oid,
    pub name: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Extension {
    pub oid: Oid,
    pub name: String,
    pub schema: String,
    pub version: String,
}

#[derive(Debug, Clone)]
pub(crate) struct TypeDef {
    pub oid: Oid,
    pub name: QualName,
    /// The name as `format_type` prints it in column types and casts.
    pub sql_name: String,
    pub kind: TypeKind,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum TypeKind {
    Enum {
        labels: Vec<String>,
    },
    Domain {
        base: String,
        base_oid: Oid,
        not_null: bool,
        default: Option<String>,
        collation: Option<String>,
        /// `(name, definition, comment)`
        constraints: Vec<(String, String, Option<String>)>,
    },
    Composite {
        /// `(name, type, collation)`
        attributes: Vec<(String, String, Option<String>)>,
    },
    Range {
        subtype: String,
        opclass: Option<String>,
        collation: Option<String>,
        canonical: Option<String>,
        subdiff: Option<String>,
        multirange: Option<QualName>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub oid: Oid,
    pub name: QualName,
    /// `pg_get_function_identity_arguments`, for COMMENT and DROP.
    pub identity_args: String,
    /// `f` function, `p` procedure, `a` aggregate, `w` window function.
    pub kind: char,
    /// The complete CREATE statement.
    pub definition: String,
    pub comment: Option<String>,
}

impl Function {
    pub fn kind_word(&self) -> &'static str {
        match self.kind {
            'p' => "PROCEDURE",
            'a' => "AGGREGATE",
            _ => "FUNCTION",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Sequence {
    pub oid: Oid,
    pub name: QualName,
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
    /// The column that owns it (`OWNED BY`, serial) or whose identity it is.
    pub owned_by: Option<(Oid, String)>,
    /// Every column it feeds: the owner, and columns whose DEFAULT calls `nextval` on it.
    pub feeds: Vec<(Oid, String)>,
    /// An identity column's sequence: created by the column, not on its own.
    pub identity: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TableKind {
    Ordinary,
    /// A partitioned parent; `key` as `pg_get_partkeydef` gives it.
    Partitioned {
        key: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub oid: Oid,
    pub name: QualName,
    pub kind: TableKind,
    /// `(parent, bound)` for a partition.
    pub partition_of: Option<(Oid, String)>,
    /// Parents by plain inheritance, in order.
    pub inherits: Vec<Oid>,
    pub unlogged: bool,
    pub reloptions: Vec<String>,
    /// `d`, `n`, `f` or `i`.
    pub replica_identity: char,
    pub row_security: bool,
    pub force_row_security: bool,
    pub columns: Vec<Column>,
    pub comment: Option<String>,
    pub est_rows: i64,
    pub bytes: i64,
    /// The column of a single-column integer primary key (`int2`, `int4`, `int8`).
    pub int_key: Option<String>,
    /// The primary key's columns, in key order.
    pub pk_columns: Vec<String>,
}

impl Table {
    pub fn is_partitioned(&self) -> bool {
        matches!(self.kind, TableKind::Partitioned { .. })
    }

    /// Columns that hold stored data: all but generated ones.
    pub fn copy_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.generated)
    }

    /// Whether every copied column can move in COPY's binary format between two servers.
    pub fn binary_ok(&self) -> bool {
        self.copy_columns().all(|c| c.binary_ok)
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Column {
    pub num: i16,
    pub name: String,
    /// `format_type(atttypid, atttypmod)`
    pub type_sql: String,
    pub type_oid: Oid,
    pub not_null: bool,
    pub default: Option<String>,
    /// `a` (always) or `d` (by default) for identity columns.
    pub identity: Option<char>,
    pub generated: bool,
    /// A collation other than the type's default, qualified and quoted.
    pub collation: Option<String>,
    /// Declared here rather than only inherited.
    pub local: bool,
    pub storage: Option<&'static str>,
    pub stat_target: Option<i32>,
    pub options: Vec<String>,
    pub compression: Option<&'static str>,
    /// Whether COPY's binary format carries this type portably (no type OIDs inside).
    pub binary_ok: bool,
    /// Read as its stored text rather than through the type's output function: `xml`,
    /// whose output rewrites the XML declaration.
    pub read_as_text: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    /// `p`, `u`, `c`, `f`, `x`
    pub kind: char,
    /// `pg_get_constraintdef`
    pub definition: String,
    pub validated: bool,
    /// The index enforcing it (PK, UNIQUE, EXCLUDE).
    pub index: Option<Oid>,
    pub comment: Option<String>,
    /// The constrained columns, in order.
    pub columns: Vec<String>,
    /// A foreign key's referenced table and columns (in the order of `columns`).
    pub references: Option<(Oid, Vec<String>)>,
    /// Declared on this table, not only inherited from a parent.
    pub local: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    /// `pg_get_indexdef`
    pub definition: String,
    /// The partitioned parent index this one is a partition of.
    pub parent: Option<Oid>,
    pub clustered: bool,
    pub replica_identity: bool,
    /// The constraint this index enforces, if any.
    pub constraint: Option<Oid>,
    pub comment: Option<String>,
    /// The indexed (and included) plain columns, in order; expressions are not listed.
    pub columns: Vec<String>,
    /// Has expressions or a WHERE predicate.
    pub expression_or_partial: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct View {
    pub oid: Oid,
    pub name: QualName,
    pub materialized: bool,
    pub definition: String,
    pub options: Vec<String>,
    pub populated: bool,
    pub comment: Option<String>,
    /// `(column, comment)`
    pub column_comments: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub definition: String,
    pub enabled: char,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub definition: String,
    pub enabled: char,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub definition: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Statistic {
    pub oid: Oid,
    pub name: QualName,
    pub definition: String,
    pub comment: Option<String>,
}

/// Something in the source that will not be migrated, and why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Skipped {
    pub object: String,
    pub reason: String,
}
