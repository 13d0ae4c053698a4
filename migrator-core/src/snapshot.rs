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
            // 22023: the exporting transaction has ended (its session closed).
            let what =
                if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE) {
                    "joining the source snapshot: the session holding it has closed, so the rest \
                 of the copy cannot see the same instant"
                } else {
                    "joining the source snapshot"
                };
            Error::db(ErrorKind::Source, what, e).retryable(false)
        })
}

/// Where the source's transaction ids stood when a snapshot was taken (64-bit, with the
/// epoch): every transaction older than `xmin` had ended, so a row version whose `xmin` is
/// older is one this snapshot saw; `xmax` is the next id to be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Horizon {
    pub xmin: i64,
    pub xmax: i64,
}

/// The horizon of the snapshot `coordinator`'s transaction holds (call after `export`).
pub(crate) async fn horizon(coordinator: &Client) -> Result<Horizon> {
    let r = coordinator
        .query_one(
            "SELECT pg_catalog.txid_snapshot_xmin(s)::int8, pg_catalog.txid_snapshot_xmax(s)::int8 \
             FROM pg_catalog.txid_current_snapshot() s",
            &[],
        )
        .await
        .map_err(|e| {
            Error::db(
                ErrorKind::Source,
                "reading the snapshot's transaction ids",
                e,
            )
        })?;
    Ok(Horizon {
        xmin: r.get(0),
        xmax: r.get(1),
    })
}

impl Horizon {
    /// The condition selecting row versions written by transactions not older than
    /// `since`'s xmin, evaluated under this snapshot: `None` when ids are not comparable
    /// (the source's ids went backwards, or so far forwards that 32-bit row ids wrapped).
    pub(crate) fn changed_since(&self, since: i64) -> Option<String> {
        // Row versions carry 32-bit ids; `age()` compares them with the newest id modulo
        // 2^32, which is exact while fewer than 2^31 ids separate them (freezing keeps the
        // ids of old rows within that reach). Stay well inside it.
        if since > self.xmax || self.xmax - since >= 1 << 30 {
            return None;
        }
        let xid = since.rem_euclid(1 << 32);
        Some(format!(
            "pg_catalog.age(xmin) BETWEEN 0 AND pg_catalog.age('{xid}'::xid)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::Horizon;

    #[test]
    fn changed_since_holds_only_while_ids_compare() {
        let now = Horizon {
            xmin: (5 << 32) + 100,
            xmax: (5 << 32) + 120,
        };
        // The copy's xmin in an earlier epoch: compared by its low 32 bits.
        let c = now.changed_since((4 << 32) + 4_000_000_000).unwrap();
        assert!(c.contains("age('4000000000'::xid)"), "{c}");
        assert!(now.changed_since(now.xmin).is_some());
        // Ids went backwards (a restored source) or ran too far for 32-bit row ids.
        assert_eq!(now.changed_since(now.xmax + 1), None);
        assert_eq!(now.changed_since(now.xmax - (1 << 30)), None);
    }
}
