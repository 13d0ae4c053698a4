//! The run's state in the target, in schema `_migrator`: every statement that reads or
//! writes it is here. [`manifest`]: the run (which source, which options), every planned
//! chunk, the chunks and DDL steps that are done (a chunk's rows and its `chunk_done` row
//! commit in one transaction, which is what makes resume exact), watermarks and the source's
//! transaction horizon. [`digests`]: each copied row's digest, which sync compares.
//! [`lock`]: the lock that keeps two runs apart. Beside them, what planning reads of the
//! target ([`inspect`]) and of both servers' identities ([`identity`]).

mod digests;
mod identity;
mod inspect;
mod lock;
mod manifest;

use tokio_postgres::Client;

pub(crate) use digests::*;
pub(crate) use identity::*;
pub(crate) use inspect::*;
pub(crate) use lock::*;
pub(crate) use manifest::*;

use crate::error::{Error, ErrorKind, Result};

fn target_err(what: impl std::fmt::Display) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| Error::db(ErrorKind::Target, what, e)
}

/// Runs manifest statements one by one on `control`, each retried as the retry policy says.
pub(crate) async fn record(
    control: &Client,
    statements: &[String],
    what: &str,
    events: &crate::events::EventSink,
) -> Result<()> {
    for sql in statements {
        crate::retry::retrying(
            crate::retry::RetryPolicy::default(),
            what,
            Some(events),
            || async {
                control
                    .batch_execute(sql)
                    .await
                    .map_err(|e| Error::db(ErrorKind::Target, what, e))
            },
        )
        .await?;
    }
    Ok(())
}
