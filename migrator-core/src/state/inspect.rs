//! What planning reads of the target: its version, the relations, types, extensions and
//! columns it holds, which tables have rows, and a summary of an earlier run's manifest.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use super::manifest::{ManifestSummary, read_manifest};
use super::target_err;
use crate::catalog::Catalog;
use crate::error::Result;
use crate::sql::QualName;

/// A column as the target has it.
#[derive(Debug, Clone)]
pub(crate) struct TargetColumn {
    pub name: String,
    pub type_sql: String,
    pub not_null: bool,
    pub has_default: bool,
    pub generated: bool,
}

/// What the target holds, as far as planning cares.
#[derive(Debug, Default)]
pub(crate) struct TargetInfo {
    pub version: String,
    pub database: String,
    pub manifest: Option<ManifestSummary>,
    pub relations: HashSet<QualName>,
    pub types: HashSet<QualName>,
    pub available_extensions: HashSet<String>,
    pub columns: HashMap<QualName, Vec<TargetColumn>>,
    pub nonempty_tables: HashSet<QualName>,
}

const USER_SCHEMA: &str =
    "n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', '_migrator')";

/// Reads what planning needs from the target. Changes nothing.
pub(crate) async fn inspect(client: &Client, cat: &Catalog, data_only: bool) -> Result<TargetInfo> {
    let err = || target_err("reading the target catalog");
    // Names print qualified, as the source catalog's do.
    client
        .batch_execute("SET search_path = ''")
        .await
        .map_err(err())?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_database()",
            &[],
        )
        .await
        .map_err(err())?;
    let mut info = TargetInfo {
        version: row.get(0),
        database: row.get(1),
        ..TargetInfo::default()
    };
    for r in client
        .query(
            &format!(
                "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r','p','v','m','S','f') AND {USER_SCHEMA}"
            ),
            &[],
        )
        .await
        .map_err(err())?
    {
        info.relations
            .insert(QualName::new(r.get::<_, String>(0), r.get::<_, String>(1)));
    }
    for r in client
        .query(
            &format!(
                "SELECT n.nspname::text, t.typname::text FROM pg_catalog.pg_type t \
                 JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
                 LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid \
                 WHERE (t.typtype IN ('e','d','r') OR (t.typtype = 'c' AND r.relkind = 'c')) AND {USER_SCHEMA}"
            ),
            &[],
        )
        .await
        .map_err(err())?
    {
        info.types.insert(QualName::new(r.get::<_, String>(0), r.get::<_, String>(1)));
    }
    for r in client
        .query(
            "SELECT name::text FROM pg_catalog.pg_available_extensions",
            &[],
        )
        .await
        .map_err(err())?
    {
        info.available_extensions.insert(r.get(0));
    }
    for r in client
        .query(
            &format!(
                "SELECT n.nspname::text, c.relname::text, a.attname::text, \
                 pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef OR a.attidentity <> '', \
                 a.attgenerated <> '' \
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r','p') AND a.attnum > 0 AND NOT a.attisdropped AND {USER_SCHEMA} \
                 ORDER BY c.oid, a.attnum"
            ),
            &[],
        )
        .await
        .map_err(err())?
    {
        let name = QualName::new(r.get::<_, String>(0), r.get::<_, String>(1));
        info.columns.entry(name).or_default().push(TargetColumn {
            name: r.get(2),
            type_sql: r.get(3),
            not_null: r.get(4),
            has_default: r.get(5),
            generated: r.get(6),
        });
    }
    info.manifest = read_manifest(client).await?;
    if data_only {
        for t in cat.data_tables() {
            if info.columns.contains_key(&t.name) {
                let has_rows: bool = client
                    .query_one(
                        &format!("SELECT EXISTS (SELECT 1 FROM ONLY {})", t.name.sql()),
                        &[],
                    )
                    .await
                    .map_err(err())?
                    .get(0);
                if has_rows {
                    info.nonempty_tables.insert(t.name.clone());
                }
            }
        }
    }
    Ok(info)
}
