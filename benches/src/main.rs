//! `bench`: measures `migrator copy` side by side with the usual PostgreSQL migration tools,
//! on the same generated data, in one run, and writes the results to BENCHMARKS.md.
//!
//! ```text
//! cargo build --release -p migrator-cli -p migrator-benches
//! cargo run --release -p migrator-benches -- [--scale 100mb|1gb|5gb[,...]] [--runs 3]
//!     [--jobs 2] [--warmup 1] [--scenarios a,b,c,d,e,f,g,h,i] [--out BENCHMARKS.md] [--json FILE]
//!     [--quiet-wait 60] [--keep-logs]
//! ```
//!
//! What one invocation does:
//! 1. starts two throwaway PostgreSQL clusters (source and target) with the same
//!    load-friendly settings (`fixtures::Cluster`, which already runs with `fsync = off`);
//! 2. for each scale of `--scale`, in the order given:
//!    1. generates a deterministic dataset at that scale in the source ([`dataset`]),
//!       untimed, replacing the previous scale's;
//!    2. runs every contender ([`contenders`]) `--warmup` rounds untimed and then `--runs`
//!       rounds timed, interleaved round by round, each run from a fresh target database,
//!       timing one child process per run ([`measure`]), recording what else used the CPUs
//!       meanwhile ([`noise`]), and accepting the run only if its result checks out
//!       (scenarios D and H, whose tables do not depend on the scale, at the first scale
//!       only);
//!    3. writes the report so far (so a long run that stops keeps the scales it finished);
//! 3. writes the machine ([`machine`]), every scale's dataset, medians, rates, peak RSS and
//!    runs to `--out` ([`report`]), with a scaling section ([`scaling`]: time against data
//!    size and against `--jobs`, issue 7's goals met or not) and its plot, an SVG next to
//!    `--out` ([`plot`]), and prints the same tables.
//!
//! Time on 2 CPUs, per scale with the default scenarios (a,b,c,d): `100mb` about 4
//! minutes, `1gb` about 35 minutes (generation about a minute; `pg_dump -Fd` and the DSQL
//! contenders are the slowest), `5gb` a few hours. Scenario G adds six `migrator copy`
//! runs per round (three whole migrations, three of the largest table). The issue-7 report,
//! `--scale 100mb,1gb,5gb --scenarios a,b,g` with 1 warm-up and 3 runs, takes about 2½
//! hours, nearly all of it at 5gb; with every scenario, 5gb alone takes several hours.
//! `--scenarios` picks a subset. Scenario H (engine limits: peak RSS on 10 M narrow rows and
//! on one 500 MiB value) is a one-off measurement, not in the default list: its tables take
//! about half a minute to generate and a round of its four runs under a minute, but it
//! needs a few GiB of memory (`pg_dump` holds the value as hex text, twice over: 2 GiB).
//! Scenario I (the DSQL profile at 0, 5 and 20 ms a commit against 2, 8, 32 and 64 jobs,
//! twelve runs a round) is not in the default list either: at 100mb, 3 runs take about 6
//! minutes (BENCHMARKS-dsql-latency.md).
//!
//! It runs the `migrator` binary that sits next to its own executable (same target
//! directory and profile), building it with cargo only if it is missing, and copies it
//! aside first so that a concurrent build cannot swap it mid-run. It never asserts anything
//! about timings: a slow contender is a result, a wrong one is a failure.

mod contenders;
mod dataset;
mod machine;
mod measure;
mod noise;
mod plot;
mod report;
mod scaling;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use fixtures::{Cluster, ClusterOptions};

use contenders::{Bench, Contender, Scenario};
use dataset::Scale;
use report::{Report, RunResult, ScaleRun};

/// `--scenarios` when not given (the report leaves it out of its command line then).
pub const DEFAULT_SCENARIOS: &str = "a,b,c,d";

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Benchmark `migrator copy` against pg_dump/pg_restore and raw COPY pipes on generated data."
)]
struct Args {
    /// Dataset sizes (total pg_table_size of the source tables), comma-separated: each is
    /// generated and measured in turn, in the order given (e.g. 100mb,1gb,5gb for the
    /// scaling curve; a scale may repeat).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "1gb")]
    scale: Vec<Scale>,
    /// Runs per contender; the report shows medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Warm-up rounds before the measured ones (every contender once per round; shown in
    /// the report but not in the medians).
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Parallel jobs for every contender that has such an option.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: u32,
    /// Where to write the Markdown report (default: BENCHMARKS.md at the workspace root).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the raw results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The migrator binary to measure (default: `migrator` next to this executable).
    #[arg(long)]
    migrator: Option<PathBuf>,
    /// Before each timed run, wait up to this many seconds for other work on the machine
    /// to use less than a fifth of a CPU (0: do not wait).
    #[arg(long, default_value_t = 60)]
    quiet_wait: u64,
    /// Keep the scratch directory (per-run logs) even when every run succeeded.
    #[arg(long)]
    keep_logs: bool,
    /// Scenario D: rows of 1 MiB each in its table.
    #[arg(long, default_value_t = 2000)]
    blob_rows: u32,
    /// Which scenarios to run: a (data only), b (whole migration), c (onto emulated DSQL),
    /// d (1 MiB files kept in the rows or moved to a blob store; first scale only),
    /// e (final sync), f (verification), g (whole migration and largest table at 1, 2 and 4
    /// jobs), h (engine limits: peak RSS on 10 M narrow rows and on one 500 MiB value; first
    /// scale only; not in the default), i (the DSQL profile at 0, 5 and 20 ms a commit and 2,
    /// 8, 32 and 64 jobs; not in the default).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_SCENARIOS)]
    scenarios: Vec<ScenarioArg>,
    /// After generating each scale's dataset, print both URLs and wait for Enter before
    /// measuring (to look at the databases by hand).
    #[arg(long)]
    pause: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum ScenarioArg {
    A,
    B,
    C,
    D,
    E,
    F,
    G,
    H,
    I,
}

impl ScenarioArg {
    fn of(s: Scenario) -> ScenarioArg {
        match s {
            Scenario::DataOnly => ScenarioArg::A,
            Scenario::Full => ScenarioArg::B,
            Scenario::Dsql => ScenarioArg::C,
            Scenario::Blobs => ScenarioArg::D,
            Scenario::Sync => ScenarioArg::E,
            Scenario::Verify => ScenarioArg::F,
            Scenario::JobsCurve => ScenarioArg::G,
            Scenario::Limits => ScenarioArg::H,
            Scenario::DsqlLatency => ScenarioArg::I,
        }
    }
}

/// The workspace root (this package lives in `<root>/benches`).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The `migrator` binary: `--migrator`, else next to this executable, built with cargo in
/// the same profile and target directory if it is not there yet.
fn find_migrator(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("--migrator {}: no such file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", exe.display()))?;
    let bin = dir.join("migrator");
    let profile = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if profile != "release" {
        eprintln!(
            "warning: running from the '{profile}' profile: its migrator is not an optimized \
             build and its numbers are not representative (use --release)"
        );
    }
    if bin.is_file() {
        return Ok(bin);
    }
    let target_dir = dir
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", dir.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", "migrator-cli", "--target-dir"])
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    println!("{} is missing; building it: {cmd:?}", bin.display());
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo to build migrator: {e}"))?;
    if !status.success() || !bin.is_file() {
        return Err(format!(
            "building migrator failed ({status}); run `cargo build --release -p migrator-cli` \
             first"
        ));
    }
    Ok(bin)
}

/// `which`: the first executable named `name` on `$PATH`.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The command line as it was typed: the `cargo run` form when cargo started us (cargo
/// sets `CARGO_PKG_NAME` for the program it runs), else the executable's own argv.
fn invocation() -> String {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_else(|| "bench".into());
    let rest: String = argv.map(|a| format!(" {a}")).collect();
    if std::env::var_os("CARGO_PKG_NAME").is_some() {
        let profile = std::env::current_exe()
            .ok()
            .and_then(|e| Some(e.parent()?.file_name()?.to_string_lossy().to_string()))
            .unwrap_or_default();
        let flag = match profile.as_str() {
            "release" => " --release".to_string(),
            "debug" => String::new(),
            other => format!(" --profile {other}"),
        };
        format!("cargo run{flag} -p migrator-benches --{rest}")
    } else {
        format!("{argv0}{rest}")
    }
}

fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "at an unknown date".into())
}

/// Settings for both clusters, on top of the fixtures' (fsync off, etc.). `wal_level` stays
/// at its default so that loads are WAL-logged as on a managed target.
fn cluster_options() -> ClusterOptions {
    let settings = [
        ("shared_buffers", "1GB"),
        ("maintenance_work_mem", "512MB"),
        ("work_mem", "64MB"),
        ("max_wal_size", "8GB"),
        ("checkpoint_timeout", "30min"),
    ];
    ClusterOptions {
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ClusterOptions::default()
    }
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(measure::SPAWNER_ARG) {
        return measure::serve_spawner();
    }
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let command = invocation();
    let migrator = find_migrator(args.migrator.clone())?;
    let pgcopydb = which("pgcopydb");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("BENCHMARKS.md"));
    let jobs = args.jobs as usize;
    let runs = args.runs as usize;
    println!("migrator: {}", migrator.display());
    match &pgcopydb {
        Some(p) => println!("pgcopydb: {}", p.display()),
        None => {
            println!("pgcopydb: not installed (`which pgcopydb` found nothing); recorded as such")
        }
    }

    // Started first, while this process is small (see `measure`).
    let mut spawner = measure::Spawner::start()?;
    let load_at_start = machine::load_average();
    let mut scratch = Scratch {
        path: std::env::temp_dir().join(format!("migrator-bench-{}", std::process::id())),
        keep: args.keep_logs,
    };
    let work = scratch.path.clone();
    std::fs::create_dir_all(work.join("logs"))
        .map_err(|e| format!("creating {}: {e}", work.display()))?;
    // Other builds may replace target/release/migrator while this runs: every run uses one
    // private copy, taken now.
    let pinned = work.join("migrator");
    let pin = || -> std::io::Result<()> {
        let built = std::fs::metadata(&migrator)?.modified()?;
        std::fs::copy(&migrator, &pinned)?;
        // Keep the build time, which the report states.
        std::fs::File::options()
            .write(true)
            .open(&pinned)?
            .set_modified(built)
    };
    pin().map_err(|e| {
        format!(
            "copying {} to {}: {e}",
            migrator.display(),
            pinned.display()
        )
    })?;

    println!("starting the source and target clusters");
    let source = Cluster::start_with(cluster_options())
        .map_err(|e| format!("starting the source cluster: {e}"))?;
    let target = Cluster::start_with(cluster_options())
        .map_err(|e| format!("starting the target cluster: {e}"))?;
    let (source_db, target_db, sync_db) = ("bench_src", "bench_tgt", "bench_sync");

    // Scenario D's table does not depend on the scale: generated once, measured at the
    // first scale only.
    let blob_db = "bench_blobs";
    let blob_tables = if args.scenarios.contains(&ScenarioArg::D) {
        println!(
            "generating scenario D's table: {} rows of 1 MiB (untimed)",
            args.blob_rows
        );
        let t0 = Instant::now();
        dataset::generate_blobs(&source, blob_db, args.blob_rows)?;
        println!("  generated in {:.0} s", t0.elapsed().as_secs_f64());
        dataset::table_stats(&source, blob_db)?
    } else {
        Vec::new()
    };
    // Scenario H's tables, likewise.
    let limits_db = "bench_limits";
    let limit_tables = if args.scenarios.contains(&ScenarioArg::H) {
        println!(
            "generating scenario H's tables: {} narrow rows, one value of {} MiB (untimed)",
            dataset::LIMIT_ROWS,
            dataset::LIMIT_VALUE_BYTES >> 20
        );
        let t0 = Instant::now();
        dataset::generate_limits(&source, limits_db)?;
        println!("  generated in {:.0} s", t0.elapsed().as_secs_f64());
        dataset::table_stats(&source, limits_db)?
    } else {
        Vec::new()
    };

    let machine = machine::describe(&target, &migrator, &pinned, &workspace_root())?;
    let watch = noise::Watch::new(&[&source.data_dir(), &target.data_dir()]);
    let quiet_wait = Duration::from_secs(args.quiet_wait);
    let warmup = args.warmup as usize;
    let mut scales: Vec<ScaleRun> = Vec::new();
    let mut failures = 0;
    for (n, &scale) in args.scale.iter().enumerate() {
        let label = scale_label(&args.scale, n);
        let first = n == 0;
        println!("\n== {label} ({} of {})", n + 1, args.scale.len());
        if !first {
            // What the previous scale left besides the source (which `generate` replaces):
            // scenario E's copy of it and the last run's target.
            for (cluster, db) in [(&source, sync_db), (&target, target_db)] {
                cluster
                    .psql(
                        "postgres",
                        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
                    )
                    .map_err(|e| format!("dropping {db}: {e}"))?;
            }
        }
        println!("generating the {label} dataset in the source (untimed)");
        let t0 = Instant::now();
        dataset::generate(&source, source_db, scale)?;
        let generation = t0.elapsed();
        let tables = dataset::table_stats(&source, source_db)?;
        let total_rows: u64 = tables.iter().map(|t| t.rows).sum();
        let total_bytes: u64 = tables.iter().map(|t| t.table_bytes).sum();
        println!(
            "generated in {:.0} s: {} tables, {total_rows} rows, {:.1} MB of tables",
            generation.as_secs_f64(),
            tables.len(),
            total_bytes as f64 / 1e6
        );
        for t in &tables {
            println!(
                "  {:<12} {:>10} rows {:>9.1} MB",
                t.name,
                t.rows,
                t.table_bytes as f64 / 1e6
            );
        }

        if args.pause {
            println!(
                "source: {}\ntarget cluster: {}\npress Enter to go on",
                source.url(source_db),
                target.url("postgres")
            );
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }

        let contenders: Vec<Contender> = contenders::all(jobs, pgcopydb.as_deref())
            .into_iter()
            .filter(|c| args.scenarios.contains(&ScenarioArg::of(c.scenario)))
            .filter(|c| first || !c.scenario.first_scale_only())
            .collect();
        let bench = Bench {
            source: &source,
            target: &target,
            source_db,
            target_db,
            jobs,
            migrator: &pinned,
            pgcopydb: pgcopydb.as_deref(),
            work: &work,
            tables: &tables,
            emulator: Default::default(),
            blob_db: (first && !blob_tables.is_empty()).then_some(blob_db),
            s3: Default::default(),
            sync_db,
            limits_db: (first && !limit_tables.is_empty()).then_some(limits_db),
            limit_tables: &limit_tables,
        };
        bench.write_schema_files()?;

        let mut results: Vec<Vec<RunResult>> = vec![Vec::new(); contenders.len()];
        let mut warmups: Vec<Vec<RunResult>> = vec![Vec::new(); contenders.len()];
        for round in 1..=warmup + runs {
            let (name, counted) = if round <= warmup {
                (format!("warm-up {round}"), false)
            } else {
                (format!("run {}", round - warmup), true)
            };
            println!(
                "{label}: {name} of {}{}",
                if counted { runs } else { warmup },
                if counted { "" } else { " (not counted)" }
            );
            for (i, c) in contenders.iter().enumerate() {
                if let Some(why) = &c.unavailable {
                    if round == warmup + 1 {
                        println!("  {:<48} {why}", c.label);
                        results[i].push(RunResult::Unavailable(why.clone()));
                    }
                    continue;
                }
                let tag = format!(
                    "{}-{}",
                    label.replace([' ', '#'], ""),
                    name.replace(' ', "")
                );
                let r = run_once(&bench, &mut spawner, c, &tag, &watch, quiet_wait)?;
                print_result(c, &r);
                if matches!(r, RunResult::Failed { .. }) {
                    failures += 1;
                    scratch.keep = true;
                }
                if counted {
                    results[i].push(r);
                } else {
                    warmups[i].push(r);
                }
            }
        }
        drop(bench);

        let run = ScaleRun {
            scale,
            label,
            tables,
            blob_tables: if first {
                blob_tables.clone()
            } else {
                Vec::new()
            },
            limit_tables: if first {
                limit_tables.clone()
            } else {
                Vec::new()
            },
            generation,
            contenders,
            results,
            warmups,
        };
        println!("\nDataset at {}\n\n{}", run.label, run.dataset_table());
        for scenario in Scenario::ALL {
            if !run.contenders.iter().any(|c| c.scenario == scenario) {
                continue;
            }
            println!(
                "{}, at {} (medians, {runs} run(s) each)\n\n{}",
                report::scenario_title(scenario),
                run.label,
                run.medians_table(scenario)
            );
            if scenario == Scenario::Dsql {
                println!("{}", run.dsql_costs());
            }
            if scenario == Scenario::Limits {
                println!("{}", run.limits_bounds());
            }
            if scenario == Scenario::DsqlLatency {
                println!("{}", run.latency_curve());
            }
        }
        scales.push(run);

        // After every scale, so that a long invocation that stops keeps what it measured.
        let mut report = Report {
            command: command.clone(),
            date: now_utc(),
            runs,
            jobs,
            machine: machine_facts(&machine, &scales, &load_at_start),
            warmup,
            requested: &args.scale,
            scales: &scales,
            plot: None,
        };
        write_report(&mut report, &out, args.json.as_deref())?;
    }
    if scaling::applies(&scales) {
        println!("\n{}", scaling::section(&scales, None));
    }

    if failures > 0 {
        println!(
            "{failures} run(s) failed; their logs are kept in {}",
            work.join("logs").display()
        );
    } else if args.keep_logs {
        println!("logs kept in {}", work.join("logs").display());
    }
    Ok(())
}

/// `machine` and what the runs so far add to it: the CPU steal during them and the load
/// average before and now.
fn machine_facts(
    machine: &[(String, String)],
    scales: &[ScaleRun],
    load_at_start: &str,
) -> Vec<(String, String)> {
    let mut facts = machine.to_vec();
    if let Some(share) = report::steal_share(scales.iter().flat_map(|r| r.results.iter().flatten()))
    {
        facts.push((
            "CPU steal during the measured runs".into(),
            format!(
                "{:.0}% of the VM's CPU capacity went to other virtual machines on the host \
                 (see \"steal s\" under Every run)",
                share * 100.0
            ),
        ));
    }
    facts.push((
        "load average (1/5/15 min)".into(),
        format!(
            "{load_at_start} before the clusters started, {} at the end (the latter \
             includes the benchmark's own load)",
            machine::load_average()
        ),
    ));
    facts
}

/// What the report calls scale `n` of `scales`: its name, numbered when it is given more
/// than once.
fn scale_label(scales: &[Scale], n: usize) -> String {
    let name = scales[n].name();
    if scales.iter().filter(|s| **s == scales[n]).count() > 1 {
        let nth = scales[..=n].iter().filter(|s| **s == scales[n]).count();
        format!("{name} #{nth}")
    } else {
        name.to_string()
    }
}

/// The scaling plot's file: next to the report, named after it (`BENCHMARKS.md`:
/// `BENCHMARKS-scaling.svg`).
fn plot_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "BENCHMARKS".into());
    out.with_file_name(format!("{stem}-scaling.svg"))
}

/// Writes `report` to `out`, its scaling plot next to it (when it has a scaling section;
/// a plot that cannot be drawn is left out with a warning) and, with `json`, the JSON
/// results.
fn write_report(report: &mut Report, out: &Path, json: Option<&Path>) -> Result<(), String> {
    report.plot = None;
    if scaling::applies(report.scales) {
        let path = plot_path(out);
        match plot::svg(&scaling::panels(report.scales)) {
            Ok(svg) => {
                std::fs::write(&path, svg)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                println!("wrote {}", path.display());
                report.plot = path.file_name().map(|n| n.to_string_lossy().to_string());
            }
            Err(e) => println!("warning: no scaling plot: {e}"),
        }
    }
    std::fs::write(out, report.markdown())
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!("wrote {}", out.display());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report.json())
            .map_err(|e| format!("encoding the JSON results: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The scratch directory (pinned migrator copy, schema files, scripts, logs, dump
/// directories). Removed when dropped, also after an error; with `keep`, only the logs and
/// small files stay.
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            let _ = std::fs::remove_file(self.path.join("migrator"));
            let _ = std::fs::remove_dir_all(self.path.join("dump-dir"));
            let _ = std::fs::remove_dir_all(self.path.join("pgcopydb-dir"));
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Prints one run's outcome (and, for a failure, the command, log and its last lines).
fn print_result(c: &Contender, r: &RunResult) {
    match r {
        RunResult::Ok(o, note, _) => println!(
            "  {:<48} {:>8.2} s  {:>4.0} MiB peak RSS  other programs {:>4.1} s{}  steal {:>4.1} s{}{}",
            c.label,
            o.wall.as_secs_f64(),
            o.max_rss_kib as f64 / 1024.0,
            o.outside.map_or(0.0, |x| x.other),
            if report::busy(o).0 { " ⚠" } else { "" },
            o.outside.map_or(0.0, |x| x.steal),
            if report::busy(o).1 { " ⚠" } else { "" },
            note.as_ref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        ),
        RunResult::Failed {
            reason,
            command,
            log,
            log_tail,
            ..
        } => {
            println!("  {:<48} FAILED: {reason}", c.label);
            if let Some(command) = command {
                println!("    command: {command}");
            }
            if let Some(log) = log {
                println!("    log: {}", log.display());
            }
            for line in log_tail.lines() {
                println!("    | {line}");
            }
        }
        RunResult::Unavailable(why) => println!("  {:<48} {why}", c.label),
    }
}

/// One run of `c`: prepare (untimed), run (timed), check (untimed). Errors are the
/// harness's own (it cannot prepare a target); a contender's failure is a `Failed` result.
fn run_once(
    bench: &Bench,
    spawner: &mut measure::Spawner,
    c: &Contender,
    tag: &str,
    watch: &noise::Watch,
    quiet_wait: Duration,
) -> Result<RunResult, String> {
    bench
        .prepare(c)
        .map_err(|e| format!("preparing the target for {}: {e}", c.label))?;
    let mut notes = Vec::new();
    if !quiet_wait.is_zero() {
        let (waited, quiet) = watch.wait_quiet(0.2, quiet_wait);
        if !quiet {
            notes.push(format!(
                "machine still busy after waiting {:.0} s",
                waited.as_secs_f64()
            ));
        } else if waited > Duration::from_secs(2) {
            println!(
                "  (waited {:.0} s for other work on the machine to stop)",
                waited.as_secs_f64()
            );
        }
    }
    let cmd = bench.command(c)?;
    let shown = format!("{cmd:?}");
    let log = bench.work.join("logs").join(format!("{}-{tag}.log", c.key));
    let failed = |reason: String, outcome| RunResult::Failed {
        log_tail: measure::log_tail(&log, 15),
        reason,
        command: Some(shown.clone()),
        outcome,
        log: Some(log.clone()),
    };
    let mark = watch.mark();
    let mut outcome = match spawner.run(&cmd, &log) {
        Ok(o) => o,
        Err(e) => return Ok(failed(format!("could not run it: {e}"), None)),
    };
    outcome.outside = Some(watch.outside_since(&mark, outcome.cpu.as_secs_f64()));
    if let Some(how) = &outcome.failure {
        return Ok(failed(format!("it ended with {how}"), Some(outcome)));
    }
    match bench.check(c) {
        Ok(stats) => {
            notes.extend(bench.phase_note(c, &log));
            if let Some(t) = &stats {
                notes.push(format!(
                    "{} write transactions, at most {} rows and at most {:.0} KiB in one; {} DDL transactions",
                    t.write_txns,
                    t.max_rows,
                    t.max_bytes as f64 / 1024.0,
                    t.ddl_txns
                ));
            }
            let note = (!notes.is_empty()).then(|| notes.join("; "));
            Ok(RunResult::Ok(outcome, note, stats))
        }
        Err(wrong) => Ok(failed(
            format!("it exited 0 but its result is wrong: {wrong}"),
            Some(outcome),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_labels_and_plot_path() {
        let scales = [Scale::Mb100, Scale::Gb1, Scale::Mb100];
        let labels: Vec<String> = (0..3).map(|n| scale_label(&scales, n)).collect();
        assert_eq!(labels, ["100mb #1", "1gb", "100mb #2"]);
        assert_eq!(
            plot_path(Path::new("/w/BENCHMARKS.md")),
            Path::new("/w/BENCHMARKS-scaling.svg")
        );
        assert_eq!(
            plot_path(Path::new("smoke.md")),
            Path::new("smoke-scaling.svg")
        );
    }

    #[test]
    fn scale_list_parses() {
        let args = Args::try_parse_from([
            "bench",
            "--scale",
            "100mb,1gb,5gb",
            "--scenarios",
            "a,b,g,h",
        ])
        .unwrap();
        assert_eq!(args.scale, [Scale::Mb100, Scale::Gb1, Scale::Gb5]);
        assert_eq!(
            args.scenarios,
            [
                ScenarioArg::A,
                ScenarioArg::B,
                ScenarioArg::G,
                ScenarioArg::H
            ]
        );
        let h = Args::try_parse_from(["bench", "--scenarios", "h"]).unwrap();
        assert_eq!(h.scenarios, [ScenarioArg::H]);
        assert_eq!(ScenarioArg::of(Scenario::Limits), ScenarioArg::H);
        let default = Args::try_parse_from(["bench"]).unwrap();
        assert_eq!(default.scale, [Scale::Gb1]);
        let letters: Vec<String> = default
            .scenarios
            .iter()
            .map(|s| format!("{s:?}").to_lowercase())
            .collect();
        assert_eq!(letters.join(","), DEFAULT_SCENARIOS);
        // H is a one-off measurement: only when asked for.
        assert!(!default.scenarios.contains(&ScenarioArg::H));
    }
}
