//! Which database a session is connected to, so that a run never copies a database onto
//! itself and a target's manifest is only continued from the source that wrote it.

use tokio_postgres::Client;

use crate::error::{Error, ErrorKind, Result};

/// An identity for the source database: the cluster's system identifier and the database.
pub(crate) async fn source_identity(client: &Client) -> Result<String> {
    let sys = client
        .query_one(
            "SELECT system_identifier::text FROM pg_catalog.pg_control_system()",
            &[],
        )
        .await
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|_| "unknown".to_string());
    let db: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .map_err(|e| Error::db(ErrorKind::Source, "reading the source identity", e))?
        .get(0);
    Ok(format!("{sys}/{db}"))
}

/// Refuses a source and a target that are the same database.
pub(crate) async fn ensure_distinct(source: &Client, target: &Client) -> Result<String> {
    let source_id = source_identity(source).await?;
    let target_id = source_identity(target).await?;
    if source_id == target_id && !source_id.starts_with("unknown/") {
        return Err(Error::config(
            "source and target are the same database: the target must be a different database",
        ));
    }
    Ok(source_id)
}
