//! `bytea` columns that move to a blob store (`[blobs]`): which source columns, what the
//! target has in their place (the object's key, size and SHA-256), and the catalog the
//! target's DDL is rendered from, with those columns replaced. The values themselves are
//! uploaded by the copy through [`crate::blob`].

use crate::catalog::{Catalog, Column, Oid};
use crate::config::{BlobNaming, BlobsConfig};
use crate::error::{Error, Result};
use crate::findings::{Finding, Severity};

const BYTEA: Oid = 17;
const TEXT: Oid = 25;
const INT8: Oid = 20;

/// One source column whose values go to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobColumnPlan {
    /// Every table holding the column: the configured one and, for a partitioned table,
    /// its partitions.
    pub tables: Vec<Oid>,
    /// The configured table, `schema.table`.
    pub table: crate::sql::QualName,
    pub column: String,
    pub content_type_column: Option<String>,
    /// The target columns: key, size, SHA-256.
    pub key_column: String,
    pub size_column: String,
    pub sha256_column: String,
    pub not_null: bool,
}

/// Finds every configured column in the catalog and checks it can move: the table is
/// selected, the column exists and is `bytea`, the content-type column is text.
pub(crate) fn resolve(cat: &Catalog, config: &BlobsConfig) -> Result<Vec<BlobColumnPlan>> {
    let mut out = Vec::new();
    for c in &config.columns {
        let (schema, name) = c.table.split_once('.').unwrap_or(("public", &c.table));
        let Some(table) = cat
            .tables
            .iter()
            .find(|t| t.name.schema == schema && t.name.name == name)
        else {
            return Err(Error::config(format!(
                "blobs.columns: table {schema}.{name} is not in the source (or not selected by [tables])"
            )));
        };
        let at = format!("blobs.columns: {schema}.{name}.{}", c.column);
        let Some(col) = table.columns.iter().find(|x| x.name == c.column) else {
            return Err(Error::config(format!("{at}: no such column")));
        };
        if col.type_oid != BYTEA {
            return Err(Error::config(format!(
                "{at} is {}, not bytea: only bytea values can move to a blob store",
                col.type_sql
            )));
        }
        if col.generated {
            return Err(Error::config(format!("{at} is a generated column")));
        }
        if let Some(ct) = &c.content_type_column {
            match table.columns.iter().find(|x| &x.name == ct) {
                None => {
                    return Err(Error::config(format!(
                        "{at}: content_type_column {ct} is not a column of {schema}.{name}"
                    )));
                }
                Some(x) if !matches!(x.type_oid, 25 | 1043 | 1042) => {
                    return Err(Error::config(format!(
                        "{at}: content_type_column {ct} is {}, not text",
                        x.type_sql
                    )));
                }
                Some(_) => {}
            }
        }
        let (key_column, size_column, sha256_column) = match config.naming {
            BlobNaming::Columns => (
                format!("{}_key", c.column),
                format!("{}_size", c.column),
                format!("{}_sha256", c.column),
            ),
            BlobNaming::InPlace => (
                c.column.clone(),
                format!("{}_size", c.column),
                format!("{}_sha256", c.column),
            ),
        };
        for new in [&size_column, &sha256_column]
            .into_iter()
            .chain((config.naming == BlobNaming::Columns).then_some(&key_column))
        {
            if table.columns.iter().any(|x| &x.name == new) {
                return Err(Error::config(format!(
                    "{at}: the target column {new} would collide with an existing column of {schema}.{name}"
                )));
            }
        }
        let tables = cat
            .tables
            .iter()
            .filter(|t| cat.root_of(t.oid).map(|r| r.oid) == Some(table.oid))
            .map(|t| t.oid)
            .collect();
        out.push(BlobColumnPlan {
            tables,
            table: table.name.clone(),
            column: c.column.clone(),
            content_type_column: c.content_type_column.clone(),
            key_column,
            size_column,
            sha256_column,
            not_null: col.not_null,
        });
    }
    Ok(out)
}

/// Whether `sql` mentions `column` as a word (quoted or not).
fn mentions(sql: &str, column: &str) -> bool {
    let quoted = format!("\"{column}\"");
    if sql.contains(&quoted) {
        return true;
    }
    sql.match_indices(column).any(|(i, _)| {
        let before = sql[..i].chars().next_back();
        let after = sql[i + column.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

/// The catalog the target's DDL is made from: each blob column replaced by its key, size
/// and SHA-256 columns; indexes, constraints and views that use a blob column left out,
/// each with a warning.
pub(crate) fn target_catalog(
    cat: &Catalog,
    blobs: &[BlobColumnPlan],
    findings: &mut Vec<Finding>,
) -> Catalog {
    let mut out = cat.clone();
    if blobs.is_empty() {
        return out;
    }
    for b in blobs {
        for t in out.tables.iter_mut().filter(|t| b.tables.contains(&t.oid)) {
            let Some(pos) = t.columns.iter().position(|c| c.name == b.column) else {
                continue;
            };
            let old = t.columns.remove(pos);
            let column = |name: &str, type_sql: &str, type_oid: Oid| Column {
                name: name.to_string(),
                type_sql: type_sql.to_string(),
                type_oid,
                default: None,
                identity: None,
                generated: false,
                collation: None,
                storage: None,
                stat_target: None,
                options: Vec::new(),
                compression: None,
                binary_ok: true,
                read_as_text: false,
                comment: None,
                ..old.clone()
            };
            let mut key = column(&b.key_column, "text", TEXT);
            key.comment = Some(format!(
                "object key of the value of {}.{} (size in {}, SHA-256 in {})",
                b.table, b.column, b.size_column, b.sha256_column
            ));
            let new = [
                key,
                column(&b.size_column, "bigint", INT8),
                column(&b.sha256_column, "text", TEXT),
            ];
            for (i, c) in new.into_iter().enumerate() {
                t.columns.insert(pos + i, c);
            }
        }
        let uses = |table: Oid, columns: &[String], sql: &str| {
            b.tables.contains(&table)
                && (columns.iter().any(|c| c == &b.column) || mentions(sql, &b.column))
        };
        let mut left_out = |object: String| {
            findings.push(Finding::new(
                Severity::Warning,
                object,
                format!(
                    "not created: it uses {}.{}, whose values move to the blob store",
                    b.table, b.column
                ),
            ));
        };
        let mut dropped_indexes = Vec::new();
        out.constraints.retain(|c| {
            let keep = !uses(c.table, &c.columns, &c.definition);
            if !keep {
                dropped_indexes.extend(c.index);
                left_out(format!("constraint {}", c.name));
            }
            keep
        });
        out.indexes.retain(|i| match i.constraint {
            // A constraint's index goes with its constraint.
            Some(_) => !dropped_indexes.contains(&i.oid),
            None if uses(i.table, &i.columns, &i.definition) => {
                left_out(format!("index {}", i.name));
                false
            }
            None => true,
        });
        let root = cat
            .tables
            .iter()
            .find(|t| t.name == b.table)
            .map(|t| crate::catalog::ObjKey::Rel(t.oid));
        let views: Vec<Oid> = out
            .views
            .iter()
            .filter(|v| {
                out.deps.iter().any(|(dep, on)| {
                    *dep == crate::catalog::ObjKey::Rel(v.oid) && Some(on) == root.as_ref()
                }) && mentions(&v.definition, &b.column)
            })
            .map(|v| v.oid)
            .collect();
        out.views.retain(|v| {
            let keep = !views.contains(&v.oid);
            if !keep {
                left_out(format!("view {}", v.name));
            }
            keep
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_mentions() {
        assert!(mentions("CHECK (length(data) < 10)", "data"));
        assert!(mentions("CREATE INDEX i ON t (\"data\")", "data"));
        assert!(!mentions("CHECK (length(metadata) < 10)", "data"));
        assert!(!mentions("CHECK (data_size > 0)", "data"));
    }
}
