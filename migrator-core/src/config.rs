//! The run's configuration: a plain struct that serde reads from TOML (the `--config` file);
//! per-table settings live here, flags cover the rest.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything a migration can be told, beyond the two URLs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The target and its profile.
    pub target: TargetConfig,
    /// Which tables (and the objects in their schemas) move.
    pub tables: TableSelection,
    /// How the data is copied.
    pub copy: CopyConfig,
}

/// `[target]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TargetConfig {
    /// The target profile; default: `dsql` for a `*.dsql.<region>.on.aws` host, else
    /// `postgres`.
    pub profile: Option<Profile>,
}

/// A target profile: which rules and which write path the target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Profile {
    /// Amazon RDS for PostgreSQL, Aurora PostgreSQL, or any PostgreSQL.
    Postgres,
    /// Amazon Aurora DSQL.
    Dsql,
}

impl Profile {
    /// The profile's name as written in config and flags.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Postgres => "postgres",
            Profile::Dsql => "dsql",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Profile> {
        match s {
            "postgres" => Ok(Profile::Postgres),
            "dsql" => Ok(Profile::Dsql),
            other => Err(Error::config(format!(
                "unknown profile '{other}' (expected postgres or dsql)"
            ))),
        }
    }
}

/// `[tables]`: glob patterns over `schema.table` (`*` matches within a name part).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TableSelection {
    /// Tables to move; empty means every table of every non-system schema.
    pub include: Vec<String>,
    /// Tables to leave out, applied after `include`.
    pub exclude: Vec<String>,
}

/// `[copy]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CopyConfig {
    /// Parallel workers (connections to each side); default: the number of CPUs.
    pub jobs: Option<usize>,
    /// Tables larger than this are cut into chunks of about this size, in MiB.
    pub chunk_mib: u64,
    /// Bytes buffered per worker between reading and writing, in KiB.
    pub buffer_kib: usize,
}

impl Default for CopyConfig {
    fn default() -> Self {
        CopyConfig {
            jobs: None,
            chunk_mib: 128,
            buffer_kib: 256,
        }
    }
}

impl Config {
    /// Reads a config from TOML text; any unknown key or wrong type is an error naming it.
    pub fn from_toml(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().replace('\n', " ");
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            Error::config(format!("config: {msg}{at}"))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a config file.
    pub fn from_file(path: &std::path::Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Config::from_toml(&text).map_err(|e| {
            Error::config(format!(
                "{}: {}",
                path.display(),
                e.to_string().trim_start_matches("config: ")
            ))
        })
    }

    /// Checks values serde cannot check.
    pub fn validate(&self) -> Result<()> {
        if self.copy.jobs == Some(0) {
            return Err(Error::config("copy.jobs must be at least 1"));
        }
        if self.copy.chunk_mib == 0 {
            return Err(Error::config("copy.chunk_mib must be at least 1"));
        }
        if self.copy.buffer_kib < 8 {
            return Err(Error::config("copy.buffer_kib must be at least 8"));
        }
        for p in self.tables.include.iter().chain(&self.tables.exclude) {
            crate::catalog::TableFilter::check_pattern(p)?;
        }
        Ok(())
    }

    /// The number of workers: `copy.jobs`, else the number of CPUs.
    pub fn jobs(&self) -> usize {
        self.copy.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml() {
        let c = Config::from_toml(
            "[target]\nprofile = \"postgres\"\n[tables]\ninclude = [\"public.*\"]\n[copy]\njobs = 3\n",
        )
        .unwrap();
        assert_eq!(c.target.profile, Some(Profile::Postgres));
        assert_eq!(c.tables.include, vec!["public.*"]);
        assert_eq!(c.jobs(), 3);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_toml("[copy]\njbos = 3\n").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("jbos"), "{s}");
        assert!(s.contains("line 2"), "{s}");
        assert_eq!(e.kind(), crate::ErrorKind::Config);
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Config::from_toml("[copy]\njobs = \"four\"\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
