//! The one error type of the engine: a kind (what class of failure, whether a retry can help),
//! the table and chunk it concerns, the SQLSTATE when the server sent one, and a one-line
//! message that never carries a secret.

use std::fmt;

/// What class of failure an [`Error`] is. Grows over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad configuration, URL or option: nothing was done. The CLI exits 2.
    Config,
    /// Could not connect or authenticate.
    Connect,
    /// The TLS handshake or certificate verification failed.
    Tls,
    /// The source database refused or failed a request.
    Source,
    /// The target database refused or failed a request.
    Target,
    /// Source and target schemas do not fit together (found before any row moved).
    Incompatible,
    /// The target is in a state that forbids this run (another run holds it, it is not
    /// empty, its manifest belongs to another source).
    Conflict,
    /// The run was cancelled; the target is left resumable.
    Cancelled,
    /// A local I/O failure.
    Io,
    /// The blob store refused or failed a request.
    Blob,
    /// A bug: an invariant of the engine did not hold.
    Internal,
}

/// An engine error. Its `Display` is one line naming what is at fault.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    table: Option<String>,
    chunk: Option<u32>,
    sqlstate: Option<String>,
    retryable: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A new error of `kind` with a one-line message.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            table: None,
            chunk: None,
            sqlstate: None,
            retryable: false,
            source: None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    /// Wraps a database error from the source or target side; `what` says what was being
    /// done. Connection losses, serialization failures and deadlocks are retryable.
    pub(crate) fn db(kind: ErrorKind, what: impl fmt::Display, e: tokio_postgres::Error) -> Error {
        let sqlstate = e.code().map(|c| c.code().to_string());
        let retryable = is_retryable_pg(&e);
        let detail = describe_pg(&e);
        Error {
            kind,
            message: format!("{what}: {detail}"),
            table: None,
            chunk: None,
            sqlstate,
            retryable,
            source: Some(Box::new(e)),
        }
    }

    pub(crate) fn with_table(mut self, table: impl fmt::Display) -> Error {
        if self.table.is_none() {
            self.table = Some(table.to_string());
        }
        self
    }

    pub(crate) fn with_chunk(mut self, chunk: u32) -> Error {
        self.chunk = Some(chunk);
        self
    }

    pub(crate) fn retryable(mut self, yes: bool) -> Error {
        self.retryable = yes;
        self
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether trying again (now or after a pause) can succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The table concerned, as `schema.table`, if any.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    /// The chunk concerned, if any.
    pub fn chunk(&self) -> Option<u32> {
        self.chunk
    }

    /// The SQLSTATE the server sent, if the error came from a server.
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = one_line(&self.message);
        match (&self.table, self.chunk) {
            (Some(t), Some(c)) => write!(f, "{} (chunk {c}): {message}", one_line(t)),
            (Some(t), None) if !self.message.contains(t.as_str()) => {
                write!(f, "{}: {message}", one_line(t))
            }
            _ => f.write_str(&message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, e.to_string())
    }
}

/// Result with the engine's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One line for a tokio-postgres error: the server's message (and detail) or the client's.
fn describe_pg(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(": ");
            s.push_str(d);
        }
        return one_line(&s);
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    one_line(&s)
}

/// `s` on one line: runs of whitespace (newlines too) become one space and other control
/// characters are escaped, so that an error stays one line whatever text it quotes.
fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether a tokio-postgres error is worth retrying: the connection broke, or the server
/// reported a transient condition (serialization failure, deadlock, too many connections,
/// shutdown in progress, DSQL's optimistic-concurrency codes).
pub(crate) fn is_retryable_pg(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            matches!(
                c,
                "40001"
                    | "40P01"
                    | "53300"
                    | "57P01"
                    | "57P02"
                    | "57P03"
                    | "08000"
                    | "08003"
                    | "08006"
                    | "08001"
                    | "08004"
                    | "OC000"
                    | "OC001"
            )
        }
        // No SQLSTATE: an I/O or protocol-level failure of the connection.
        None => e.as_db_error().is_none(),
    }
}
