//! Turns the runs into numbers and text: medians per contender and scale, the derived
//! rates, and the Markdown written to BENCHMARKS.md (and printed), with the scaling section
//! of [`scaling`] when the invocation ran more than one scale or scenario G.
//!
//! Rates use the same numerators for every contender of a scale: the source's total exact
//! row count and total `pg_table_size` bytes at that scale, divided by the contender's
//! median wall time. So rows/s and MB/s are "source database moved per second", comparable
//! across contenders whatever each one actually sends over the wire. The exceptions move
//! something else: scenarios D and H (their own tables) and scenario G's single-table
//! contenders (that table), whose rates use what they move.
//!
//! Scenario H's section has its own table (one row per contender, grouped by the table it
//! copies) and the peak RSS bounds stated for migrator, each judged on the medians.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::contenders::{self, Contender, Scenario, Tool, TxStats};
use crate::dataset::{self, Scale, TableStat};
use crate::measure::Outcome;
use crate::scaling::{self, Verdict};

/// How one run of one contender ended.
#[derive(Debug, Clone)]
pub enum RunResult {
    /// Exited 0 and its result checked out: timed. The note says more about the run; the
    /// stats are what the DSQL emulator recorded (scenario C).
    Ok(Outcome, Option<String>, Option<TxStats>),
    /// Exited non-zero, or its result was wrong: not timed.
    Failed {
        reason: String,
        /// The command that was run, as `std::process::Command` shows it.
        command: Option<String>,
        outcome: Option<Outcome>,
        log: Option<PathBuf>,
        log_tail: String,
    },
    /// Not run (e.g. not installed).
    Unavailable(String),
}

/// Medians over a contender's successful runs.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub ok_runs: usize,
    pub wall: f64,
    pub wall_min: f64,
    pub wall_max: f64,
    pub max_rss_mib: f64,
    pub cpu: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `None` when no run succeeded.
pub fn summarize(runs: &[RunResult]) -> Option<Summary> {
    let ok: Vec<&Outcome> = runs
        .iter()
        .filter_map(|r| match r {
            RunResult::Ok(o, _, _) => Some(o),
            _ => None,
        })
        .collect();
    if ok.is_empty() {
        return None;
    }
    Some(Summary {
        ok_runs: ok.len(),
        wall: median(ok.iter().map(|o| o.wall.as_secs_f64()).collect()),
        wall_min: ok
            .iter()
            .map(|o| o.wall.as_secs_f64())
            .fold(f64::INFINITY, f64::min),
        wall_max: ok.iter().map(|o| o.wall.as_secs_f64()).fold(0.0, f64::max),
        max_rss_mib: median(ok.iter().map(|o| o.max_rss_kib as f64 / 1024.0).collect()),
        cpu: median(ok.iter().map(|o| o.cpu.as_secs_f64()).collect()),
    })
}

pub(crate) fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub(crate) fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

pub(crate) fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

/// One scale's dataset and runs.
#[derive(Debug)]
pub struct ScaleRun {
    pub scale: Scale,
    /// What the report calls it: the scale's name, numbered when it was given more than once.
    pub label: String,
    /// Source tables, largest first.
    pub tables: Vec<TableStat>,
    /// Scenario D's table (empty when D did not run at this scale).
    pub blob_tables: Vec<TableStat>,
    /// Scenario H's tables (empty when H did not run at this scale).
    pub limit_tables: Vec<TableStat>,
    pub generation: Duration,
    pub contenders: Vec<Contender>,
    /// `[contender][run]`, measured runs only.
    pub results: Vec<Vec<RunResult>>,
    /// `[contender][warm-up round]`: shown, never in the medians.
    pub warmups: Vec<Vec<RunResult>>,
}

/// Everything the report shows.
pub struct Report<'a> {
    pub command: String,
    pub date: String,
    pub runs: usize,
    pub jobs: usize,
    pub machine: Vec<(String, String)>,
    /// Warm-up rounds run before the measured ones, at every scale.
    pub warmup: usize,
    /// `--scale`, in order; the first `scales.len()` of them have run.
    pub requested: &'a [Scale],
    /// The scales that have run, in order.
    pub scales: &'a [ScaleRun],
    /// The scaling plot, as the Markdown links it (relative to the report); `None`: none.
    pub plot: Option<String>,
}

impl ScaleRun {
    fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    fn total_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.table_bytes).sum()
    }

    /// The rates' numerators for `c`: the rows and table bytes of the source tables it moves.
    pub fn totals(&self, c: &Contender) -> (u64, u64) {
        let tables = match c.scenario {
            Scenario::Blobs => &self.blob_tables,
            Scenario::Limits => &self.limit_tables,
            _ => &self.tables,
        };
        let moved = || tables.iter().filter(|t| c.moves(&t.name));
        (
            moved().map(|t| t.rows).sum(),
            moved().map(|t| t.table_bytes).sum(),
        )
    }

    /// The median of the contender `key`'s measured runs: `Err` says why there is none (not
    /// run at this scale, not available, or no run succeeded).
    pub fn summary(&self, key: &str) -> Result<Summary, String> {
        let i = self
            .contenders
            .iter()
            .position(|c| c.key == key)
            .ok_or_else(|| format!("not run at {}", self.label))?;
        match self.results[i].first() {
            Some(RunResult::Unavailable(why)) => Err(why.clone()),
            _ => summarize(&self.results[i]).ok_or_else(|| "no successful run".to_string()),
        }
    }

    /// The dataset table.
    pub fn dataset_table(&self) -> String {
        let mut s = String::new();
        s.push_str("| table | columns | rows | table MB | index MB | what |\n");
        s.push_str("|---|---:|---:|---:|---:|---|\n");
        for t in &self.tables {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                t.name,
                t.columns,
                thousands(t.rows as f64),
                mb(t.table_bytes),
                mb(t.index_bytes),
                dataset::describe(&t.name)
            );
        }
        let _ = writeln!(
            s,
            "| **total** | | **{}** | **{}** | {} | |",
            thousands(self.total_rows() as f64),
            mb(self.total_bytes()),
            mb(self.tables.iter().map(|t| t.index_bytes).sum())
        );
        s
    }

    /// The medians table of one scenario (scenario H's: [`ScaleRun::limits_table`]).
    pub fn medians_table(&self, scenario: Scenario) -> String {
        if scenario == Scenario::Limits {
            return self.limits_table();
        }
        let idx: Vec<usize> = (0..self.contenders.len())
            .filter(|&i| self.contenders[i].scenario == scenario)
            .collect();
        let base = idx.iter().find(|&&i| self.contenders[i].baseline).copied();
        let base_label = base
            .map(|i| self.contenders[i].label.clone())
            .unwrap_or_default();
        let base_wall = base
            .and_then(|i| summarize(&self.results[i]))
            .map(|s| s.wall);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| contender | ok runs | wall s | wall s min–max | rows/s | MB/s | peak RSS MiB | client CPU s | wall ÷ {} |",
            cell(&base_label)
        );
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for i in idx {
            let c = &self.contenders[i];
            let runs = &self.results[i];
            if let Some(RunResult::Unavailable(why)) = runs.first() {
                let _ = writeln!(s, "| {} | – | {why} | | | | | | |", cell(&c.label));
                continue;
            }
            match summarize(runs) {
                None => {
                    let _ = writeln!(
                        s,
                        "| {} | 0/{} | **failed** (see below) | | | | | | |",
                        cell(&c.label),
                        runs.len()
                    );
                }
                Some(m) => {
                    let ratio = match base_wall {
                        _ if c.baseline => "1.00 (baseline)".to_string(),
                        Some(b) => format!("{:.2}", m.wall / b),
                        None => "n/a".into(),
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {}/{} | {} | {}–{} | {} | {:.1} | {:.0} | {:.1} | {ratio} |",
                        cell(&c.label),
                        m.ok_runs,
                        runs.len(),
                        secs(m.wall),
                        secs(m.wall_min),
                        secs(m.wall_max),
                        thousands(self.totals(c).0 as f64 / m.wall),
                        self.totals(c).1 as f64 / 1e6 / m.wall,
                        m.max_rss_mib,
                        m.cpu,
                    );
                }
            }
        }
        s
    }

    /// Scenario H's medians: one row per contender, grouped by the table it copies, each
    /// against no baseline (the tables differ too much for a common one).
    fn limits_table(&self) -> String {
        let mut s = String::from(
            "| table | contender | ok runs | wall s | wall s min–max | MB/s | peak RSS MiB | client CPU s |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
        );
        for (c, runs) in self
            .contenders
            .iter()
            .zip(&self.results)
            .filter(|(c, _)| c.scenario == Scenario::Limits)
        {
            let table = c.only.unwrap_or("all");
            match summarize(runs) {
                None => {
                    let _ = writeln!(
                        s,
                        "| {table} | {} | 0/{} | **failed** (see below) | | | | |",
                        cell(&c.label),
                        runs.len()
                    );
                }
                Some(m) => {
                    let _ = writeln!(
                        s,
                        "| {table} | {} | {}/{} | {} | {}–{} | {:.1} | {:.0} | {:.1} |",
                        cell(&c.label),
                        m.ok_runs,
                        runs.len(),
                        secs(m.wall),
                        secs(m.wall_min),
                        secs(m.wall_max),
                        self.totals(c).1 as f64 / 1e6 / m.wall,
                        m.max_rss_mib,
                        m.cpu,
                    );
                }
            }
        }
        s
    }

    /// Scenario H's bounds, each judged on migrator's median peak RSS on that table.
    pub fn limit_checks(&self) -> Vec<LimitCheck> {
        self.contenders
            .iter()
            .filter(|c| c.scenario == Scenario::Limits && c.tool == Tool::Migrator)
            .filter_map(|c| {
                let table = c.only?;
                let (bound_mib, derivation) = limit_bound(table)?;
                let measured = self.summary(&c.key).map(|m| m.max_rss_mib);
                let (ratio, verdict) = bound_verdict(&measured, bound_mib);
                Some(LimitCheck {
                    table,
                    key: c.key.clone(),
                    bound_mib,
                    derivation,
                    measured,
                    ratio,
                    verdict,
                })
            })
            .collect()
    }

    /// Scenario H's bounds and verdicts, under its medians table.
    pub fn limits_bounds(&self) -> String {
        let mut s = String::from(
            "Peak RSS bounds for `migrator copy`, stated before the run and judged on the \
             medians above: met when migrator's median peak RSS is at most the bound.\n\n\
             | table | rows | table MB | bound MiB | how the bound is set | migrator's peak RSS MiB | ÷ bound | verdict |\n\
             |---|---:|---:|---:|---|---:|---:|---|\n",
        );
        for c in self.limit_checks() {
            let stat = self.limit_tables.iter().find(|t| t.name == c.table);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                c.table,
                stat.map_or_else(|| "–".into(), |t| thousands(t.rows as f64)),
                stat.map_or_else(|| "–".into(), |t| mb(t.table_bytes)),
                thousands(c.bound_mib),
                cell(&c.derivation),
                match &c.measured {
                    Ok(m) => format!("{m:.0}"),
                    Err(why) => cell(why),
                },
                c.ratio.map_or_else(|| "–".into(), |r| format!("{r:.2}")),
                c.verdict.markdown()
            );
        }
        let whole = self.contenders.iter().find(|c| c.key == "b-migrator");
        if let (Some(b), Ok(m)) = (whole, self.summary("b-migrator")) {
            let _ = writeln!(
                s,
                "\nFor comparison, the whole migration at {} (B, `{}`) peaked at {:.0} MiB.",
                self.label, b.label, m.max_rss_mib
            );
        }
        s
    }

    /// Every run, in the order they ran.
    pub fn raw_table(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "| contender | run | wall s | peak RSS MiB | client CPU s | other programs CPU s | steal s | result |\n",
        );
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
        for (i, c) in self.contenders.iter().enumerate() {
            let warm = self.warmups.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let rows = warm
                .iter()
                .enumerate()
                .map(|(r, res)| (format!("warm-up {}", r + 1), res))
                .chain(
                    self.results[i]
                        .iter()
                        .enumerate()
                        .map(|(r, res)| ((r + 1).to_string(), res)),
                );
            for (run, res) in rows {
                let (o, result) = match res {
                    RunResult::Ok(o, note, _) => (
                        Some(o),
                        match note {
                            Some(n) => format!("ok ({n})"),
                            None => "ok".to_string(),
                        },
                    ),
                    RunResult::Failed {
                        reason, outcome, ..
                    } => (outcome.as_ref(), format!("FAILED: {}", first_line(reason))),
                    RunResult::Unavailable(why) => (None, why.clone()),
                };
                let (w, m, cpu, other, steal) = match o {
                    Some(o) => {
                        let (other, steal) = match o.outside {
                            Some(x) => {
                                let (b_other, b_steal) = busy(o);
                                let flag = |v: f64, b: bool| {
                                    if b {
                                        format!("**{v:.1}** ⚠")
                                    } else {
                                        format!("{v:.1}")
                                    }
                                };
                                (flag(x.other, b_other), flag(x.steal, b_steal))
                            }
                            None => ("–".into(), "–".into()),
                        };
                        (
                            secs(o.wall.as_secs_f64()),
                            format!("{:.0}", o.max_rss_kib as f64 / 1024.0),
                            format!("{:.1}", o.cpu.as_secs_f64()),
                            other,
                            steal,
                        )
                    }
                    None => ("–".into(), "–".into(), "–".into(), "–".into(), "–".into()),
                };
                let _ = writeln!(
                    s,
                    "| {} | {run} | {w} | {m} | {cpu} | {other} | {steal} | {result} |",
                    cell(&c.label),
                );
            }
        }
        s
    }

    fn failures(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.contenders.iter().enumerate() {
            let warm = self.warmups.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let rows = warm
                .iter()
                .enumerate()
                .map(|(r, res)| (format!("warm-up {}", r + 1), res))
                .chain(
                    self.results[i]
                        .iter()
                        .enumerate()
                        .map(|(r, res)| (format!("run {}", r + 1), res)),
                );
            for (run, res) in rows {
                if let RunResult::Failed {
                    reason,
                    command,
                    log,
                    log_tail,
                    ..
                } = res
                {
                    let _ = writeln!(s, "### {} — {run}\n", c.label);
                    if let Some(command) = command {
                        let _ = writeln!(s, "Command:\n\n```\n{command}\n```\n");
                    }
                    let _ = writeln!(s, "{reason}\n");
                    if let Some(log) = log {
                        let _ = writeln!(s, "Log: `{}`; its last lines:\n", log.display());
                    }
                    if !log_tail.is_empty() {
                        let _ = writeln!(s, "```\n{log_tail}\n```\n");
                    }
                }
            }
        }
        s
    }

    /// The median wall time and median write-transaction count of the contender `key`.
    fn median_of(&self, key: &str) -> Option<(f64, Option<f64>)> {
        let i = self.contenders.iter().position(|c| c.key == key)?;
        let wall = summarize(&self.results[i])?.wall;
        let txns: Vec<f64> = self.results[i]
            .iter()
            .filter_map(|r| match r {
                RunResult::Ok(_, _, Some(t)) => Some(t.write_txns as f64),
                _ => None,
            })
            .collect();
        Some((wall, (!txns.is_empty()).then(|| median(txns))))
    }

    /// What the DSQL path costs, derived from scenario C's medians (and B's migrator run).
    /// Scenario I's curve: rows/s of the DSQL profile at each commit latency (rows) and job
    /// count (columns), from the medians, and the fewest jobs within 10% of each latency's
    /// best.
    pub fn latency_curve(&self) -> String {
        use crate::contenders::{LATENCY_JOBS, LATENCY_MS};
        let rows = self.total_rows() as f64;
        let mut s = String::from(
            "Rows/s by commit latency (rows) and --jobs (columns), from the medians:\n\n| latency |",
        );
        for j in LATENCY_JOBS {
            let _ = write!(s, " {j} jobs |");
        }
        s.push_str(" fewest jobs within 10% of the best |\n|---|");
        for _ in LATENCY_JOBS {
            s.push_str("---:|");
        }
        s.push_str("---:|\n");
        for ms in LATENCY_MS {
            let _ = write!(s, "| {ms} ms |");
            let rates: Vec<Option<f64>> = LATENCY_JOBS
                .iter()
                .map(|j| {
                    self.median_of(&format!("i-dsql-{ms}ms-j{j}"))
                        .map(|(wall, _)| rows / wall)
                })
                .collect();
            for r in &rates {
                let _ = write!(s, " {} |", r.map(thousands).unwrap_or_else(|| "–".into()));
            }
            let best = rates.iter().flatten().copied().fold(0.0, f64::max);
            let enough = LATENCY_JOBS
                .iter()
                .zip(&rates)
                .find(|(_, r)| r.is_some_and(|r| r >= 0.9 * best))
                .map(|(j, _)| j.to_string())
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(s, " {enough} |");
        }
        s
    }

    pub fn dsql_costs(&self) -> String {
        let mut s = String::from("What the DSQL path costs, from the medians above:\n\n");
        let rows = self.total_rows() as f64;
        let rate = |wall: f64| thousands(rows / wall);
        let proxy = self.median_of("c-pg-proxy");
        let copy = self.median_of("c-dsql-copy");
        if let (Some((p, _)), Some((d, _))) = (proxy, copy) {
            let _ = writeln!(
                s,
                "- **DSQL profile against the postgres profile**: {} rows/s against {} rows/s \
                 through the same emulator, {:.2}× the wall time. The difference is the whole \
                 DSQL path: one DDL statement per transaction, asynchronous index builds and \
                 FK validation waited for, type mappings (`int[]` to `jsonb`), and writes in \
                 transactions of at most 3,000 rows and 8 MiB, each with its manifest row.",
                rate(d),
                rate(p),
                d / p
            );
        }
        if let (Some((p, _)), Some((b, _))) = (proxy, self.median_of("b-migrator")) {
            let _ = writeln!(
                s,
                "- **The emulator's proxy itself** (a test artefact, not part of DSQL's cost): \
                 the postgres profile took {} s through it against {} s straight into the \
                 target (B), {:+.0}%.",
                secs(p),
                secs(b),
                (p / b - 1.0) * 100.0
            );
        }
        if let (Some((d, _)), Some((i, _))) = (copy, self.median_of("c-dsql-insert")) {
            let _ = writeln!(
                s,
                "- **COPY against multi-row INSERT** for the batched writes: {} s with COPY, \
                 {} s with INSERT ({:.2}×); {} is the faster here{}.",
                secs(d),
                secs(i),
                i / d,
                if i < d { "INSERT" } else { "COPY" },
                if i < d {
                    ", while the default is COPY: revisit `dsql.write`'s default"
                } else {
                    ", and it is the default (`dsql.write = \"copy\"`)"
                }
            );
        }
        if let (Some((d, _)), Some((u, _))) = (copy, self.median_of("c-dsql-uuid")) {
            let _ = writeln!(
                s,
                "- **The UUID rewrite** (`keys.strategy = \"uuid\"` against `\"keep\"`, same \
                 path otherwise): {} s against {} s, {:+.1} s ({:+.0}%): computing UUIDv5 keys \
                 and FK values on the client, and 16-byte instead of 4- or 8-byte keys and \
                 index entries.",
                secs(u),
                secs(d),
                u - d,
                (u / d - 1.0) * 100.0
            );
        }
        if let (Some((d, Some(nd))), Some((small, Some(ns)))) = (copy, self.median_of("c-dsql-300"))
            && ns > nd
        {
            let per = (small - d) / (ns - nd);
            let _ = writeln!(
                s,
                "- **The batching**: at most 300 rows per transaction took {} s in {:.0} write \
                 transactions, the default (3,000 rows, 8 MiB) {} s in {:.0}. Fitting \
                 wall = fixed + per-transaction cost × transactions through the two gives \
                 {:.2} ms per transaction, so the default batching costs about {:.1} s \
                 ({:.0}% of its run) here. Against real DSQL each commit also waits a network \
                 round trip and the cluster's commit, which this machine cannot measure.",
                secs(small),
                ns,
                secs(d),
                nd,
                per * 1000.0,
                per * nd,
                per * nd / d * 100.0
            );
        }
        s
    }

    /// This scale's part of the JSON results.
    fn json(&self) -> serde_json::Value {
        use serde_json::json;
        let runs = |rs: &[RunResult]| -> Vec<serde_json::Value> {
            rs.iter()
                .map(|r| match r {
                    RunResult::Ok(o, note, stats) => json!({
                        "ok": true,
                        "note": note,
                        "write_transactions": stats.map(|t| t.write_txns),
                        "largest_transaction_rows": stats.map(|t| t.max_rows),
                        "largest_transaction_bytes": stats.map(|t| t.max_bytes),
                        "wall_s": o.wall.as_secs_f64(),
                        "max_rss_kib": o.max_rss_kib,
                        "cpu_s": o.cpu.as_secs_f64(),
                        "other_programs_cpu_s": o.outside.map(|x| x.other),
                        "steal_s": o.outside.map(|x| x.steal),
                    }),
                    RunResult::Failed {
                        reason, outcome, ..
                    } => json!({
                        "ok": false,
                        "reason": reason,
                        "wall_s": outcome.as_ref().map(|o| o.wall.as_secs_f64()),
                    }),
                    RunResult::Unavailable(why) => json!({"ok": false, "unavailable": why}),
                })
                .collect()
        };
        let tables = |ts: &[TableStat]| -> Vec<serde_json::Value> {
            ts.iter()
                .map(|t| {
                    json!({
                        "name": t.name, "columns": t.columns, "rows": t.rows,
                        "table_bytes": t.table_bytes, "index_bytes": t.index_bytes,
                    })
                })
                .collect()
        };
        json!({
            "scale": self.scale.name(),
            "label": self.label,
            "generation_s": self.generation.as_secs_f64(),
            "tables": tables(&self.tables),
            "blob_tables": tables(&self.blob_tables),
            "limit_tables": tables(&self.limit_tables),
            "limit_bounds": self.limit_checks().iter().map(|c| {
                let mut v = json!({
                    "table": c.table,
                    "contender": c.key,
                    "bound_mib": c.bound_mib,
                    "derivation": c.derivation,
                    "rss_mib": c.measured.as_ref().ok(),
                    "rss_over_bound": c.ratio,
                });
                scaling::merge(&mut v, c.verdict.json());
                v
            }).collect::<Vec<_>>(),
            "contenders": self.contenders.iter().zip(&self.results).enumerate().map(|(i, (c, rs))| json!({
                "key": c.key,
                "label": c.label,
                "scenario": c.scenario.letter().to_string(),
                "baseline": c.baseline,
                "jobs": c.jobs,
                "only_table": c.only,
                "runs": runs(rs),
                "warmup_runs": runs(self.warmups.get(i).map(Vec::as_slice).unwrap_or(&[])),
            })).collect::<Vec<_>>(),
        })
    }
}

impl Report<'_> {
    /// The scenarios that ran at some scale, in report order.
    fn scenarios(&self) -> Vec<Scenario> {
        Scenario::ALL
            .into_iter()
            .filter(|&sc| {
                self.scales
                    .iter()
                    .any(|r| r.contenders.iter().any(|c| c.scenario == sc))
            })
            .collect()
    }

    /// `--scale` as given.
    fn scale_arg(&self) -> String {
        let names: Vec<&str> = self.requested.iter().map(|s| s.name()).collect();
        names.join(",")
    }

    /// The whole BENCHMARKS.md.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Benchmarks: `migrator copy` against the usual tools\n");
        let _ = writeln!(
            s,
            "Generated {} by the benchmark harness in `benches/` (package `migrator-benches`). \
             Every number below comes from one invocation; nothing was edited by hand.\n",
            self.date
        );
        if let Some(pending) = self.requested.get(self.scales.len()..)
            && !pending.is_empty()
        {
            let names: Vec<&str> = pending.iter().map(|s| s.name()).collect();
            let _ = writeln!(
                s,
                "> **Incomplete**: written after {} of {} scales; still to run: {}.\n",
                self.scales.len(),
                self.requested.len(),
                names.join(", ")
            );
        }
        let _ = writeln!(s, "Command:\n\n```\n{}\n```\n", self.command);
        s.push_str(
            "To reproduce (from the workspace root; the harness runs `target/release/migrator`, \
             so build it first):\n\n```\ncargo build --release -p migrator-cli -p migrator-benches\n",
        );
        let letters: Vec<String> = self
            .scenarios()
            .iter()
            .map(|sc| sc.letter().to_ascii_lowercase().to_string())
            .collect();
        let letters = letters.join(",");
        let _ = writeln!(
            s,
            "cargo run --release -p migrator-benches -- --scale {} --runs {} --jobs {}{}{}\n```\n",
            self.scale_arg(),
            self.runs,
            self.jobs,
            if self.warmup == 1 {
                String::new()
            } else {
                format!(" --warmup {}", self.warmup)
            },
            if letters == crate::DEFAULT_SCENARIOS {
                String::new()
            } else {
                format!(" --scenarios {letters}")
            }
        );

        s.push_str("## Machine\n\n| | |\n|---|---|\n");
        for (k, v) in &self.machine {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        s.push_str(
            "\nSource and target are two PostgreSQL clusters on this same machine (loopback TCP, \
             no TLS), started by the harness with the settings above. **`fsync = off`** (also \
             `synchronous_commit = off`, `full_page_writes = off`): these are throwaway test \
             clusters, so the numbers are for CPU, network-stack and WAL-generation cost, not for \
             disk flushes. `wal_level` is left at its default (`replica`), as on RDS, so bulk \
             loads are fully WAL-logged. Autovacuum is off on both clusters. Clients and both \
             servers share the same CPUs, so the source's reads, the client and the target's \
             writes compete for them.\n\n",
        );

        let took: Vec<String> = self
            .scales
            .iter()
            .map(|r| format!("{:.0} s at {}", r.generation.as_secs_f64(), r.label))
            .collect();
        let _ = writeln!(
            s,
            "## Dataset\n\n\
             Generated in the source, once per scale, server-side with SQL, deterministic \
             (every value is a function of the row number: `md5` of row number and a \
             per-column salt; document bodies are sentences of words from a fixed 128-word \
             vocabulary picked the same way, so they compress like prose; `sha256` chains for \
             the blobs); the scales differ only in row counts. Not timed (it took {}). Primary \
             keys, 8 secondary indexes (one unique) and 4 foreign keys were built after the \
             load, sequences set to the highest id, then `VACUUM (FREEZE, ANALYZE)` and \
             `CHECKPOINT`. \"table MB\" is `pg_table_size` (heap + TOAST + maps, no indexes); \
             rows are exact counts.\n",
            took.join(", ")
        );
        for r in self.scales {
            let _ = writeln!(s, "### Dataset at {}\n", r.label);
            s.push_str(&r.dataset_table());
            s.push('\n');
        }

        s.push_str("## Method\n\n");
        let totals: Vec<String> = self
            .scales
            .iter()
            .map(|r| {
                format!(
                    "{} rows and {} MB at {}",
                    thousands(r.total_rows() as f64),
                    mb(r.total_bytes()),
                    r.label
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "{scales}- Every contender is timed from a freshly created target database (dropped and \
             re-created before each run), with `--jobs {j}` / `-j {j}` where the tool has it \
             (scenarios D and G set their own). \
             Before each run both servers are checkpointed; the source data is warm in memory \
             for every run (it fits in `shared_buffers` + page cache).\n\
             - Runs are interleaved: round 1 runs every contender once, in the order of the \
             tables below, then round 2, and so on; the tables show the **median of {r} run(s)** \
             (mean of the middle two for an even count) and the range. {w} warm-up round(s) \
             of every contender ran first (at every scale) and are listed under \"Every run\" but are not in \
             the medians: the first runs on fresh clusters pay for creating WAL segment files \
             and for cold caches, which a long-lived target does not.\n\
             - **Wall s**: from spawning the contender's one child process to reaping it.\n\
             - **rows/s** and **MB/s**: the source's total rows and total table bytes at that \
             scale ({totals}; `pg_table_size`, 1 MB = 10^6 bytes) divided by the median wall \
             time, the same numerators for every contender of a scale except where a scenario \
             below says otherwise.\n\
             - **Peak RSS MiB**: each contender runs as exactly one child process (`bash -c` for \
             pipelines, with `pipefail`); this is `ru_maxrss` from `wait4(2)` on that child, \
             which on Linux is the largest resident set among that child and all the \
             descendants it waited for (a maximum, not a sum across processes). Server \
             processes are not included. Children are started by a small helper process, not \
             by the harness, because Linux also counts the starting process's own peak \
             (the DSQL emulator of scenario C runs inside the harness). **Client CPU s** is user + system time of the same \
             process tree.\n\
             - **Other programs CPU s**: CPU time the machine spent on programs other than \
             this benchmark (its two clusters, the contender's processes, the harness) during the \
             run: user + system time from `/proc/stat` minus the servers', the contender's, the \
             harness's and kernel threads' CPU time. Before each run the harness waits (up to \
             a minute) for that to drop under a fifth of a CPU. **Steal s**: CPU time the \
             hypervisor gave to other virtual machines while this one wanted it (`/proc/stat` \
             steal); nothing here can avoid it. Neither explains all run-to-run variation on a \
             virtual machine (a busy sibling hyperthread or the host's disk does not show up \
             here), hence the ranges. Values above a tenth of the machine's CPU capacity \
             over the run are marked ⚠ in \"Every run\"; those runs are still in the medians.\n\
             - **Correctness**: a run counts only if it exited 0 and every source table has \
             exactly the source's row count in the target; for the whole migration (B, G) also \
             the same number of valid indexes per table (unique and not), the same validated \
             constraints per table and type, and every sequence's next value at least the \
             source's. A run that fails any of this is reported as failed and not timed. \
             Contents are not compared byte for byte.",
            j = self.jobs,
            r = self.runs,
            w = self.warmup,
            totals = totals.join("; "),
            scales = if self.requested.len() > 1 {
                format!(
                    "- **Scales** (`--scale {}`): the clusters are started once; for each scale \
                     in turn the source database is dropped and generated again at that scale \
                     (untimed), then every contender runs its warm-up and measured rounds at \
                     that scale. Scenarios D and H have source tables of their own, which do \
                     not depend on the scale, so they run at the first scale only.\n",
                    self.scale_arg()
                )
            } else {
                String::new()
            },
        );
        let _ = write!(
            s,
            "- **A. Data into existing tables**: before the clock starts the target gets \
             `pg_dump --schema-only --section=pre-data` of the source (tables, sequences, \
             defaults) plus the primary keys (taken from the source catalog, since `pg_dump` \
             puts them in post-data); no secondary indexes, no foreign keys. Timed: only the \
             data movement. The raw pipe runs, per table, `psql -c \"COPY t TO STDOUT (FORMAT \
             binary)\" SRC | psql -c \"COPY t FROM STDIN (FORMAT binary)\" TGT`, N tables at a \
             time (`xargs -P N`, largest table first): the ceiling for one machine without \
             splitting tables. It sets no sequences; `pg_dump --data-only` and migrator do. \
             migrator runs twice: with its defaults, which also run `ANALYZE` on each table it \
             loaded (neither the pipe nor `pg_dump --data-only | psql` does), and with a config \
             file `[copy] analyze = false`, which leaves the statistics to autovacuum and so \
             does the same work as the pipe: move the data. Issue 7's goal against the pipe \
             (within 10%) is judged on that equal work (\"Issue 7's goals\", under \"Scaling\"); \
             the default's ratio \
             to the pipe is shown next to it, for information, so the price of `ANALYZE` is \
             visible too.\n\
             - **B. Whole migration** into an empty database: schema, data, indexes, \
             constraints, sequences. `pg_dump -Fd` uses its default compression (gzip); its \
             time includes writing and reading the dump directory on the same disk. migrator \
             also runs `ANALYZE`; neither `pg_dump | psql` nor `pg_restore` does.\n\
             - **C. Onto Aurora DSQL**: no machine here can reach AWS, so the target is the \
             DSQL emulator of the test suite (`fixtures::dsql`, era 2026: foreign keys \
             allowed): a PostgreSQL wire-protocol proxy, run inside the harness, in front of a \
             fresh database on the target cluster, enforcing DSQL's limits (3,000 rows and \
             10 MiB per transaction, one DDL per transaction, no DDL with DML, DSQL's \
             unsupported features refused) and rewriting DSQL's `ASYNC` statements. It \
             injects no commit failures here. Every contender is `migrator copy` into that \
             emulator; they differ only in profile, key strategy, write path and batch size. \
             The proxy's CPU is the harness's, not in \"client CPU s\". A run also counts \
             only if the emulator's record of every transaction shows none over 3,000 rows or \
             10 MiB and none mixing DDL and DML (rules-on contenders), and its note gives the \
             number of write transactions and the largest.\n\
             - **D. Blobs**: a separate source table `blob_doc` of {blob_rows} rows, each an \
             incompressible 1 MiB `bytea` value (TOAST stored uncompressed) plus a name; \
             rows/s and MB/s use that table's rows and `pg_table_size`. Every contender is \
             `migrator copy --jobs 4` into a fresh target database: the values kept in the \
             rows (baseline), moved to an S3-protocol server on this machine (`fixtures::s3`: \
             s3s + s3s-fs over HTTP on loopback, started fresh for each run inside the \
             harness, so its CPU is not in \"client CPU s\"; uploads carry their SHA-256, \
             one object per value, no multipart at 1 MiB), or to a local directory. A run \
             counts only if every row arrived and the store holds exactly one object per \
             distinct value with the bytes the rows record. D runs at the first scale only \
             (its table does not depend on `--scale`).\n\
             - **E. Final sync**: for every run the source is a fresh copy of the generated \
             database (`CREATE DATABASE ... TEMPLATE`, untimed). The whole migration is timed \
             with chunk fingerprints (the default) and without (`copy.fingerprints = false`), \
             which prices the fingerprints. For `migrator sync` the copy runs untimed, then a \
             workload changes 1% of every table's rows (0.5% updated, 0.25% deleted, 0.25% \
             inserted past the old end), either spread over the whole key range (every chunk \
             changes: the worst case for chunk fingerprints) or among the newest 2% of each \
             table's keys (where applications usually write); only the sync is timed, \
             and the run counts only if `migrator verify --checksums` is clean afterwards. \
             Sync finds changed rows by transaction ids (the default) or, in the contender \
             that says so, by streaming and fingerprinting every chunk again. \
             The goal: sync at most a quarter of the whole copy's time.\n\
             - **F. Verification** of a target that an untimed `migrator copy` made: a plain \
             `SELECT count(*)` of every table on both sides (N at a time, the baseline), \
             `migrator verify` (exact counts, sequences) and `migrator verify --checksums` \
             (every row of both sides hashed by its server and compared by key).\n\
             - **G. Scaling with `--jobs`**: `migrator copy --jobs N` for N = {curve_jobs}, \
             of the whole database (exactly as B's migrator contender, same check), and of the \
             largest table `{table}` alone ({share}), selected with a config file `[tables] \
             include = [\"public.{table}\"]`. migrator cuts a table into key-range chunks of \
             about `copy.chunk_mib` (128 MiB by default), so `{table}` is one chunk when it is \
             smaller than that and more jobs cannot split it; each run's note gives the chunk \
             count from migrator's summary line. Copying `{table}` alone, migrator leaves out \
             its foreign key to `accounts` (not copied) with a warning; the check for those \
             runs requires `{table}`'s row count, its indexes, its constraints other than that \
             foreign key (which must be absent), and its identity sequence's next value, and \
             their rows/s and MB/s use `{table}`'s rows and bytes. The speed-ups in \
             \"Scaling\" are against {first} job(s).\n\
             - **H. Engine limits** (a one-off measurement, not in the default \
             `--scenarios`): a separate source database, generated once and measured at the \
             first scale only, with two extreme tables: `{rows_table}`, exactly {rows} narrow \
             rows (bigint key, two ints, a text of up to 8 bytes), and `{value_table}`, one \
             row whose `bytea` is a single incompressible {value_mib} MiB value (SHA-256 \
             output, TOAST stored uncompressed). Each contender copies one table into a fresh \
             target database: `migrator copy --jobs {limit_jobs}` with a config file `[tables] \
             include = [\"public.<table>\"]` (postgres profile, the default for a target that \
             is not DSQL), and, for comparison, `pg_dump -t <table> | psql`. A run counts only \
             if the target has the source's row count and, for `{value_table}`, the value's \
             `md5` equals the source's; rows/s and MB/s use that table's rows and \
             `pg_table_size`. The section states a peak RSS bound for migrator on each table \
             and whether its median met it: for `{rows_table}`, {rows_bound} MiB, of the order \
             of the whole migration at 1 GB, because a worker holds a few buffers of a chunk, \
             never a table, so the row count should not matter; for `{value_table}`, \
             PostgreSQL sends each row as one CopyData message, so tokio-postgres must hold the \
             whole row, and to send it on it copies it into its write buffer: {factor}× the \
             value, plus the same {rows_bound} MiB for everything else.\n\n",
            blob_rows = thousands(
                self.scales
                    .first()
                    .map_or(0, |r| r.blob_tables.iter().map(|t| t.rows).sum::<u64>())
                    as f64
            ),
            curve_jobs = contenders::CURVE_JOBS.map(|j| j.to_string()).join(", "),
            table = contenders::CURVE_TABLE,
            first = contenders::CURVE_JOBS[0],
            rows_table = dataset::LIMIT_ROWS_TABLE,
            rows = thousands(dataset::LIMIT_ROWS as f64),
            value_table = dataset::LIMIT_VALUE_TABLE,
            value_mib = dataset::LIMIT_VALUE_BYTES >> 20,
            limit_jobs = contenders::LIMIT_JOBS,
            rows_bound = ROWS_RSS_BOUND_MIB,
            factor = VALUE_RSS_FACTOR,
            share = self
                .scales
                .iter()
                .filter_map(|r| {
                    let t = r
                        .tables
                        .iter()
                        .find(|t| t.name == contenders::CURVE_TABLE)?;
                    Some(format!(
                        "{} MB, {:.0}% of the table bytes, at {}",
                        mb(t.table_bytes),
                        t.table_bytes as f64 / r.total_bytes().max(1) as f64 * 100.0,
                        r.label
                    ))
                })
                .collect::<Vec<_>>()
                .join("; "),
        );

        if scaling::applies(self.scales) {
            s.push_str(&scaling::section(self.scales, self.plot.as_deref()));
        }
        for r in self.scales {
            for scenario in Scenario::ALL {
                if !r.contenders.iter().any(|c| c.scenario == scenario) {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "## {}, at {} (medians, {} run(s) each)\n",
                    scenario_title(scenario),
                    r.label,
                    self.runs
                );
                s.push_str(&r.medians_table(scenario));
                s.push('\n');
                if scenario == Scenario::Dsql {
                    s.push_str(&r.dsql_costs());
                    s.push('\n');
                }
                if scenario == Scenario::Limits {
                    s.push_str(&r.limits_bounds());
                    s.push('\n');
                }
                if scenario == Scenario::DsqlLatency {
                    s.push_str(&r.latency_curve());
                    s.push('\n');
                }
            }
        }
        for r in self.scales {
            let _ = writeln!(s, "## Every run at {}\n", r.label);
            s.push_str(&r.raw_table());
            s.push('\n');
        }
        for r in self.scales {
            let failures = r.failures();
            if !failures.is_empty() {
                let _ = writeln!(s, "## Failures at {}\n", r.label);
                s.push_str(&failures);
            }
        }
        s
    }

    /// The JSON form of the same results: every scale's, and the scaling section's.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "command": self.command,
            "date": self.date,
            "scales_requested": self.requested.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "runs": self.runs,
            "warmup": self.warmup,
            "jobs": self.jobs,
            "machine": self.machine.iter().map(|(k, v)| serde_json::json!([k, v])).collect::<Vec<_>>(),
            "scales": self.scales.iter().map(ScaleRun::json).collect::<Vec<_>>(),
            "scaling": scaling::json(self.scales),
        })
    }
}

/// A scenario's section title.
pub fn scenario_title(s: Scenario) -> &'static str {
    match s {
        Scenario::DataOnly => "A. Data movement into existing tables",
        Scenario::Full => "B. Whole migration into an empty database",
        Scenario::Dsql => "C. Whole migration onto (emulated) Aurora DSQL",
        Scenario::Blobs => "D. A table of 1 MiB files: values in the rows or in a blob store",
        Scenario::Sync => "E. Final sync after 1% of the rows changed, against the whole copy",
        Scenario::Verify => "F. Verification: counts and every row, against a plain count(*)",
        Scenario::JobsCurve => {
            "G. Scaling with --jobs: the whole migration and its largest table alone"
        }
        Scenario::Limits => {
            "H. Engine limits: peak RSS on 10 M narrow rows and on one 500 MiB value"
        }
        Scenario::DsqlLatency => {
            "I. The DSQL profile against commit latency and --jobs (emulated DSQL)"
        }
    }
}

/// Scenario H's peak RSS bound for `migrator copy` of
/// [`LIMIT_ROWS_TABLE`](dataset::LIMIT_ROWS_TABLE), in MiB. What a copy holds does not grow
/// with the row count (a few buffers of a chunk per worker, a block of row digests), so it
/// should stay of the order of the whole migration at 1 GB: 33–36 MiB at 2 jobs (scenario
/// B, BENCHMARKS.md at d66dd77). The bound is about twice that.
pub const ROWS_RSS_BOUND_MIB: f64 = 64.0;

/// Scenario H's bound for [`LIMIT_VALUE_TABLE`](dataset::LIMIT_VALUE_TABLE), as a multiple
/// of the value's size, plus [`ROWS_RSS_BOUND_MIB`] for everything else. PostgreSQL sends a
/// row as one CopyData message and tokio-postgres holds it whole (1×); to send it on,
/// tokio-postgres's COPY sink copies what it is given into the connection's write buffer
/// while that is still alive (1× more). Twice the value is the least a copy through
/// tokio-postgres can hold.
pub const VALUE_RSS_FACTOR: f64 = 2.0;

/// Scenario H's bound for `table`, in MiB, and how it is set (`None`: not one of H's).
pub fn limit_bound(table: &str) -> Option<(f64, String)> {
    match table {
        dataset::LIMIT_ROWS_TABLE => Some((
            ROWS_RSS_BOUND_MIB,
            format!(
                "independent of the row count: about twice the 1 GB whole migration's 33–36 MiB \
                 at 2 jobs, {ROWS_RSS_BOUND_MIB:.0} MiB"
            ),
        )),
        dataset::LIMIT_VALUE_TABLE => {
            let value_mib = dataset::LIMIT_VALUE_BYTES as f64 / 1024.0 / 1024.0;
            Some((
                VALUE_RSS_FACTOR * value_mib + ROWS_RSS_BOUND_MIB,
                format!(
                    "{VALUE_RSS_FACTOR:.0} × the {value_mib:.0} MiB value (the row arrives as one \
                     CopyData message, which tokio-postgres holds whole and copies into its \
                     write buffer to send on) + {ROWS_RSS_BOUND_MIB:.0} MiB for the rest"
                ),
            ))
        }
        _ => None,
    }
}

/// `measured ÷ bound` and whether the measured peak RSS (MiB, or why there is none) is at
/// most the bound.
pub fn bound_verdict(measured: &Result<f64, String>, bound_mib: f64) -> (Option<f64>, Verdict) {
    match measured {
        Ok(m) => (
            Some(m / bound_mib),
            if *m <= bound_mib {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
        ),
        Err(why) => (None, Verdict::Unmeasured(why.clone())),
    }
}

/// One of scenario H's peak RSS bounds, judged on migrator's median at one scale.
#[derive(Debug, Clone)]
pub struct LimitCheck {
    /// The table copied.
    pub table: &'static str,
    /// migrator's contender on it (its key).
    pub key: String,
    pub bound_mib: f64,
    /// How the bound is set, in words (Markdown).
    pub derivation: String,
    /// migrator's median peak RSS in MiB, or why there is none.
    pub measured: Result<f64, String>,
    /// `measured ÷ bound`.
    pub ratio: Option<f64>,
    pub verdict: Verdict,
}

/// Whether other programs, and whether steal, took more than a tenth of the machine's CPU
/// capacity during the run.
pub fn busy(o: &Outcome) -> (bool, bool) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let cap = 0.1 * cpus * o.wall.as_secs_f64();
    match o.outside {
        Some(x) => (x.other > cap, x.steal > cap),
        None => (false, false),
    }
}

/// Steal over `results`, as a share of their CPU capacity (`None` without data).
pub fn steal_share<'a>(results: impl IntoIterator<Item = &'a RunResult>) -> Option<f64> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let (mut steal, mut cap) = (0.0, 0.0);
    for r in results {
        let o = match r {
            RunResult::Ok(o, _, _) => Some(o),
            RunResult::Failed { outcome, .. } => outcome.as_ref(),
            RunResult::Unavailable(_) => None,
        };
        if let Some(o) = o
            && let Some(x) = o.outside
        {
            steal += x.steal;
            cap += cpus * o.wall.as_secs_f64();
        }
    }
    (cap > 0.0).then(|| steal / cap)
}

/// Text for a Markdown table cell.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("");
    let l = l.replace('|', "\\|");
    if l.chars().count() > 160 {
        format!("{}…", l.chars().take(160).collect::<String>())
    } else {
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_formatting() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        let o = |s| {
            RunResult::Ok(
                Outcome {
                    wall: Duration::from_secs(s),
                    max_rss_kib: 2048,
                    cpu: Duration::from_secs(1),
                    failure: None,
                    outside: None,
                },
                None,
                None,
            )
        };
        let failed = RunResult::Failed {
            reason: "x".into(),
            command: None,
            outcome: None,
            log: None,
            log_tail: String::new(),
        };
        let m = summarize(&[o(3), failed.clone(), o(5)]).unwrap();
        assert_eq!(m.ok_runs, 2);
        assert_eq!(m.wall, 4.0);
        assert_eq!(m.max_rss_mib, 2.0);
        assert!(summarize(&[failed]).is_none());
    }

    #[test]
    fn scenario_h_bounds() {
        let (rows, how) = limit_bound(dataset::LIMIT_ROWS_TABLE).unwrap();
        assert_eq!(rows, 64.0);
        assert!(how.contains("independent of the row count"), "{how}");
        // 2 × 500 MiB + 64 MiB.
        let (value, how) = limit_bound(dataset::LIMIT_VALUE_TABLE).unwrap();
        assert_eq!(value, 1064.0);
        assert!(how.starts_with("2 × the 500 MiB value"), "{how}");
        assert!(limit_bound("documents").is_none());
        assert_eq!(bound_verdict(&Ok(64.0), 64.0), (Some(1.0), Verdict::Met));
        assert_eq!(bound_verdict(&Ok(64.5), 64.0).1, Verdict::NotMet);
        assert_eq!(
            bound_verdict(&Err("no successful run".into()), 64.0),
            (None, Verdict::Unmeasured("no successful run".into()))
        );
    }

    /// H's four contenders with made-up runs: migrator at 30 MiB on the narrow table (one
    /// run failed) and 1,200 MiB on the value; pg_dump's value run failed both times.
    #[test]
    fn scenario_h_section() {
        let contenders: Vec<Contender> = contenders::all(2, None)
            .into_iter()
            .filter(|c| c.scenario == Scenario::Limits)
            .collect();
        let ok = |wall: u64, rss_mib: u64| {
            RunResult::Ok(
                Outcome {
                    wall: Duration::from_secs(wall),
                    max_rss_kib: rss_mib * 1024,
                    cpu: Duration::from_secs(2),
                    failure: None,
                    outside: None,
                },
                None,
                None,
            )
        };
        let failed = RunResult::Failed {
            reason: "it exited 0 but its result is wrong".into(),
            command: None,
            outcome: None,
            log: None,
            log_tail: String::new(),
        };
        let results = vec![
            vec![ok(10, 30), failed.clone()],
            vec![ok(20, 12), ok(22, 12)],
            vec![ok(5, 1200), ok(5, 1200)],
            vec![failed.clone(), failed],
        ];
        let stat = |name: &str, rows: u64, bytes: u64| TableStat {
            name: name.into(),
            columns: 2,
            rows,
            table_bytes: bytes,
            index_bytes: 0,
        };
        let run = ScaleRun {
            scale: Scale::Mb100,
            label: "100mb".into(),
            tables: Vec::new(),
            blob_tables: Vec::new(),
            limit_tables: vec![
                stat("limit_value", 1, 525_000_000),
                stat("limit_rows", 10_000_000, 500_000_000),
            ],
            generation: Duration::from_secs(1),
            warmups: vec![Vec::new(); contenders.len()],
            contenders,
            results,
        };
        let table = run.medians_table(Scenario::Limits);
        for needle in [
            // 500 MB in 10 s.
            "| limit_rows | migrator copy --jobs 2, table limit_rows only | 1/2 | 10.0 | 10.0–10.0 | 50.0 | 30 | 2.0 |",
            "| limit_rows | pg_dump -t limit_rows \\| psql | 2/2 | 21.0 | 20.0–22.0 | 23.8 | 12 | 2.0 |",
            "| limit_value | pg_dump -t limit_value \\| psql | 0/2 | **failed** (see below) |",
        ] {
            assert!(table.contains(needle), "no {needle:?} in\n{table}");
        }
        let bounds = run.limits_bounds();
        for needle in [
            "| limit_rows | 10,000,000 | 500.0 | 64 | independent of the row count",
            "| 30 | 0.47 | **met** |",
            "| limit_value | 1 | 525.0 | 1,064 | 2 × the 500 MiB value",
            "| 1200 | 1.13 | **not met** |",
        ] {
            assert!(bounds.contains(needle), "no {needle:?} in\n{bounds}");
        }
        assert!(!bounds.contains("For comparison"));
        let checks = run.limit_checks();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].key, "h-limit_rows-migrator");
        let json = run.json();
        assert_eq!(json["limit_bounds"][1]["verdict"], "not met");
        assert_eq!(json["limit_bounds"][1]["bound_mib"], 1064.0);
        assert_eq!(json["limit_tables"][1]["rows"], 10_000_000);
    }
}
