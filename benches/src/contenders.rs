//! The contenders, how each one's target is prepared before the clock starts, the one
//! command that is timed, and the check that its result is right before its time counts.
//!
//! Scenario A (data only): the target database is created fresh, then gets the source's
//! `pg_dump --schema-only --section=pre-data` (tables, sequences, defaults) plus the primary
//! keys (which `pg_dump` puts in post-data, so they are added from the source catalog). No
//! secondary indexes, no foreign keys. Only the data movement is timed. migrator runs twice:
//! as configured by default (it also runs `ANALYZE` on each table it loaded, which the other
//! contenders do not), and with [`NO_ANALYZE`], which leaves that out so that it does the
//! same work as the raw pipe (issue 7's goal against the pipe is judged on that one).
//!
//! Scenario B (whole migration): the target database is created fresh and empty; schema,
//! data, indexes, constraints and sequence values are all timed.
//!
//! Scenario C (onto Aurora DSQL): the target is the DSQL emulator from `fixtures::dsql`
//! (era 2026, no injected commit failures), started fresh on the target cluster before each
//! run: a proxy in this process in front of a new database. Every contender is `migrator
//! copy` (whole migration); they differ in profile, key strategy, write path and batch size,
//! so that their differences are the costs the DSQL path adds. The emulator's own record of
//! every transaction gives each run's transaction count and largest transaction.
//!
//! Scenario E (final sync): the source is a fresh copy of the generated database
//! (`CREATE DATABASE ... TEMPLATE`) for every run. The whole migration is timed with and
//! without chunk fingerprints; for `migrator sync`, the copy runs untimed, then a workload
//! changes 1% of every table's rows (0.5% updated, 0.25% deleted, 0.25% inserted past the
//! end) and only the sync is timed; it counts if `verify --checksums` is clean afterwards.
//!
//! Scenario F (verification): the target gets an untimed `migrator copy`; then a plain
//! `count(*)` of every table on both sides, `migrator verify` (counts) and `migrator verify
//! --checksums` (every row) are timed.
//!
//! Scenario G (scaling with `--jobs`): `migrator copy` at each of [`CURVE_JOBS`] jobs, of the
//! whole database exactly as B's migrator contender, and of [`CURVE_TABLE`] alone (the
//! largest table, which migrator cuts into key-range chunks), selected with a config file
//! `[tables] include`. migrator leaves out that table's foreign key to a table it does not
//! copy (with a warning), so the single-table check compares only the indexes, constraints
//! and sequences that belong to the table and reference nothing outside it.
//!
//! Scenario H (engine limits): the source is a database of its own ([`dataset::generate_limits`])
//! with a table of 10 M narrow rows and a table of one 500 MiB value. Every contender copies
//! one of them, as `only`, into a fresh target database: `migrator copy --jobs`
//! [`LIMIT_JOBS`], selected with a config file `[tables] include`, and `pg_dump -t | psql`
//! for comparison. A run counts if the target has the source's row count and, for the value,
//! the same `md5` of it.
//!
//! Every pipeline runs as one `bash -c` child with `set -o pipefail`, so a failure anywhere
//! in it fails the run.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;

use fixtures::Cluster;
use fixtures::dsql::{DsqlOptions, Emulator, Era};

use crate::dataset;

/// Scenario E's change to the source between the copy and the sync: 1% of every table's
/// rows either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Spread evenly over the whole key range: every chunk changes.
    Spread,
    /// On the newest rows, as an application's writes usually are.
    Recent,
}

impl Workload {
    fn sql(self) -> &'static str {
        match self {
            Workload::Spread => SYNC_SPREAD,
            Workload::Recent => SYNC_RECENT,
        }
    }
}

/// Which comparison a contender belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A: data into existing tables.
    DataOnly,
    /// B: whole migration into an empty database.
    Full,
    /// C: whole migration onto (emulated) Aurora DSQL.
    Dsql,
    /// D: a table of 1 MiB files, its values kept in the rows or moved to a blob store.
    Blobs,
    /// E: bringing a copied target up to date after 1% of the rows changed.
    Sync,
    /// F: checking a copied target, by counts and row by row.
    Verify,
    /// G: the whole migration and the largest table alone, at each of [`CURVE_JOBS`] jobs.
    JobsCurve,
    /// H: peak RSS on a table of 10 M narrow rows and on a table of one 500 MiB value.
    Limits,
    /// I: the DSQL profile's rows/s at each of [`LATENCY_MS`] of commit latency and each of
    /// [`LATENCY_JOBS`] jobs.
    DsqlLatency,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 9] = [
        Scenario::DataOnly,
        Scenario::Full,
        Scenario::Dsql,
        Scenario::Blobs,
        Scenario::Sync,
        Scenario::Verify,
        Scenario::JobsCurve,
        Scenario::Limits,
        Scenario::DsqlLatency,
    ];

    /// Its letter (`A` to `I`), as the report and `--scenarios` name it.
    pub fn letter(self) -> char {
        match self {
            Scenario::DataOnly => 'A',
            Scenario::Full => 'B',
            Scenario::Dsql => 'C',
            Scenario::Blobs => 'D',
            Scenario::Sync => 'E',
            Scenario::Verify => 'F',
            Scenario::JobsCurve => 'G',
            Scenario::Limits => 'H',
            Scenario::DsqlLatency => 'I',
        }
    }

    /// Whether it runs at the first scale only: its source is a database of its own, which
    /// does not depend on the scale (D, H).
    pub fn first_scale_only(self) -> bool {
        matches!(self, Scenario::Blobs | Scenario::Limits)
    }
}

/// Where scenario D's values go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobTarget {
    /// Stay in the target rows (no `[blobs]`).
    Inline,
    /// An S3-protocol server on this machine (`fixtures::s3`), through `aws-sdk-s3`.
    S3,
    /// A local directory.
    Directory,
}

/// Workers for scenario D (the issue asks for the peak RSS at 4).
pub const BLOB_JOBS: usize = 4;

/// Workers for scenario H's `migrator copy` (its bound for the narrow table is stated
/// against the whole migration at 2 jobs).
pub const LIMIT_JOBS: usize = 2;

/// Scenario I's commit latencies, in milliseconds: none, and what a commit waiting for a
/// quorum across availability zones (5 ms) or across Regions (20 ms) may take.
pub const LATENCY_MS: [u64; 3] = [0, 5, 20];

/// Scenario I's job counts.
pub const LATENCY_JOBS: [usize; 4] = [2, 8, 32, 64];

/// Scenario I's config: chunks of 1 MiB, so that every table has enough chunks for 64
/// workers at every scale (with the default 128 MiB, a 100 MB dataset has a handful of
/// chunks and more workers have nothing to take).
pub const LATENCY_CONFIG: &str = "[copy]\nchunk_mib = 1\n";

/// Scenario G's job counts, smallest first (speed-ups are against the first).
pub const CURVE_JOBS: [usize; 3] = [1, 2, 4];

/// Scenario A's config for migrator without its `ANALYZE` of each loaded table (statistics
/// left to autovacuum): the same work as the raw binary COPY pipe.
pub const NO_ANALYZE: &str = "[copy]\nanalyze = false\n";

/// Scenario G's single table: the dataset's largest (about half its bytes at every scale),
/// which migrator cuts into key-range chunks of about `copy.chunk_mib`.
pub const CURVE_TABLE: &str = "documents";

/// How a scenario-C contender runs against the emulator.
#[derive(Debug, Clone)]
pub struct Emulated {
    /// Whether the emulator enforces DSQL's rules (off: it passes everything through).
    pub rules: bool,
    /// `--profile`.
    pub profile: &'static str,
    /// The config file given with `--config` (TOML; empty for none).
    pub config: &'static str,
    /// Each commit of a transaction that wrote waits this long (scenario I).
    pub latency_ms: u64,
}

/// What the emulator recorded during one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Committed transactions that modified rows.
    pub write_txns: u64,
    /// The most rows one of them modified.
    pub max_rows: u64,
    /// The most bytes of modified data one of them sent.
    pub max_bytes: u64,
    /// Committed transactions that ran DDL.
    pub ddl_txns: u64,
    /// Transactions that mixed DDL and DML, or ran more than one DDL statement.
    pub mixed: u64,
    /// Transactions the emulator refused (any error), retried or not.
    pub refused: u64,
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
    /// `migrator sync --jobs N` (after an untimed copy and a workload).
    MigratorSync(Workload),
    /// `migrator verify [--checksums]` (after an untimed copy).
    MigratorVerify { checksums: bool },
    /// `SELECT count(*)` of every table on both sides, N at a time.
    CountStar,
}

/// One contender.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Short stable key for logs and JSON.
    pub key: String,
    /// What the report calls it.
    pub label: String,
    pub scenario: Scenario,
    pub tool: Tool,
    /// The contender the others of its scenario are compared to.
    pub baseline: bool,
    /// `Some(reason)` when it cannot run on this machine (reported, never timed).
    pub unavailable: Option<String>,
    /// Scenario C: how it runs against the DSQL emulator.
    pub emulated: Option<Emulated>,
    /// Scenario D: where the values go.
    pub blobs: Option<BlobTarget>,
    /// A config file for `migrator` (TOML; empty for none); see [`Contender::config_toml`].
    pub config: &'static str,
    /// Its own job count instead of `--jobs` (scenarios D, G and H).
    pub jobs: Option<usize>,
    /// The one table it copies (scenarios G and H), selected with `[tables] include` or
    /// `pg_dump -t`; `None`: all. Its rates and its check are about that table alone.
    pub only: Option<&'static str>,
}

impl Contender {
    /// Whether it moves `table` (a name as [`dataset::TableStat`] has it).
    pub fn moves(&self, table: &str) -> bool {
        self.only.is_none_or(|t| t == table)
    }

    /// The config file `migrator` gets with `--config` (empty: none): `config`, and the
    /// table selection of a single-table contender.
    pub fn config_toml(&self) -> String {
        match self.only {
            None => self.config.to_string(),
            Some(t) => format!("{}[tables]\ninclude = [\"public.{t}\"]\n", self.config),
        }
    }
}

/// The contenders, in the order every round runs them.
pub fn all(jobs: usize, pgcopydb: Option<&Path>) -> Vec<Contender> {
    let c = |key: &str, label: String, scenario, tool, baseline| Contender {
        key: key.to_string(),
        label,
        scenario,
        tool,
        baseline,
        unavailable: None,
        emulated: None,
        blobs: None,
        config: "",
        jobs: None,
        only: None,
    };
    let blob = |key, label: &str, baseline, target| Contender {
        blobs: Some(target),
        jobs: Some(BLOB_JOBS),
        ..c(
            key,
            format!("migrator copy --jobs {BLOB_JOBS}, {label}"),
            Scenario::Blobs,
            Tool::Migrator,
            baseline,
        )
    };
    let dsql = |key, label: &str, baseline, emulated| Contender {
        emulated: Some(emulated),
        ..c(
            key,
            format!("migrator copy --jobs {jobs}, {label}"),
            Scenario::Dsql,
            Tool::Migrator,
            baseline,
        )
    };
    let keep_copy = "[keys]\nstrategy = \"keep\"\n[dsql]\nwrite = \"copy\"\n";
    let whole = CURVE_JOBS.iter().map(|&j| Contender {
        jobs: Some(j),
        ..c(
            &format!("g-migrator-j{j}"),
            format!("migrator copy --jobs {j}"),
            Scenario::JobsCurve,
            Tool::Migrator,
            j == CURVE_JOBS[0],
        )
    });
    let single = CURVE_JOBS.iter().map(|&j| Contender {
        jobs: Some(j),
        only: Some(CURVE_TABLE),
        ..c(
            &format!("g-table-j{j}"),
            format!("migrator copy --jobs {j}, table {CURVE_TABLE} only"),
            Scenario::JobsCurve,
            Tool::Migrator,
            false,
        )
    });
    let limits = [dataset::LIMIT_ROWS_TABLE, dataset::LIMIT_VALUE_TABLE]
        .into_iter()
        .flat_map(|t| {
            [
                Contender {
                    jobs: Some(LIMIT_JOBS),
                    only: Some(t),
                    ..c(
                        &format!("h-{t}-migrator"),
                        format!("migrator copy --jobs {LIMIT_JOBS}, table {t} only"),
                        Scenario::Limits,
                        Tool::Migrator,
                        false,
                    )
                },
                Contender {
                    only: Some(t),
                    ..c(
                        &format!("h-{t}-dump-psql"),
                        format!("pg_dump -t {t} | psql"),
                        Scenario::Limits,
                        Tool::DumpPsql,
                        true,
                    )
                },
            ]
        });
    let latency = LATENCY_MS.iter().flat_map(|&ms| {
        LATENCY_JOBS.iter().map(move |&j| Contender {
            jobs: Some(j),
            emulated: Some(Emulated {
                rules: true,
                profile: "dsql",
                config: LATENCY_CONFIG,
                latency_ms: ms,
            }),
            ..c(
                &format!("i-dsql-{ms}ms-j{j}"),
                format!("migrator copy --jobs {j}, dsql profile, {ms} ms a commit"),
                Scenario::DsqlLatency,
                Tool::Migrator,
                ms == LATENCY_MS[0] && j == LATENCY_JOBS[0],
            )
        })
    });
    let mut all = vec![
        c(
            "a-migrator",
            format!("migrator copy --data-only --jobs {jobs}"),
            Scenario::DataOnly,
            Tool::Migrator,
            false,
        ),
        Contender {
            config: NO_ANALYZE,
            ..c(
                "a-migrator-noanalyze",
                format!("migrator copy --data-only --jobs {jobs}, analyze = false"),
                Scenario::DataOnly,
                Tool::Migrator,
                false,
            )
        },
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
        dsql(
            "c-pg-proxy",
            "postgres profile, through the emulator with its rules off",
            true,
            Emulated {
                rules: false,
                profile: "postgres",
                config: "",
                latency_ms: 0,
            },
        ),
        dsql(
            "c-dsql-copy",
            "dsql profile, keys keep, COPY batches",
            false,
            Emulated {
                rules: true,
                profile: "dsql",
                config: keep_copy,
                latency_ms: 0,
            },
        ),
        dsql(
            "c-dsql-insert",
            "dsql profile, keys keep, multi-row INSERT batches",
            false,
            Emulated {
                rules: true,
                profile: "dsql",
                config: "[keys]\nstrategy = \"keep\"\n[dsql]\nwrite = \"insert\"\n",
                latency_ms: 0,
            },
        ),
        dsql(
            "c-dsql-uuid",
            "dsql profile, keys uuid, COPY batches",
            false,
            Emulated {
                rules: true,
                profile: "dsql",
                config: "[keys]\nstrategy = \"uuid\"\n[dsql]\nwrite = \"copy\"\n",
                latency_ms: 0,
            },
        ),
        dsql(
            "c-dsql-300",
            "dsql profile, keys keep, COPY batches of at most 300 rows",
            false,
            Emulated {
                rules: true,
                profile: "dsql",
                config: "[keys]\nstrategy = \"keep\"\n[dsql]\nwrite = \"copy\"\nmax_rows = 300\n",
                latency_ms: 0,
            },
        ),
        blob(
            "d-inline",
            "values kept in the rows",
            true,
            BlobTarget::Inline,
        ),
        blob(
            "d-s3",
            "values to an S3-protocol server",
            false,
            BlobTarget::S3,
        ),
        blob(
            "d-dir",
            "values to a local directory",
            false,
            BlobTarget::Directory,
        ),
        c(
            "e-copy",
            format!("migrator copy --jobs {jobs} (fingerprints recorded)"),
            Scenario::Sync,
            Tool::Migrator,
            true,
        ),
        Contender {
            config: "[copy]\nfingerprints = false\n",
            ..c(
                "e-copy-nofp",
                format!("migrator copy --jobs {jobs}, copy.fingerprints = false"),
                Scenario::Sync,
                Tool::Migrator,
                false,
            )
        },
        c(
            "e-sync-spread",
            format!("migrator sync --jobs {jobs}, 1% of the rows changed across all keys"),
            Scenario::Sync,
            Tool::MigratorSync(Workload::Spread),
            false,
        ),
        Contender {
            config: "[sync]\nchanges = \"fingerprints\"\n",
            ..c(
                "e-sync-spread-fp",
                format!(
                    "migrator sync --jobs {jobs}, 1% changed across all keys, sync.changes = fingerprints"
                ),
                Scenario::Sync,
                Tool::MigratorSync(Workload::Spread),
                false,
            )
        },
        c(
            "e-sync-recent",
            format!("migrator sync --jobs {jobs}, 1% of the rows changed among the newest"),
            Scenario::Sync,
            Tool::MigratorSync(Workload::Recent),
            false,
        ),
        c(
            "f-count",
            format!("SELECT count(*) of every table on both sides, {jobs} at a time"),
            Scenario::Verify,
            Tool::CountStar,
            true,
        ),
        c(
            "f-verify",
            "migrator verify (counts)".into(),
            Scenario::Verify,
            Tool::MigratorVerify { checksums: false },
            false,
        ),
        c(
            "f-checksums",
            "migrator verify --checksums (every row)".into(),
            Scenario::Verify,
            Tool::MigratorVerify { checksums: true },
            false,
        ),
    ];
    all.extend(whole.chain(single).chain(limits).chain(latency));
    all
}

/// Scenario E's spread workload: 1% of every table's rows change (0.5% updated, 0.25%
/// deleted, 0.25% inserted with new keys past the end), all over the key range;
/// attachments of deleted documents first.
const SYNC_SPREAD: &str = "
UPDATE accounts SET balance_cents = balance_cents + 1 WHERE id % 100 = 3;
UPDATE events SET value = value + 1 WHERE id % 200 = 3;
DELETE FROM events WHERE id % 400 = 7;
INSERT INTO events (account_id, kind, value, occurred_at)
  SELECT account_id, kind, value, occurred_at FROM events WHERE id % 400 = 11;
UPDATE page_views SET duration_ms = duration_ms + 1 WHERE id % 200 = 3;
DELETE FROM page_views WHERE id % 400 = 7;
INSERT INTO page_views (account_id, page_id, duration_ms, viewed_at)
  SELECT account_id, page_id, duration_ms, viewed_at FROM page_views WHERE id % 400 = 11;
UPDATE orders SET shipping_name = shipping_name || '.' WHERE id % 100 = 3;
UPDATE documents SET revision = revision + 1, body = body || ' Edited.' WHERE id % 200 = 3;
DELETE FROM attachments WHERE document_id IN (SELECT id FROM documents WHERE id % 400 = 7);
DELETE FROM documents WHERE id % 400 = 7;
INSERT INTO documents (account_id, title, body, created_at, revision)
  SELECT account_id, title, body, created_at, 1 FROM documents WHERE id % 400 = 11;
UPDATE attachments SET filename = filename || '.bak' WHERE id % 100 = 3;
";

/// Scenario E's recent workload: the same amounts (0.5% updated, 0.25% deleted, 0.25%
/// inserted past the end), among the newest 2% of each table's keys.
const SYNC_RECENT: &str = "
CREATE TEMP TABLE top AS SELECT 'accounts' AS t, max(id) AS m FROM accounts
  UNION ALL SELECT 'events', max(id) FROM events UNION ALL SELECT 'page_views', max(id) FROM page_views
  UNION ALL SELECT 'orders', max(id) FROM orders UNION ALL SELECT 'documents', max(id) FROM documents
  UNION ALL SELECT 'attachments', max(id) FROM attachments;
UPDATE accounts SET balance_cents = balance_cents + 1
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'accounts') AND id % 2 = 0;
UPDATE events SET value = value + 1
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'events') AND id % 4 = 0;
DELETE FROM events WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'events') AND id % 8 = 1;
INSERT INTO events (account_id, kind, value, occurred_at)
  SELECT account_id, kind, value, occurred_at FROM events
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'events') AND id % 8 = 3;
UPDATE page_views SET duration_ms = duration_ms + 1
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'page_views') AND id % 4 = 0;
DELETE FROM page_views WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'page_views') AND id % 8 = 1;
INSERT INTO page_views (account_id, page_id, duration_ms, viewed_at)
  SELECT account_id, page_id, duration_ms, viewed_at FROM page_views
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'page_views') AND id % 8 = 3;
UPDATE orders SET shipping_name = shipping_name || '.'
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'orders') AND id % 2 = 0;
UPDATE documents SET revision = revision + 1, body = body || ' Edited.'
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'documents') AND id % 4 = 0;
DELETE FROM attachments WHERE document_id IN (SELECT id FROM documents
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'documents') AND id % 8 = 1);
DELETE FROM documents WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'documents') AND id % 8 = 1;
INSERT INTO documents (account_id, title, body, created_at, revision)
  SELECT account_id, title, body, created_at, 1 FROM documents
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'documents') AND id % 8 = 3;
UPDATE attachments SET filename = filename || '.bak'
  WHERE id > (SELECT m * 0.98 FROM top WHERE t = 'attachments') AND id % 2 = 0;
";

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
    /// Scenario C: the emulator of the current run (replaced, with its database, by each
    /// run's `prepare`).
    pub emulator: RefCell<Option<Emulator<'a>>>,
    /// Scenario D's source database (`None`: scenario D is not run).
    pub blob_db: Option<&'a str>,
    /// Scenario D: the S3 server of the current run (replaced by each run's `prepare`).
    pub s3: RefCell<Option<fixtures::s3::S3Server>>,
    /// Scenario E's source: a fresh copy of the generated database for every run.
    pub sync_db: &'a str,
    /// Scenario H's source database (`None`: scenario H is not run).
    pub limits_db: Option<&'a str>,
    /// Scenario H's tables (empty when it is not run).
    pub limit_tables: &'a [dataset::TableStat],
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

    /// The source database `c` reads: scenario E's own copy, scenario D's and H's own
    /// databases, else the generated one.
    fn read_db(&self, c: &Contender) -> Result<&str, String> {
        match c.scenario {
            Scenario::Sync => Ok(self.sync_db),
            Scenario::Blobs => self
                .blob_db
                .ok_or_else(|| "scenario D has no source database".into()),
            Scenario::Limits => self
                .limits_db
                .ok_or_else(|| "scenario H has no source database".into()),
            _ => Ok(self.source_db),
        }
    }

    /// The URL of [`Bench::read_db`].
    fn read_url(&self, c: &Contender) -> Result<String, String> {
        Ok(self.source.url(self.read_db(c)?))
    }

    /// The source tables `c` may move (those of its scenario's database).
    fn source_tables(&self, c: &Contender) -> &[dataset::TableStat] {
        match c.scenario {
            Scenario::Limits => self.limit_tables,
            _ => self.tables,
        }
    }

    /// `migrator copy` from `c`'s source into the target, untimed, for the contenders that
    /// time what comes after a copy.
    fn untimed_copy(&self, c: &Contender) -> Result<(), String> {
        let out = Command::new(self.migrator)
            .args([
                "copy",
                "--source",
                &self.read_url(c)?,
                "--target",
                &self.tgt_url(),
            ])
            .args(["--jobs", &self.jobs.to_string()])
            .output()
            .map_err(|e| format!("running the untimed copy: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the untimed copy failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// The database `c` writes into: scenario C's emulator's backing database, else the
    /// target database.
    fn written_db(&self, c: &Contender) -> Result<String, String> {
        if c.emulated.is_none() {
            return Ok(self.target_db.to_string());
        }
        self.emulator
            .borrow()
            .as_ref()
            .map(|e| e.backing().name().to_string())
            .ok_or_else(|| "the DSQL emulator is not running".to_string())
    }

    fn blob_dir(&self) -> PathBuf {
        self.work.join("blob-store")
    }

    fn config_file(&self, c: &Contender) -> PathBuf {
        self.work.join(format!("{}.toml", c.key))
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
        // The previous emulator and its database, and the previous blob store, go first,
        // whatever runs next.
        self.emulator.borrow_mut().take();
        self.s3.borrow_mut().take();
        if self.blob_dir().exists() {
            std::fs::remove_dir_all(self.blob_dir())
                .map_err(|e| format!("removing {}: {e}", self.blob_dir().display()))?;
        }
        if let Some(target) = c.blobs {
            let store = match target {
                BlobTarget::Inline => None,
                BlobTarget::S3 => {
                    let s3 = fixtures::s3::S3Server::start()
                        .map_err(|e| format!("starting the S3 server: {e}"))?;
                    s3.create_bucket("bench")
                        .map_err(|e| format!("creating the bucket: {e}"))?;
                    let section = format!(
                        "store = \"s3://bench/files\"\n[blobs.s3]\nendpoint = \"{}\"\n",
                        s3.endpoint()
                    );
                    *self.s3.borrow_mut() = Some(s3);
                    Some(section)
                }
                BlobTarget::Directory => Some(format!(
                    "store = \"file://{}\"\n",
                    self.blob_dir().display()
                )),
            };
            let config = match store {
                None => String::new(),
                Some(store) => {
                    // The columns first: `[blobs.s3]` ends the `[blobs]` table.
                    let (store_line, s3) = store.split_once('\n').unwrap_or((&store, ""));
                    format!(
                        "[blobs]\n{store_line}\n[[blobs.columns]]\ntable = \"public.blob_doc\"\ncolumn = \"body\"\n{s3}"
                    )
                }
            };
            std::fs::write(self.config_file(c), config)
                .map_err(|e| format!("writing {}: {e}", self.config_file(c).display()))?;
        }
        self.target
            .psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            )
            .map_err(|e| format!("dropping the target database: {e}"))?;
        if let Some(how) = &c.emulated {
            let emulator = Emulator::start(
                self.target,
                DsqlOptions {
                    era: Era::Y2026,
                    commit_latency: std::time::Duration::from_millis(how.latency_ms),
                    ..DsqlOptions::default()
                },
            )
            .map_err(|e| format!("starting the DSQL emulator: {e}"))?;
            emulator.set_enforcement(how.rules);
            *self.emulator.borrow_mut() = Some(emulator);
            if !how.config.is_empty() {
                std::fs::write(self.config_file(c), how.config)
                    .map_err(|e| format!("writing {}: {e}", self.config_file(c).display()))?;
            }
        } else {
            self.target
                .psql(
                    "postgres",
                    &format!("CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8'"),
                )
                .map_err(|e| format!("creating the target database: {e}"))?;
        }
        let config = c.config_toml();
        if !config.is_empty() {
            std::fs::write(self.config_file(c), config)
                .map_err(|e| format!("writing {}: {e}", self.config_file(c).display()))?;
        }
        if c.scenario == Scenario::Sync {
            let sync = self.sync_db;
            self.source
                .psql(
                    "postgres",
                    &format!("DROP DATABASE IF EXISTS {sync} WITH (FORCE)"),
                )
                .map_err(|e| format!("dropping scenario E's source: {e}"))?;
            self.source
                .psql(
                    "postgres",
                    &format!("CREATE DATABASE {sync} TEMPLATE {}", self.source_db),
                )
                .map_err(|e| format!("copying the source for scenario E: {e}"))?;
        }
        if matches!(
            c.tool,
            Tool::MigratorSync(_) | Tool::MigratorVerify { .. } | Tool::CountStar
        ) {
            self.untimed_copy(c)?;
        }
        if let Tool::MigratorSync(workload) = c.tool {
            self.source
                .psql(self.sync_db, workload.sql())
                .map_err(|e| format!("the sync workload: {e}"))?;
        }
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
        let jobs = c.jobs.unwrap_or(self.jobs).to_string();
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
                if c.blobs.is_some() {
                    let src = self.read_url(c)?;
                    cmd.args(["copy", "--source", &src, "--target", &tgt, "--jobs", &jobs]);
                    cmd.arg("--config").arg(self.config_file(c));
                    if let Some(s3) = self.s3.borrow().as_ref() {
                        cmd.envs(s3.client_env());
                    }
                    return Ok(cmd);
                }
                match &c.emulated {
                    None => {
                        let src = self.read_url(c)?;
                        cmd.args(["copy", "--source", &src, "--target", &tgt, "--jobs", &jobs]);
                        if !c.config_toml().is_empty() {
                            cmd.arg("--config").arg(self.config_file(c));
                        }
                    }
                    Some(how) => {
                        let url = self
                            .emulator
                            .borrow()
                            .as_ref()
                            .map(Emulator::url)
                            .ok_or_else(|| "the DSQL emulator is not running".to_string())?;
                        cmd.args(["copy", "--source", &src, "--target", &url, "--jobs", &jobs]);
                        cmd.args(["--profile", how.profile]);
                        if !how.config.is_empty() {
                            cmd.arg("--config").arg(self.config_file(c));
                        }
                    }
                }
                if c.scenario == Scenario::DataOnly {
                    cmd.arg("--data-only");
                }
                cmd
            }
            Tool::MigratorSync(_) => {
                let mut cmd = Command::new(self.migrator);
                let src = self.read_url(c)?;
                cmd.args(["sync", "--source", &src, "--target", &tgt, "--jobs", &jobs]);
                if !c.config_toml().is_empty() {
                    cmd.arg("--config").arg(self.config_file(c));
                }
                cmd
            }
            Tool::MigratorVerify { checksums } => {
                let mut cmd = Command::new(self.migrator);
                cmd.args(["verify", "--source", &src, "--target", &tgt]);
                if checksums {
                    cmd.arg("--checksums");
                }
                cmd
            }
            Tool::CountStar => {
                let one = self.work.join("count-one-table.sh");
                let script = format!(
                    "set -euo pipefail\n\
                     if [ \"$1\" = source ]; then url={}; else url={}; fi\n\
                     {} -d \"$url\" -A -t -c \"SELECT count(*) FROM $2\" > /dev/null\n",
                    sq(&src),
                    sq(&tgt),
                    psql(self.source),
                );
                std::fs::write(&one, script)
                    .map_err(|e| format!("writing {}: {e}", one.display()))?;
                let list = self.work.join("count-tables.txt");
                let lines: Vec<String> = ["source", "target"]
                    .iter()
                    .flat_map(|side| {
                        self.tables
                            .iter()
                            .map(move |t| format!("{side} {}", t.name))
                    })
                    .collect();
                std::fs::write(&list, lines.join("\n") + "\n")
                    .map_err(|e| format!("writing {}: {e}", list.display()))?;
                bash(format!(
                    "xargs -a {} -L 1 -P {jobs} bash {}",
                    sq(&list.to_string_lossy()),
                    sq(&one.to_string_lossy())
                ))
            }
            Tool::DumpPsql => {
                let data_only = if c.scenario == Scenario::DataOnly {
                    "--data-only "
                } else {
                    ""
                };
                let table = c
                    .only
                    .map(|t| format!("-t {} ", sq(&format!("public.{t}"))))
                    .unwrap_or_default();
                bash(format!(
                    "{} {data_only}{table}-d {} | {} -d {}",
                    self.bin(self.source, "pg_dump"),
                    sq(&self.read_url(c)?),
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
    /// dump directory was, from the run's log and the directory itself; for scenarios G and
    /// H, how many chunks migrator cut the tables into ([`chunks_note`]). Untimed.
    pub fn phase_note(&self, c: &Contender, log: &Path) -> Option<String> {
        let text = std::fs::read_to_string(log).ok()?;
        if matches!(c.scenario, Scenario::JobsCurve | Scenario::Limits) && c.tool == Tool::Migrator
        {
            return copied_chunks(&text).map(|(chunks, tables)| chunks_note(chunks, tables));
        }
        if c.tool != Tool::DumpRestoreDir {
            return None;
        }
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
    /// for a whole migration, the same indexes, constraints and sequences; for scenario H's
    /// value, the same `md5` of it on both sides; onto DSQL with
    /// the rules on, no transaction over DSQL's limits and none mixing DDL and DML (the
    /// emulator refuses those, so this re-checks the emulator too). Returns what the
    /// emulator recorded, for scenario C.
    pub fn check(&self, c: &Contender) -> Result<Option<TxStats>, String> {
        if let Some(target) = c.blobs {
            return self.check_blobs(c, target).map(|()| None);
        }
        if let Tool::MigratorSync(_) = c.tool {
            // The source changed: the target must now hold exactly what it holds.
            let out = Command::new(self.migrator)
                .args([
                    "verify",
                    "--checksums",
                    "--source",
                    &self.read_url(c)?,
                    "--target",
                ])
                .arg(self.tgt_url())
                .output()
                .map_err(|e| format!("running verify --checksums: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "verify --checksums after the sync: {}",
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .filter(|l| !l.contains("│") && !l.contains("┆"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            return Ok(None);
        }
        let tables: Vec<&dataset::TableStat> = self
            .source_tables(c)
            .iter()
            .filter(|t| c.moves(&t.name))
            .collect();
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let db = self.written_db(c)?;
        let counts = dataset::row_counts(self.target, &db, &names)
            .map_err(|e| format!("counting target rows: {e}"))?;
        let mut wrong = Vec::new();
        for t in tables {
            match counts.iter().find(|(n, _)| *n == t.name) {
                Some((_, n)) if *n == t.rows => {}
                Some((_, n)) => wrong.push(format!("{}: {n} rows, source has {}", t.name, t.rows)),
                None => wrong.push(format!("{}: not counted", t.name)),
            }
        }
        if matches!(c.scenario, Scenario::Full | Scenario::JobsCurve) {
            let src = schema_objects(self.source, self.source_db, c.only)?;
            let tgt = schema_objects(self.target, self.target_db, c.only)?;
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
            wrong.extend(sequence_problems(self, c.only)?);
        }
        if c.scenario == Scenario::Limits && c.moves(dataset::LIMIT_VALUE_TABLE) {
            let want = dataset::limit_value_md5(self.source, self.read_db(c)?)?;
            let got = dataset::limit_value_md5(self.target, &db)?;
            if got != want {
                wrong.push(format!(
                    "{}: md5 {got:?} in target, {want:?} in source",
                    dataset::LIMIT_VALUE_TABLE
                ));
            }
        }
        let stats = match &c.emulated {
            None => None,
            Some(how) => {
                let stats = self.tx_stats();
                if how.rules {
                    if stats.max_rows > 3000 {
                        wrong.push(format!("a transaction modified {} rows", stats.max_rows));
                    }
                    if stats.max_bytes > 10 * 1024 * 1024 {
                        wrong.push(format!("a transaction sent {} bytes", stats.max_bytes));
                    }
                    if stats.mixed > 0 {
                        wrong.push(format!(
                            "{} transactions mixed DDL with DML or ran two DDL statements",
                            stats.mixed
                        ));
                    }
                }
                Some(stats)
            }
        };
        if wrong.is_empty() {
            Ok(stats)
        } else {
            Err(wrong.join("; "))
        }
    }

    /// Scenario D: every row arrived, and, for a store, one object per distinct value with
    /// the size the row records.
    fn check_blobs(&self, c: &Contender, target: BlobTarget) -> Result<(), String> {
        let src = self.read_db(c)?;
        let rows = |cluster: &Cluster, db: &str| {
            cluster
                .psql(db, "SELECT count(*) FROM blob_doc")
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("counting blob_doc: {e}"))
        };
        let (want, got) = (rows(self.source, src)?, rows(self.target, self.target_db)?);
        if want != got {
            return Err(format!("blob_doc: {got} rows, source has {want}"));
        }
        let sizes = |objects: Vec<u64>| -> Result<(), String> {
            let total: u64 = objects.iter().sum();
            let expected = self
                .target
                .psql(
                    self.target_db,
                    "SELECT count(DISTINCT body_key) || ' ' || sum(body_size) FROM blob_doc",
                )
                .map_err(|e| format!("reading blob references: {e}"))?;
            let got = format!("{} {total}", objects.len());
            if expected.trim() != got {
                return Err(format!(
                    "the store holds {got} (objects, bytes); the rows name {}",
                    expected.trim()
                ));
            }
            Ok(())
        };
        match target {
            BlobTarget::Inline => Ok(()),
            BlobTarget::S3 => {
                let s3 = self.s3.borrow();
                let s3 = s3.as_ref().ok_or("the S3 server is not running")?;
                sizes(s3.objects("bench").into_iter().map(|(_, n)| n).collect())
            }
            BlobTarget::Directory => sizes(fixtures::file_sizes(&self.blob_dir())),
        }
    }

    /// What the current emulator recorded.
    fn tx_stats(&self) -> TxStats {
        let records = self
            .emulator
            .borrow()
            .as_ref()
            .map(Emulator::records)
            .unwrap_or_default();
        let mut s = TxStats::default();
        for r in &records {
            if !r.committed {
                s.refused += u64::from(r.error.is_some());
                continue;
            }
            if r.rows > 0 {
                s.write_txns += 1;
                s.max_rows = s.max_rows.max(r.rows);
                s.max_bytes = s.max_bytes.max(r.bytes);
            }
            if r.ddl > 0 {
                s.ddl_txns += 1;
            }
            if r.ddl > 1 || (r.ddl > 0 && r.dml > 0) {
                s.mixed += 1;
            }
        }
        s
    }
}

/// The chunk and table counts of migrator's summary line (`copied N rows (...) in C chunks
/// across T tables, ...`) in a copy's log.
fn copied_chunks(log: &str) -> Option<(u64, u64)> {
    log.lines().rev().find_map(|l| {
        let (_, rest) = l.strip_prefix("copied ")?.split_once(") in ")?;
        let (chunks, rest) = rest.split_once(" chunks across ")?;
        let (tables, _) = rest.split_once(" tables")?;
        Some((chunks.parse().ok()?, tables.parse().ok()?))
    })
}

/// A scenario-G run's note: the chunks migrator cut the tables into ([`chunks_in_note`]
/// reads it back).
pub fn chunks_note(chunks: u64, tables: u64) -> String {
    format!("{chunks} chunks in {tables} tables")
}

/// The chunk count of a [`chunks_note`], if `note` holds one.
pub fn chunks_in_note(note: &str) -> Option<u64> {
    note.split("; ").find_map(|part| {
        let (chunks, rest) = part.split_once(" chunks in ")?;
        rest.strip_suffix(" tables")?.parse::<u64>().ok()?;
        chunks.parse().ok()
    })
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

/// `AND` conditions that keep only what belongs to table `only` (`None`: no condition): the
/// `regclass` columns named in `on` are that table, and those in `refs`, when set, too.
fn only_sql(only: Option<&str>, on: &[&str], refs: &[&str]) -> String {
    let Some(t) = only else {
        return String::new();
    };
    let t = t.replace('\'', "''");
    let on = on
        .iter()
        .map(|col| format!(" AND {col}::regclass::text = '{t}'"));
    let refs = refs
        .iter()
        .map(|col| format!(" AND ({col} = 0 OR {col}::regclass::text = '{t}')"));
    on.chain(refs).collect()
}

/// Counts of valid indexes (by table, unique or not) and of validated constraints (by
/// table and type) in the `public` schema; with `only`, those of that table that reference
/// no other table.
fn schema_objects(
    cluster: &Cluster,
    db: &str,
    only: Option<&str>,
) -> Result<Vec<(String, u64)>, String> {
    let out = cluster
        .psql(
            db,
            &format!(
                "SELECT 'indexes on ' || i.indrelid::regclass::text || \
                        CASE WHEN i.indisunique THEN ' (unique)' ELSE '' END, count(*) \
                   FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
                  WHERE c.relnamespace = 'public'::regnamespace AND i.indisvalid{} \
                  GROUP BY 1 \
                 UNION ALL \
                 SELECT 'constraints ' || contype::text || ' on ' || conrelid::regclass::text, count(*) \
                   FROM pg_constraint \
                  WHERE connamespace = 'public'::regnamespace AND convalidated{} \
                  GROUP BY 1",
                only_sql(only, &["i.indrelid"], &[]),
                only_sql(only, &["conrelid"], &["confrelid"]),
            ),
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

/// Every source sequence (with `only`, every one that table owns) must exist in the target
/// and not hand out a value the source already used (the target's next value is at least
/// the source's).
fn sequence_problems(b: &Bench, only: Option<&str>) -> Result<Vec<String>, String> {
    let owned = if only.is_some() {
        format!(
            " AND EXISTS (SELECT 1 FROM pg_depend d \
                           WHERE d.classid = 'pg_class'::regclass \
                             AND d.objid = format('%I.%I', schemaname, sequencename)::regclass \
                             AND d.deptype IN ('a', 'i'){})",
            only_sql(only, &["d.refobjid"], &[])
        )
    } else {
        String::new()
    };
    let q = format!(
        "SELECT schemaname || '.' || sequencename, \
                coalesce(last_value + increment_by, start_value) \
           FROM pg_sequences WHERE schemaname = 'public'{owned} ORDER BY 1"
    );
    let read = |cluster: &Cluster, db: &str| -> Result<Vec<(String, i64)>, String> {
        let out = cluster
            .psql(db, &q)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_counts_from_the_log_and_the_note() {
        let log = "warning: constraint documents_account_id_fkey: not migrated\n\
                   copied public.documents: 10000 rows\n\
                   copied 10000 rows (566.4 KiB) in 5 chunks across 1 tables, 6 DDL steps, \
                   in 0.3s (29710 rows/s, 1.6 MiB/s)\n";
        assert_eq!(copied_chunks(log), Some((5, 1)));
        assert_eq!(copied_chunks("copied public.documents: 10000 rows\n"), None);
        let note = format!("machine still busy; {}", chunks_note(5, 1));
        assert_eq!(chunks_in_note(&note), Some(5));
        assert_eq!(chunks_in_note("pg_dump 1.0 s + pg_restore 2.0 s"), None);
    }

    #[test]
    fn scenario_g_contenders() {
        let all = all(2, None);
        let g: Vec<&Contender> = all
            .iter()
            .filter(|c| c.scenario == Scenario::JobsCurve)
            .collect();
        let keys: Vec<&str> = g.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "g-migrator-j1",
                "g-migrator-j2",
                "g-migrator-j4",
                "g-table-j1",
                "g-table-j2",
                "g-table-j4"
            ]
        );
        assert!(g[0].baseline && g.iter().filter(|c| c.baseline).count() == 1);
        assert_eq!(g[5].jobs, Some(4));
        assert_eq!(g[0].config_toml(), "");
        assert_eq!(
            g[3].config_toml(),
            "[tables]\ninclude = [\"public.documents\"]\n"
        );
        assert!(g[3].moves("documents") && !g[3].moves("accounts"));
        assert!(g[0].moves("accounts"));
        let keys: Vec<&str> = all.iter().map(|c| c.key.as_str()).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "duplicate keys");
    }

    #[test]
    fn scenario_a_contenders() {
        let all = all(2, None);
        let a: Vec<&Contender> = all
            .iter()
            .filter(|c| c.scenario == Scenario::DataOnly)
            .collect();
        let keys: Vec<&str> = a.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "a-migrator",
                "a-migrator-noanalyze",
                "a-dump-psql",
                "a-raw-pipe"
            ]
        );
        // The default runs without a config file (ANALYZE on); the other turns it off.
        assert_eq!(a[0].config_toml(), "");
        assert_eq!(a[0].label, "migrator copy --data-only --jobs 2");
        assert_eq!(a[1].tool, Tool::Migrator);
        assert_eq!(a[1].config_toml(), "[copy]\nanalyze = false\n");
        assert_eq!(
            a[1].label,
            "migrator copy --data-only --jobs 2, analyze = false"
        );
        assert!(a[1].moves("documents") && a[1].jobs.is_none());
        assert!(a[3].baseline && a.iter().filter(|c| c.baseline).count() == 1);
    }

    #[test]
    fn scenario_h_contenders() {
        let all = all(4, None);
        let h: Vec<&Contender> = all
            .iter()
            .filter(|c| c.scenario == Scenario::Limits)
            .collect();
        let keys: Vec<&str> = h.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "h-limit_rows-migrator",
                "h-limit_rows-dump-psql",
                "h-limit_value-migrator",
                "h-limit_value-dump-psql"
            ]
        );
        // migrator at its own 2 jobs whatever --jobs says, one table each, selected by the
        // config file; pg_dump the baseline of each table.
        assert_eq!(h[0].label, "migrator copy --jobs 2, table limit_rows only");
        assert_eq!(h[0].jobs, Some(LIMIT_JOBS));
        assert_eq!(
            h[2].config_toml(),
            "[tables]\ninclude = [\"public.limit_value\"]\n"
        );
        assert_eq!(h[3].label, "pg_dump -t limit_value | psql");
        for pair in h.chunks(2) {
            assert_eq!(pair[0].only, pair[1].only);
            assert!(pair[0].tool == Tool::Migrator && !pair[0].baseline);
            assert!(pair[1].tool == Tool::DumpPsql && pair[1].baseline);
        }
        assert!(h[0].moves("limit_rows") && !h[0].moves("limit_value"));
        assert!(Scenario::Limits.first_scale_only() && Scenario::Blobs.first_scale_only());
        assert!(!Scenario::JobsCurve.first_scale_only());
        assert_eq!(
            Scenario::ALL
                .map(Scenario::letter)
                .iter()
                .collect::<String>(),
            "ABCDEFGHI"
        );
    }

    #[test]
    fn scenario_i_contenders() {
        let all = all(2, None);
        let i: Vec<&Contender> = all
            .iter()
            .filter(|c| c.scenario == Scenario::DsqlLatency)
            .collect();
        // Every latency at every job count, each against an emulator that enforces DSQL's
        // rules and waits its latency at each commit; one baseline.
        assert_eq!(i.len(), LATENCY_MS.len() * LATENCY_JOBS.len());
        assert_eq!(i.iter().filter(|c| c.baseline).count(), 1);
        for ms in LATENCY_MS {
            for j in LATENCY_JOBS {
                let c = i
                    .iter()
                    .find(|c| c.key == format!("i-dsql-{ms}ms-j{j}"))
                    .unwrap();
                let e = c.emulated.as_ref().unwrap();
                assert!(e.rules && e.profile == "dsql" && e.latency_ms == ms);
                assert_eq!(c.jobs, Some(j));
            }
        }
    }

    #[test]
    fn single_table_conditions() {
        assert_eq!(only_sql(None, &["conrelid"], &["confrelid"]), "");
        assert_eq!(
            only_sql(Some("documents"), &["conrelid"], &["confrelid"]),
            " AND conrelid::regclass::text = 'documents' \
             AND (confrelid = 0 OR confrelid::regclass::text = 'documents')"
        );
    }
}
