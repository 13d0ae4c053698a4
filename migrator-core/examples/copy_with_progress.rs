//! Copy a database with a progress line per table, the way an embedding tool would draw its
//! own progress UI, then check the row counts.
//!
//! ```text
//! SOURCE_DATABASE_URL=postgres://... TARGET_DATABASE_URL=postgres://... \
//!     cargo run -p migrator-core --example copy_with_progress
//! ```

use std::collections::HashMap;
use std::time::Instant;

use migrator_core::{Event, Migration, QualName, VerifyLevel};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let migration = Migration::builder()
        .source(std::env::var("SOURCE_DATABASE_URL")?)
        .target(std::env::var("TARGET_DATABASE_URL")?)
        .build()
        .await?;

    let plan = migration.plan().await?;
    println!(
        "plan: {} tables, {} chunks, {} DDL steps",
        plan.tables().len(),
        plan.chunk_count(),
        plan.steps().len()
    );
    if plan.has_errors() {
        for f in plan.findings() {
            eprintln!("{:?}: {}: {}", f.severity(), f.object(), f.message());
        }
        return Err("the plan has errors".into());
    }

    let started = Instant::now();
    let mut run = migration.copy(&plan);
    // Bytes moved so far against the estimate: enough for a percentage and an ETA.
    let mut total = 0u64;
    let mut moved = 0u64;
    let mut rows: HashMap<QualName, u64> = HashMap::new();
    while let Some(event) = run.next_event().await {
        match event {
            Event::Started {
                estimated_bytes, ..
            } => total = estimated_bytes.max(1),
            Event::Progress { bytes, .. } => moved += bytes,
            Event::ChunkDone { table, rows: n, .. } => *rows.entry(table).or_default() += n,
            Event::TableDone { table, rows: n, .. } => {
                let secs = started.elapsed().as_secs_f64();
                let done = moved as f64 / total as f64;
                let eta = if done > 0.0 { secs / done - secs } else { 0.0 };
                println!(
                    "done {table}: {n} rows ({:.0}% of the data, about {eta:.0}s left)",
                    (done * 100.0).min(100.0)
                );
            }
            Event::Retry {
                what,
                attempt,
                reason,
                ..
            } => {
                eprintln!("retry {attempt} of {what}: {reason}")
            }
            Event::Warning { message, .. } => eprintln!("warning: {message}"),
            _ => {}
        }
    }
    let summary = run.finish().await?;
    println!(
        "copied {} rows in {} chunks in {:.1}s",
        summary.rows,
        summary.chunks_copied,
        summary.elapsed.as_secs_f64()
    );

    let report = migration.verify(VerifyLevel::Counts).await?;
    for t in report.tables() {
        println!(
            "{}: {} source rows, {:?} target rows: {:?}",
            t.table(),
            t.source_rows(),
            t.target_rows(),
            t.verdict()
        );
    }
    if !report.is_clean() {
        return Err("verification found differences".into());
    }
    println!("verified: every table matches");
    Ok(())
}
