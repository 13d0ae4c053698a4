//! How the CLI shows plans, progress and reports to people: tables on stdout, progress bars
//! on stderr (only on a terminal).

use std::collections::HashMap;
use std::io::IsTerminal;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use migrator_core::plan::{Severity, StepKind};
use migrator_core::{
    CopySummary, Error, Event, Migration, Plan, QualName, SyncSummary, VerifyReport,
};

/// How to stop the copy or sync in progress, while one is.
type Stop = Box<dyn FnOnce() + Send>;
static RUNNING: std::sync::Mutex<Option<Stop>> = std::sync::Mutex::new(None);

/// Ctrl-C for the whole process. The first stops the copy or sync in progress at its next
/// safe point: no new chunk starts, open transactions roll back, the target stays
/// resumable. With none in progress (connecting, planning, verifying), or at a second
/// Ctrl-C, the process exits at once with 130; that is safe too, since rows commit only
/// together with their manifest rows.
pub fn handle_ctrl_c() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        let running = RUNNING.lock().map(|mut r| r.take()).unwrap_or(None);
        if let Some(stop) = running {
            eprintln!(
                "\nstopping (Ctrl-C): starting nothing new, the target stays resumable (Ctrl-C again to quit at once)"
            );
            stop();
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
        }
        eprintln!("\nstopped (Ctrl-C). Run the same command again to go on from here.");
        std::process::exit(130);
    });
}

/// Whether a copy or sync got as far as writing to the target, so that a failure leaves a
/// state the same command resumes.
static WROTE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What to say after an error: how to go on, if the run had begun writing (a refusal before
/// that wrote nothing, and Ctrl-C has said it already).
pub fn after_error(e: &Error) -> Option<&'static str> {
    use migrator_core::ErrorKind::{Cancelled, Config};
    (WROTE.load(std::sync::atomic::Ordering::Relaxed) && !matches!(e.kind(), Config | Cancelled))
        .then_some("the target is resumable: once the cause is fixed, run the same command again to go on from where it stopped")
}

/// Makes `stop` what the next Ctrl-C calls; `None` when the run is over.
fn stop_on_ctrl_c(stop: Option<Stop>) {
    if let Ok(mut r) = RUNNING.lock() {
        *r = stop;
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t
}

pub fn findings(plan: &Plan) {
    for f in plan.findings() {
        let tag = match f.severity() {
            Severity::Error => "problem",
            Severity::Warning => "warning",
            _ => "note",
        };
        eprintln!("{tag}: {}: {}", f.object(), f.message());
    }
}

pub fn plan(plan: &Plan) {
    println!(
        "source:  {} (PostgreSQL {})",
        plan.source().url(),
        plan.source().version()
    );
    println!(
        "target:  {} (PostgreSQL {})",
        plan.target().url(),
        plan.target().version()
    );
    println!(
        "profile: {}{}",
        plan.profile().name(),
        if plan.data_only() { ", data only" } else { "" }
    );
    if let Some(r) = plan.resume() {
        println!(
            "resume:  an earlier run finished {} chunks and {} steps; copy continues from there",
            r.chunks_done(),
            r.steps_done()
        );
    }
    println!();
    let mut t = table();
    t.set_header(vec!["#", "table", "est. rows", "size", "chunks", "format"]);
    for (i, tp) in plan.tables().iter().enumerate() {
        t.add_row(vec![
            Cell::new(i + 1),
            Cell::new(tp.name()),
            Cell::new(
                tp.estimated_rows()
                    .map_or("?".to_string(), |n| n.to_string()),
            )
            .set_alignment(CellAlignment::Right),
            Cell::new(bytes(tp.estimated_bytes().max(0) as u64))
                .set_alignment(CellAlignment::Right),
            Cell::new(tp.chunks().len()).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:?}", tp.format()).to_lowercase()),
        ]);
    }
    println!("Tables, in copy order:\n{t}\n");
    let mut counts: Vec<(StepKind, usize)> = Vec::new();
    for s in plan.steps() {
        match counts.iter_mut().find(|(k, _)| *k == s.kind()) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.kind(), 1)),
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k:?}")).collect();
    println!("DDL: {} steps ({})", plan.steps().len(), summary.join(", "));
    for s in plan.steps() {
        println!("-- {} [{:?}]", s.id(), s.phase());
        for sql in s.sql() {
            println!("{sql};");
        }
    }
    println!();
    if plan.findings().is_empty() {
        println!("Findings: none");
    } else {
        println!("Findings:");
        for f in plan.findings() {
            println!("  {:?}: {}: {}", f.severity(), f.object(), f.message());
        }
    }
}

/// Runs the copy, drawing progress when stderr is a terminal; Ctrl-C cancels cleanly.
pub async fn copy(m: &Migration, plan: &Plan) -> Result<CopySummary, Error> {
    let mut run = m.copy(plan);
    let token = run.cancellation_token();
    stop_on_ctrl_c(Some(Box::new(move || token.cancel())));
    let tty = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if tty {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let total = multi.add(ProgressBar::new(0));
    total.set_style(
        ProgressStyle::with_template(
            "{prefix:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    total.set_prefix("total");
    let table_style = ProgressStyle::with_template(
        "{prefix:>24} [{bar:30}] {bytes}/{total_bytes} {msg} ETA {eta}",
    )
    .expect("template")
    .progress_chars("=> ");
    // Per table: its bar, when it started, rows so far.
    let mut bars: HashMap<QualName, (ProgressBar, std::time::Instant, u64)> = HashMap::new();
    while let Some(event) = run.next_event().await {
        match event {
            Event::Started {
                estimated_bytes,
                chunks,
                chunks_already_done,
                ..
            } => {
                total.set_length(estimated_bytes);
                if chunks_already_done > 0 {
                    multi.suspend(|| {
                        eprintln!(
                            "resuming: {chunks_already_done} of {chunks} chunks were already copied"
                        )
                    });
                }
            }
            Event::Stage(stage) => {
                WROTE.store(true, std::sync::atomic::Ordering::Relaxed);
                total.set_message(format!("{stage:?}"));
                if !tty {
                    eprintln!("stage: {stage:?}");
                }
            }
            Event::TableStarted {
                table,
                estimated_bytes,
                ..
            } => {
                let bar = multi.add(ProgressBar::new(estimated_bytes));
                bar.set_style(table_style.clone());
                bar.set_prefix(short(&table));
                bar.set_message("0 rows");
                bars.insert(table, (bar, std::time::Instant::now(), 0));
            }
            Event::Progress { table, bytes, .. } => {
                total.inc(bytes);
                if let Some((b, _, _)) = bars.get(&table) {
                    b.inc(bytes);
                }
            }
            Event::ChunkDone { table, rows, .. } => {
                if let Some((b, started, total_rows)) = bars.get_mut(&table) {
                    *total_rows += rows;
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    b.set_message(format!(
                        "{total_rows} rows, {:.0} rows/s",
                        *total_rows as f64 / secs
                    ));
                }
            }
            Event::TableDone { table, rows, .. } => {
                if let Some((b, _, _)) = bars.remove(&table) {
                    b.finish_and_clear();
                    multi.remove(&b);
                }
                if !tty {
                    eprintln!("copied {table}: {rows} rows");
                }
            }
            Event::Retry {
                what,
                attempt,
                delay,
                reason,
                ..
            } => {
                multi.suspend(|| eprintln!("retry {attempt} of {what} in {delay:?}: {reason}"));
            }
            Event::Warning { message, .. } => multi.suspend(|| eprintln!("warning: {message}")),
            _ => {}
        }
    }
    total.finish_and_clear();
    let result = run.finish().await;
    stop_on_ctrl_c(None);
    if let Err(e) = &result
        && e.kind() == migrator_core::ErrorKind::Cancelled
    {
        eprintln!("stopped. Run the same command again to resume where it stopped.");
    }
    result
}

fn short(t: &QualName) -> String {
    let s = t.to_string();
    if s.chars().count() > 12 {
        let tail: String = s
            .chars()
            .rev()
            .take(11)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    } else {
        s
    }
}

/// Runs a sync, printing retries and warnings, and what changed when done.
pub async fn sync(m: &Migration, plan: &Plan) -> Result<SyncSummary, Error> {
    let mut run = m.sync(plan);
    let token = run.cancellation_token();
    stop_on_ctrl_c(Some(Box::new(move || token.cancel())));
    while let Some(event) = run.next_event().await {
        match event {
            Event::Retry {
                what,
                attempt,
                delay,
                reason,
                ..
            } => eprintln!("retry {attempt} of {what} in {delay:?}: {reason}"),
            Event::Warning { message, .. } => eprintln!("warning: {message}"),
            Event::Stage(_) => WROTE.store(true, std::sync::atomic::Ordering::Relaxed),
            _ => {}
        }
    }
    let result = run.finish().await;
    stop_on_ctrl_c(None);
    if let Err(e) = &result
        && e.kind() == migrator_core::ErrorKind::Cancelled
    {
        eprintln!("stopped. Run the same command again to finish the sync.");
    }
    result
}

pub fn sync_summary(s: &SyncSummary) {
    println!(
        "synced in {:.1}s: {} chunks checked ({} by transaction ids), {} changed, {} added past the old ends; {} rows written, {} deleted",
        s.elapsed.as_secs_f64(),
        s.chunks_checked,
        s.chunks_by_xid,
        s.chunks_changed,
        s.chunks_added,
        s.rows_written,
        s.rows_deleted
    );
    if s.retries > 0 {
        println!(
            "{} failures were retried (transaction conflicts or lost connections)",
            s.retries
        );
    }
}

pub fn copy_summary(s: &CopySummary) {
    let secs = s.elapsed.as_secs_f64().max(0.001);
    println!(
        "copied {} rows ({}) in {} chunks across {} tables, {} DDL steps, in {:.1}s ({:.0} rows/s, {}/s){}",
        s.rows,
        bytes(s.bytes),
        s.chunks_copied,
        s.tables,
        s.steps,
        secs,
        s.rows as f64 / secs,
        bytes((s.bytes as f64 / secs) as u64),
        if s.chunks_skipped > 0 {
            format!("; {} chunks were already done", s.chunks_skipped)
        } else {
            String::new()
        }
    );
    if s.retries > 0 {
        println!(
            "{} failures were retried (transaction conflicts or lost connections)",
            s.retries
        );
    }
}

fn verdict_word(v: migrator_core::verify::Verdict) -> String {
    use migrator_core::verify::Verdict;
    match v {
        Verdict::Match => "match".into(),
        Verdict::CountMismatch => "count mismatch".into(),
        Verdict::Missing => "missing".into(),
        Verdict::Orphans => "orphans".into(),
        Verdict::BlobMismatch => "blob mismatch".into(),
        Verdict::ContentMismatch => "content mismatch".into(),
        Verdict::SequenceBehind => "sequence behind".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

pub fn verify(r: &VerifyReport) {
    let mut t = table();
    t.set_header(vec![
        "table",
        "source rows",
        "target rows",
        "orphans",
        "blob objects",
        "verdict",
    ]);
    for v in r.tables() {
        let blobs = v.blobs().map_or("-".to_string(), |b| {
            let mut s = format!("{} ok", b.objects() - b.missing() - b.wrong());
            if b.missing() > 0 {
                s.push_str(&format!(", {} missing", b.missing()));
            }
            if b.wrong() > 0 {
                s.push_str(&format!(", {} differ", b.wrong()));
            }
            if b.values_differ() {
                s.push_str(", rows differ from source");
            }
            s
        });
        t.add_row(vec![
            Cell::new(v.table()),
            Cell::new(v.source_rows()).set_alignment(CellAlignment::Right),
            Cell::new(v.target_rows().map_or("-".to_string(), |n| n.to_string()))
                .set_alignment(CellAlignment::Right),
            Cell::new(v.orphans().map_or("-".to_string(), |n| n.to_string()))
                .set_alignment(CellAlignment::Right),
            Cell::new(blobs).set_alignment(CellAlignment::Right),
            Cell::new(verdict_word(v.verdict())),
        ]);
    }
    println!("{t}");
    for v in r.tables() {
        if let Some(rows) = v
            .rows()
            .filter(|_| v.verdict() != migrator_core::verify::Verdict::Match)
        {
            let mut parts = Vec::new();
            for (n, what) in [
                (rows.changed(), "differ"),
                (rows.missing(), "missing in the target"),
                (rows.extra(), "only in the target"),
                (rows.unkeyed(), "differ (no primary key to name them)"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} rows {what}"));
                }
            }
            if !parts.is_empty() {
                println!("{}: {}", v.table(), parts.join(", "));
                for k in rows.keys() {
                    println!("  {k}");
                }
            }
        }
        for s in v.sequences_behind() {
            println!(
                "{}: sequence {} is at {} but {} holds {}",
                v.table(),
                s.sequence(),
                s.last_value(),
                s.column(),
                s.max_value()
            );
        }
    }
    let bad = r
        .tables()
        .iter()
        .filter(|v| v.verdict() != migrator_core::verify::Verdict::Match)
        .count();
    if bad == 0 {
        println!(
            "verify: all {} tables match ({:.1}s)",
            r.tables().len(),
            r.elapsed().as_secs_f64()
        );
    } else {
        println!("verify: {bad} of {} tables differ", r.tables().len());
    }
}
