//! Move a PostgreSQL database onto Aurora DSQL with its integer keys turned into UUIDs (and
//! the old ids kept in `legacy_<column>`), then translate old ids kept outside the database.
//!
//! ```text
//! export SOURCE_DATABASE_URL=postgres://app@old-host/app
//! export TARGET_DATABASE_URL=postgres://admin@<cluster>.dsql.us-east-1.on.aws/postgres
//! cargo run -p migrator-core --example dsql_uuid -- public.orders:10248 public.customers:7
//! ```
//!
//! The password for DSQL is an IAM token made from the AWS default credential chain; the
//! target's profile is forced to `dsql` here so the example also runs against the test
//! suite's DSQL emulator, whose host is 127.0.0.1.

use migrator_core::{Config, Event, KeyStrategy, Migration, Profile, VerifyLevel};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> migrator_core::Result<bool> {
    let mut config = Config::default();
    config.keys.strategy = KeyStrategy::Uuid;
    config.keys.keep_legacy_id = true;
    let migration = Migration::builder()
        .source(std::env::var("SOURCE_DATABASE_URL").unwrap_or_default())
        .target(std::env::var("TARGET_DATABASE_URL").unwrap_or_default())
        .profile(Profile::Dsql)
        .config(config.clone())
        .build()
        .await?;

    // What DSQL lacks, and how each thing is mapped.
    let plan = migration.plan().await?;
    for f in plan.findings() {
        println!("plan: {}: {}", f.object(), f.message());
    }

    // Under DSQL's optimistic concurrency some commits fail with 40001; the engine retries
    // them and says so.
    let mut copy = migration.copy(&plan);
    while let Some(event) = copy.next_event().await {
        match event {
            Event::TableDone { table, rows, .. } => println!("copied {table}: {rows} rows"),
            Event::Retry { what, reason, .. } => println!("retrying {what}: {reason}"),
            Event::Warning { message, .. } => println!("warning: {message}"),
            _ => {}
        }
    }
    let summary = copy.await?;
    println!(
        "copied {} rows in {:.1}s, {} retries",
        summary.rows,
        summary.elapsed.as_secs_f64(),
        summary.retries
    );

    let report = migration.verify(VerifyLevel::Counts).await?;
    println!(
        "verify: {}",
        if report.is_clean() {
            "every table matches"
        } else {
            "MISMATCH"
        }
    );

    // Old ids kept elsewhere (URLs, another system, a cache) map to the new keys without a
    // lookup: `<schema>.<table>:<id>` arguments.
    for arg in std::env::args().skip(1) {
        let Some((key_space, id)) = arg.rsplit_once(':') else {
            continue;
        };
        let Ok(id) = id.parse::<i64>() else { continue };
        let uuid = migrator_core::key_uuid(config.keys.namespace, key_space, id);
        println!("{key_space} {id} is now {uuid}");
    }
    Ok(report.is_clean())
}
