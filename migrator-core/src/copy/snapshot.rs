//! The one consistent picture of the source: a coordinator session opens a REPEATABLE READ
//! transaction and exports its snapshot; every reader session imports it.

use tokio_postgres::Client;

use crate::error::{Error, ErrorKind, Result};
use crate::sql::literal;

/// Opens a read-only REPEATABLE READ transaction on `coordinator` and exports its snapshot.
/// The snapshot lives as long as that transaction.
pub(crate) async fn export(coordinator: &Client) -> Result<String> {
    coordinator
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| Error::db(ErrorKind::Source, "opening the source snapshot", e))?;
    Ok(coordinator
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
        .map_err(|e| Error::db(ErrorKind::Source, "exporting the source snapshot", e))?
        .get(0))
}

/// Makes `reader` see exactly what the exporting session sees. Fails for good (not
/// retryable) once the exporting transaction has ended.
pub(crate) async fn import(reader: &Client, snapshot: &str) -> Result<()> {
    reader
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
            literal(snapshot)
        ))
        .await
        .map_err(|e| {
            Error::db(ErrorKind::Source, "joining the source snapshot", e).retryable(false)
        })
}
