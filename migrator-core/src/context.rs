//! What every stage of a migration shares: both endpoints, the configuration, the target
//! profile's rules, and the one way each kind of session is opened.

use tokio_postgres::Client;

use crate::config::{Config, Profile};
use crate::conn::{Endpoint, Side};
use crate::error::{Error, ErrorKind, Result};
use crate::target::Rules;

/// Settings for every source session: nothing times out under a long COPY or a snapshot
/// held for the whole run.
const SOURCE_SETUP: &str = "SET statement_timeout = 0; SET lock_timeout = 0; \
     SET idle_in_transaction_session_timeout = 0";

/// What a target session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Reading, manifest bookkeeping.
    Plain,
    /// Writing rows.
    Writer,
    /// Running DDL.
    Ddl,
    /// Reading rows to compare them as text with the source's (canonical output).
    Compare,
}

pub(crate) struct Ctx {
    pub source: Endpoint,
    pub target: Endpoint,
    pub config: Config,
    pub profile: Profile,
    pub rules: Rules,
    pub data_only: bool,
    pub restart: bool,
    pub strict: bool,
    /// Spaces out new target sessions where the profile limits their rate.
    pub pace: Option<Pace>,
}

/// Spaces out events to at most `per_second` a second, in the order they ask.
pub(crate) struct Pace {
    interval: std::time::Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pace {
    pub fn new(per_second: u32) -> Pace {
        Pace {
            interval: std::time::Duration::from_secs(1) / per_second.max(1),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for the next free slot.
    pub async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = tokio::time::Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = (*next).max(now) + self.interval;
    }
}

impl Ctx {
    /// The number of workers: `copy.jobs`, else the profile's default, else the CPUs.
    pub fn jobs(&self) -> usize {
        match (self.config.copy.jobs, self.rules.default_jobs) {
            (Some(j), _) | (None, Some(j)) => j,
            (None, None) => self.config.jobs(),
        }
    }

    /// A source session.
    pub async fn source_session(&self) -> Result<Client> {
        let c = self.source.connect(Side::Source).await?;
        c.batch_execute(SOURCE_SETUP)
            .await
            .map_err(|e| Error::db(ErrorKind::Source, "source session setup", e))?;
        Ok(c)
    }

    /// A source session in the canonical output format (values print as a target session
    /// for [`Purpose::Compare`] prints them).
    pub async fn source_compare_session(&self) -> Result<Client> {
        let c = self.source_session().await?;
        c.batch_execute(crate::conn::CANONICAL_FORMAT)
            .await
            .map_err(|e| Error::db(ErrorKind::Source, "source session setup", e))?;
        Ok(c)
    }

    /// A target session set up for `purpose` under the profile's rules.
    pub async fn target_session(&self, purpose: Purpose) -> Result<Client> {
        if let Some(p) = &self.pace {
            p.wait().await;
        }
        let c = self.target.connect(Side::Target).await?;
        let extra = match purpose {
            Purpose::Plain => "",
            Purpose::Writer => self.rules.writer_setup,
            Purpose::Ddl => self.rules.ddl_setup,
            Purpose::Compare => self.rules.compare_setup,
        };
        let setup: Vec<&str> = [self.rules.session_setup, extra]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if !setup.is_empty() {
            c.batch_execute(&setup.join("; "))
                .await
                .map_err(|e| Error::db(ErrorKind::Target, "target session setup", e))?;
        }
        Ok(c)
    }
}
