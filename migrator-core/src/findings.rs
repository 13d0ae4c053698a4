//! Compatibility findings: what a plan found about the source and the target (an object
//! the target cannot hold, a mapping, a value over a limit) and how serious it is. Every
//! stage that reads the schemas reports them; the plan lists them.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; nothing is lost.
    Info,
    /// Something is mapped, skipped or changed; the run goes on.
    Warning,
    /// The run cannot go ahead until this is fixed.
    Error,
}

/// A compatibility finding: what is at fault and what will be done about it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub(crate) severity: Severity,
    pub(crate) object: String,
    pub(crate) message: String,
}

impl Finding {
    pub(crate) fn new(
        severity: Severity,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            object: object.into(),
            message: message.into(),
        }
    }
    /// Severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// The object concerned (`schema.table`, `extension x`, ...).
    pub fn object(&self) -> &str {
        &self.object
    }
    /// What was found and what will be done.
    pub fn message(&self) -> &str {
        &self.message
    }
}
