//! Progress events a run reports, and the handle an embedding program holds: a stream of
//! events, cancellation, and the run's final result.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::instrument::WithSubscriber;

use crate::ddl::StepKind;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::QualName;

/// Something that happened during a run. Grows over time: match with a wildcard arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The run begins: what there is to do, and what an earlier run already did.
    #[non_exhaustive]
    Started {
        /// Tables to copy.
        tables: usize,
        /// All chunks of all tables.
        chunks: usize,
        /// Chunks an earlier run finished, skipped now.
        chunks_already_done: usize,
        /// Estimated bytes of all tables (from the source's statistics).
        estimated_bytes: u64,
    },
    /// A stage of the run begins.
    Stage(Stage),
    /// A table's first chunk starts.
    #[non_exhaustive]
    TableStarted {
        /// The table.
        table: QualName,
        /// Its chunks still to copy.
        chunks: usize,
        /// Estimated rows.
        estimated_rows: u64,
        /// Estimated bytes.
        estimated_bytes: u64,
    },
    /// Bytes moved within a chunk since the last report (for smooth progress and ETA).
    #[non_exhaustive]
    Progress {
        /// The table.
        table: QualName,
        /// Bytes since the previous `Progress` of this chunk.
        bytes: u64,
    },
    /// A chunk is committed in the target.
    #[non_exhaustive]
    ChunkDone {
        /// The table.
        table: QualName,
        /// The chunk number.
        chunk: u32,
        /// Rows in the chunk.
        rows: u64,
        /// Bytes of COPY data.
        bytes: u64,
        /// Time the chunk took.
        elapsed: Duration,
    },
    /// All chunks of a table are done.
    #[non_exhaustive]
    TableDone {
        /// The table.
        table: QualName,
        /// Rows copied in this run.
        rows: u64,
    },
    /// A DDL step starts.
    #[non_exhaustive]
    StepStarted {
        /// The step's id.
        id: String,
        /// What kind of step.
        kind: StepKind,
    },
    /// A DDL step is done.
    #[non_exhaustive]
    StepDone {
        /// The step's id.
        id: String,
        /// What kind of step.
        kind: StepKind,
        /// Time it took.
        elapsed: Duration,
    },
    /// Something failed in a way a retry can fix; the engine retries after `delay`.
    #[non_exhaustive]
    Retry {
        /// What was being done.
        what: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The pause before the next attempt.
        delay: Duration,
        /// Why.
        reason: String,
    },
    /// Something the user should know; the run goes on.
    #[non_exhaustive]
    Warning {
        /// The message.
        message: String,
    },
    /// Verification compared a table.
    #[non_exhaustive]
    TableVerified {
        /// The table.
        table: QualName,
        /// The verdict.
        verdict: Verdict,
    },
}

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Reading both catalogs and deciding what to do.
    Plan,
    /// Creating types, sequences, tables.
    Schema,
    /// Copying rows; a table's own indexes, keys and statistics are built as soon as its
    /// rows are in ([`Event::StepStarted`] during this stage).
    Data,
    /// All rows are in: what is left of the indexes and constraints, and what spans tables
    /// (foreign keys, views, triggers, sequence values).
    PostData,
    /// Verifying.
    Verify,
    /// Bringing a copied target up to date.
    Sync,
}

/// Where a run sends its events.
#[derive(Clone)]
pub(crate) struct EventSink {
    tx: mpsc::UnboundedSender<Event>,
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl EventSink {
    /// Reports an event to the embedding program, and to `tracing` (stages at info level,
    /// the rest at debug) so a log shows the run's timeline.
    pub fn send(&self, e: Event) {
        match &e {
            Event::Stage(stage) => tracing::info!(?stage, "stage"),
            Event::Progress { .. } => {}
            other => tracing::debug!(event = ?other),
        }
        let _ = self.tx.send(e);
    }

    /// Retries reported so far by this run.
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn retry(&self, what: impl Into<String>, attempt: u32, delay: Duration, e: &Error) {
        let what = what.into();
        self.retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(%what, attempt, delay_ms = delay.as_millis() as u64, error = %e, "retrying");
        self.send(Event::Retry {
            what,
            attempt,
            delay,
            reason: e.to_string(),
        });
    }
}

/// A run in progress (a plan, a copy, a verification): read its events, cancel it, await
/// its result. `.await` on the handle itself waits for the result and ignores the events.
/// Dropping the handle cancels the run; a cancelled copy leaves the target resumable.
///
/// ```no_run
/// # async fn f(migration: migrator_core::Migration) -> migrator_core::Result<()> {
/// // The short way: just the result.
/// let plan = migration.plan().await?;
/// // The long way: events while it runs, then the result.
/// let mut run = migration.copy(&plan);
/// while let Some(event) = run.next_event().await {
///     println!("{event:?}");
/// }
/// let summary = run.finish().await?;
/// # let _ = summary; Ok(()) }
/// ```
pub struct RunHandle<T> {
    events: mpsc::UnboundedReceiver<Event>,
    task: Option<JoinHandle<Result<T>>>,
    cancel: CancellationToken,
}

impl<T: Send + 'static> RunHandle<T> {
    pub(crate) fn spawn<F>(f: impl FnOnce(EventSink, CancellationToken) -> F) -> RunHandle<T>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let fut = f(
            EventSink {
                tx,
                retries: Default::default(),
            },
            cancel.clone(),
        );
        RunHandle {
            events: rx,
            // The caller's tracing subscriber follows the run into its tasks.
            task: Some(tokio::spawn(fut.with_current_subscriber())),
            cancel,
        }
    }

    /// The next event; `None` once the run has ended (then call [`RunHandle::finish`]).
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Asks the run to stop. It stops within seconds, between or inside chunks, and leaves
    /// the target resumable; [`RunHandle::finish`] then returns a `Cancelled` error.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels the run when cancelled (e.g. from a Ctrl-C handler).
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits for the run to end and returns its result.
    pub async fn finish(mut self) -> Result<T> {
        let task = self.task.take().expect("finish is called once");
        match task.await {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => {
                Err(Error::new(ErrorKind::Cancelled, "the run was cancelled"))
            }
            Err(e) => Err(Error::internal(format!("the run panicked: {e}"))),
        }
    }
}

impl<T: Send + 'static> std::future::IntoFuture for RunHandle<T> {
    type Output = Result<T>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.finish())
    }
}

impl<T> Drop for RunHandle<T> {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.cancel.cancel();
        }
    }
}

/// A table's verdict (the verify report's, and [`Event::TableVerified`]'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Source and target agree.
    Match,
    /// The row counts differ.
    CountMismatch,
    /// The table does not exist in the target.
    Missing,
    /// Rows point at missing parents through a foreign key the target does not enforce.
    Orphans,
    /// Values moved to the blob store differ from the source's, or their objects are
    /// missing or differ.
    BlobMismatch,
    /// Same row counts, but rows differ (`--checksums`): the verify report's table verdict names the rows.
    ContentMismatch,
    /// A sequence or identity would hand out a value the table already holds.
    SequenceBehind,
}
