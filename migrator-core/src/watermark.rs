//! Watermarks: a column the application sets on every write (`updated_at`), configured per
//! table under `[[sync.watermarks]]`. The plan checks each one and records it with its
//! type in the table's plan; the copy records each column's largest value under its
//! snapshot, and sync selects the rows changed since.

use tokio_postgres::Client;

use crate::error::{Error, ErrorKind, Result};
use crate::sql::{QualName, ident, literal};

/// A table's watermark column.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Watermark {
    pub column: String,
    /// Its type in the source.
    pub type_sql: String,
}

impl Watermark {
    /// The conditions selecting rows changed since `recorded` (`None`: the table was empty,
    /// every row is new), reaching back `overlap` seconds for a timestamp.
    pub fn condition(&self, recorded: Option<&str>, overlap: u64) -> Vec<String> {
        let Some(v) = recorded else {
            return Vec::new();
        };
        let col = ident(&self.column);
        let value = format!("{}::{}", literal(v), self.type_sql);
        if self.type_sql.starts_with("timestamp") || self.type_sql == "date" {
            vec![format!("{col} >= {value} - interval '{overlap} seconds'")]
        } else {
            vec![format!("{col} >= {value}")]
        }
    }
}

/// Each watermark's largest value in its table, under the session's snapshot.
pub(crate) async fn values(
    source: &Client,
    marks: &[(&QualName, &Watermark)],
) -> Result<Vec<(QualName, Option<String>)>> {
    let mut out = Vec::new();
    for (table, m) in marks {
        let v: Option<String> = source
            .query_one(
                &format!(
                    "SELECT max({})::text FROM ONLY {}",
                    ident(&m.column),
                    table.sql()
                ),
                &[],
            )
            .await
            .map_err(|e| Error::db(ErrorKind::Source, "reading a watermark", e).with_table(table))?
            .get(0);
        out.push(((*table).clone(), v));
    }
    Ok(out)
}
