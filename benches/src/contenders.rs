//! The contenders, how each one's target is prepared before the clock starts, the one
//! command that is timed, and the check that its result is right before its time counts.
//!
//! Scenario A (data only): the target database is created fresh, then gets the source's
//! `pg_dump --schema-only --section=pre-data` (tables, sequences, defaults) plus the primary
//! keys (which `pg_dump` puts in post-data, so they are added from the source catalog). No
//! secondary indexes, no foreign keys. Only the data movement is timed.
//!
//! Scenario B (whole migration): the target database is created fresh and empty; schema,
//! data, indexes, constraints and sequence values are all timed.
//!
//! Every pipeline runs as one `bash -c` child with `set -o pipefail`, so a failure anywhere
//! in it fails the run.

use std::path::{Path, PathBuf};
use std::process::Command;

use fixtures::Cluster;

use crate::dataset;

/// Which comparison a contender belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A: data into existing tables.
    DataOnly,
    /// B: whole migration into an empty database.
    Full,
}

/// What runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `migrator copy [--data-only] --jobs N`.
    Migrator,
    /// `pg_dump [--data-only] | psql`.
    DumpPsql,
    /// Per table `psql COPY TO STDOUT (binary) | psql COPY FROM STDIN (binary)`, N tables
    /// at a time.
    RawPipe,
    /// `pg_dump -Fd -j N` then `pg_restore -j N`.
    DumpRestoreDir,
    /// `pgcopydb clone`.
    Pgcopydb,
}

/// One contender.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Short stable key for logs and JSON.
    pub key: &'static str,
    /// What the report calls it.
    pub label: String,
    pub scenario: Scenario,
    pub tool: Tool,
    /// The contender the others of its scenario are compared to.
    pub baseline: bool,
    /// `Some(reason)` when it cannot run on this machine (reported, never timed).
    pub unavailable: Option<String>,
}

/// The contenders, in the order every round runs them.
pub fn all(jobs: usize, pgcopydb: Option<&Path>) -> Vec<Contender> {
    let c = |key, label: String, scenario, tool, baseline| Contender {
        key,
        label,
        scenario,
        tool,
        baseline,
        unavailable: None,
    };
    vec![
        c(
            "a-migrator",
            format!("migrator copy --data-only --jobs {jobs}"),
            Scenario::DataOnly,
            Tool::Migrator,
            false,
        ),
        c(
            "a-dump-psql",
            "pg_dump --data-only | psql".into(),
            Scenario::DataOnly,
            Tool::DumpPsql,
            false,
        ),
        c(
            "a-raw-pipe",
            format!("raw binary COPY pipe, {jobs} tables at a time"),
            Scenario::DataOnly,
            Tool::RawPipe,
            true,
        ),
        c(
            "b-migrator",
            format!("migrator copy --jobs {jobs}"),
            Scenario::Full,
            Tool::Migrator,
            false,
        ),
        c(
            "b-dump-psql",
            "pg_dump | psql".into(),
            Scenario::Full,
            Tool::DumpPsql,
            true,
        ),
        c(
            "b-dump-restore",
            format!("pg_dump -Fd -j {jobs} + pg_restore -j {jobs}"),
            Scenario::Full,
            Tool::DumpRestoreDir,
            false,
        ),
        Contender {
            unavailable: match pgcopydb {
                Some(_) => None,
                None => Some("not installed (`which pgcopydb` found nothing)".into()),
            },
            ..c(
                "b-pgcopydb",
                format!("pgcopydb clone --table-jobs {jobs} --index-jobs {jobs}"),
                Scenario::Full,
                Tool::Pgcopydb,
                false,
            )
        },
    ]
}

/// Everything a contender's command and checks need.
pub struct Bench<'a> {
    pub source: &'a Cluster,
    pub target: &'a Cluster,
    pub source_db: &'a str,
    pub target_db: &'a str,
    pub jobs: usize,
    pub migrator: &'a Path,
    pub pgcopydb: Option<&'a Path>,
    /// Scratch files: the pre-data dump, scripts, logs, dump directories.
    pub work: &'a Path,
    /// Source tables, largest first.
    pub tables: &'a [dataset::TableStat],
}

/// Single-quotes `s` for bash.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Bench<'_> {
    fn bin(&self, cluster: &Cluster, name: &str) -> String {
        sq(&cluster.bindir().join(name).to_string_lossy())
    }

    fn src_url(&self) -> String {
        self.source.url(self.source_db)
    }

    fn tgt_url(&self) -> String {
        self.target.url(self.target_db)
    }

    fn predata_file(&self) -> PathBuf {
        self.work.join("pre-data.sql")
    }

    fn pkeys_file(&self) -> PathBuf {
        self.work.join("primary-keys.sql")
    }

    fn dump_dir(&self) -> PathBuf {
        self.work.join("dump-dir")
    }

    fn pgcopydb_dir(&self) -> PathBuf {
        self.work.join("pgcopydb-dir")
    }

    /// Writes the scenario-A schema files: the source's pre-data section and its primary
    /// keys. Done once, untimed.
    pub fn write_schema_files(&self) -> Result<(), String> {
        let status = self
            .source
            .bin("pg_dump")
            .args(["--schema-only", "--section=pre-data", "-f"])
            .arg(self.predata_file())
            .arg("-d")
            .arg(self.src_url())
            .status()
            .map_err(|e| format!("running pg_dump --section=pre-data: {e}"))?;
        if !status.success() {
            return Err(format!("pg_dump --section=pre-data failed: {status}"));
        }
        let pkeys = self
            .source
            .psql(
                self.source_db,
                "SELECT format('ALTER TABLE ONLY %s ADD CONSTRAINT %I %s;', \
                        conrelid::regclass, conname, pg_get_constraintdef(oid)) \
                   FROM pg_constraint \
                  WHERE contype = 'p' AND connamespace = 'public'::regnamespace \
                  ORDER BY 1",
            )
            .map_err(|e| format!("reading the source's primary keys: {e}"))?;
        std::fs::write(self.pkeys_file(), pkeys)
            .map_err(|e| format!("writing {}: {e}", self.pkeys_file().display()))
    }

    /// Gives `c` a fresh target (and, for scenario A, the schema it loads into), removes
    /// leftovers of earlier runs, and checkpoints both servers so no run inherits another's
    /// dirty buffers. Untimed.
    pub fn prepare(&self, c: &Contender) -> Result<(), String> {
        let db = self.target_db;
        self.target
            .psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            )
            .map_err(|e| format!("dropping the target database: {e}"))?;
        self.target
            .psql(
                "postgres",
                &format!("CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8'"),
            )
            .map_err(|e| format!("creating the target database: {e}"))?;
        if c.scenario == Scenario::DataOnly {
            self.target
                .psql_file(db, &self.predata_file())
                .map_err(|e| format!("restoring the pre-data schema: {e}"))?;
            self.target
                .psql_file(db, &self.pkeys_file())
                .map_err(|e| format!("adding the primary keys: {e}"))?;
        }
        for dir in [self.dump_dir(), self.pgcopydb_dir()] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("removing {}: {e}", dir.display()))?;
            }
        }
        for cluster in [self.source, self.target] {
            cluster
                .psql("postgres", "CHECKPOINT")
                .map_err(|e| format!("CHECKPOINT: {e}"))?;
        }
        Ok(())
    }

    /// The single child process that is timed for `c`.
    pub fn command(&self, c: &Contender) -> Result<Command, String> {
        let jobs = self.jobs.to_string();
        let (src, tgt) = (self.src_url(), self.tgt_url());
        let psql = |cluster| format!("{} -X -q -v ON_ERROR_STOP=1", self.bin(cluster, "psql"));
        let bash = |script: String| {
            let mut cmd = Command::new("bash");
            cmd.arg("-c").arg(format!("set -euo pipefail\n{script}"));
            cmd
        };
        Ok(match c.tool {
            Tool::Migrator => {
                let mut cmd = Command::new(self.migrator);
                cmd.args(["copy", "--source", &src, "--target", &tgt, "--jobs", &jobs]);
                if c.scenario == Scenario::DataOnly {
                    cmd.arg("--data-only");
                }
                cmd
            }
            Tool::DumpPsql => {
                let data_only = if c.scenario == Scenario::DataOnly {
                    "--data-only "
                } else {
                    ""
                };
                bash(format!(
                    "{} {data_only}-d {} | {} -d {}",
                    self.bin(self.source, "pg_dump"),
                    sq(&src),
                    psql(self.target),
                    sq(&tgt)
                ))
            }
            Tool::RawPipe => {
                let one = self.work.join("pipe-one-table.sh");
                let script = format!(
                    "set -euo pipefail\n\
                     {} -d {} -c \"COPY $1 TO STDOUT (FORMAT binary)\" \
                     | {} -d {} -c \"COPY $1 FROM STDIN (FORMAT binary)\"\n",
                    psql(self.source),
                    sq(&src),
                    psql(self.target),
                    sq(&tgt)
                );
                std::fs::write(&one, script)
                    .map_err(|e| format!("writing {}: {e}", one.display()))?;
                // Largest table first, so the longest stream starts at once.
                let list = self.work.join("tables.txt");
                let names: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
                std::fs::write(&list, names.join("\n") + "\n")
                    .map_err(|e| format!("writing {}: {e}", list.display()))?;
                bash(format!(
                    "xargs -a {} -d '\\n' -n 1 -P {jobs} bash {}",
                    sq(&list.to_string_lossy()),
                    sq(&one.to_string_lossy())
                ))
            }
            Tool::DumpRestoreDir => {
                let dir = sq(&self.dump_dir().to_string_lossy());
                // Phase boundaries go to the log (bash builtins only, so nothing extra is
                // timed); `phase_note` turns them into a note after the run.
                bash(format!(
                    "t0=$EPOCHREALTIME\n\
                     {} -Fd -j {jobs} -f {dir} -d {}\n\
                     t1=$EPOCHREALTIME\n\
                     {} -j {jobs} -d {} {dir}\n\
                     echo \"phases: $t0 $t1 $EPOCHREALTIME\"",
                    self.bin(self.source, "pg_dump"),
                    sq(&src),
                    self.bin(self.target, "pg_restore"),
                    sq(&tgt)
                ))
            }
            Tool::Pgcopydb => {
                let bin = self
                    .pgcopydb
                    .ok_or_else(|| "pgcopydb is not installed".to_string())?;
                let mut cmd = Command::new(bin);
                cmd.args([
                    "clone",
                    "--source",
                    &src,
                    "--target",
                    &tgt,
                    "--table-jobs",
                    &jobs,
                    "--index-jobs",
                    &jobs,
                    "--dir",
                ])
                .arg(self.pgcopydb_dir());
                cmd
            }
        })
    }

    /// For `pg_dump -Fd + pg_restore`: how the time split between the two and how big the
    /// dump directory was, from the run's log and the directory itself. Untimed.
    pub fn phase_note(&self, c: &Contender, log: &Path) -> Option<String> {
        if c.tool != Tool::DumpRestoreDir {
            return None;
        }
        let text = std::fs::read_to_string(log).ok()?;
        let line = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("phases: "))?;
        let t: Vec<f64> = line
            .split_whitespace()
            .filter_map(|v| v.replace(',', ".").parse().ok())
            .collect();
        if t.len() != 3 {
            return None;
        }
        let mib = dir_size(&self.dump_dir()) as f64 / 1024.0 / 1024.0;
        Some(format!(
            "pg_dump {:.1} s + pg_restore {:.1} s; dump directory {mib:.0} MiB",
            t[1] - t[0],
            t[2] - t[1]
        ))
    }

    /// Checks `c`'s result: every source table has the same row count in the target and,
    /// for a whole migration, the same indexes, constraints and sequences.
    pub fn check(&self, c: &Contender) -> Result<(), String> {
        let names: Vec<String> = self.tables.iter().map(|t| t.name.clone()).collect();
        let counts = dataset::row_counts(self.target, self.target_db, &names)
            .map_err(|e| format!("counting target rows: {e}"))?;
        let mut wrong = Vec::new();
        for t in self.tables {
            match counts.iter().find(|(n, _)| *n == t.name) {
                Some((_, n)) if *n == t.rows => {}
                Some((_, n)) => wrong.push(format!("{}: {n} rows, source has {}", t.name, t.rows)),
                None => wrong.push(format!("{}: not counted", t.name)),
            }
        }
        if c.scenario == Scenario::Full {
            let src = schema_objects(self.source, self.source_db)?;
            let tgt = schema_objects(self.target, self.target_db)?;
            for (what, n) in &src {
                match tgt.iter().find(|(w, _)| w == what) {
                    Some((_, m)) if m == n => {}
                    Some((_, m)) => wrong.push(format!("{what}: {m} in target, {n} in source")),
                    None => wrong.push(format!("{what}: missing in target")),
                }
            }
            for (what, m) in &tgt {
                if !src.iter().any(|(w, _)| w == what) {
                    wrong.push(format!("{what}: {m} in target, none in source"));
                }
            }
            wrong.extend(sequence_problems(self)?);
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}

/// Total size of the files directly in `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Counts of valid indexes (by table, unique or not) and of validated constraints (by
/// table and type) in the `public` schema.
fn schema_objects(cluster: &Cluster, db: &str) -> Result<Vec<(String, u64)>, String> {
    let out = cluster
        .psql(
            db,
            "SELECT 'indexes on ' || i.indrelid::regclass::text || \
                    CASE WHEN i.indisunique THEN ' (unique)' ELSE '' END, count(*) \
               FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
              WHERE c.relnamespace = 'public'::regnamespace AND i.indisvalid \
              GROUP BY 1 \
             UNION ALL \
             SELECT 'constraints ' || contype::text || ' on ' || conrelid::regclass::text, count(*) \
               FROM pg_constraint \
              WHERE connamespace = 'public'::regnamespace AND convalidated \
              GROUP BY 1",
        )
        .map_err(|e| format!("reading schema objects: {e}"))?;
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (what, n) = l
                .rsplit_once('|')
                .ok_or_else(|| format!("unexpected row: {l}"))?;
            Ok((
                what.to_string(),
                n.parse().map_err(|_| format!("unexpected row: {l}"))?,
            ))
        })
        .collect()
}

/// Every source sequence must exist in the target and not hand out a value the source
/// already used (the target's next value is at least the source's).
fn sequence_problems(b: &Bench) -> Result<Vec<String>, String> {
    let q = "SELECT schemaname || '.' || sequencename, \
                    coalesce(last_value + increment_by, start_value) \
               FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1";
    let read = |cluster: &Cluster, db: &str| -> Result<Vec<(String, i64)>, String> {
        let out = cluster
            .psql(db, q)
            .map_err(|e| format!("reading sequences: {e}"))?;
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (s, v) = l
                    .rsplit_once('|')
                    .ok_or_else(|| format!("unexpected row: {l}"))?;
                Ok((
                    s.to_string(),
                    v.parse().map_err(|_| format!("unexpected row: {l}"))?,
                ))
            })
            .collect()
    };
    let src = read(b.source, b.source_db)?;
    let tgt = read(b.target, b.target_db)?;
    let mut wrong = Vec::new();
    for (s, next) in &src {
        match tgt.iter().find(|(t, _)| t == s) {
            Some((_, n)) if n >= next => {}
            Some((_, n)) => wrong.push(format!("sequence {s}: next value {n}, source's is {next}")),
            None => wrong.push(format!("sequence {s}: missing in target")),
        }
    }
    Ok(wrong)
}
