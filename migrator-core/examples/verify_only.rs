//! Verify a migration that another tool made (for example `pg_dump | psql`), as a CI step:
//! exits 0 when every table matches, 3 when something differs.
//!
//! ```text
//! pg_dump "$SOURCE_DATABASE_URL" | psql "$TARGET_DATABASE_URL"
//! cargo run -p migrator-core --example verify_only
//! ```

use migrator_core::{Migration, VerifyLevel};

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
    let migration = Migration::builder()
        .source(std::env::var("SOURCE_DATABASE_URL").unwrap_or_default())
        .target(std::env::var("TARGET_DATABASE_URL").unwrap_or_default())
        .build()
        .await?;
    let report = migration.verify(VerifyLevel::Counts).await?;
    for t in report.tables() {
        println!("{}\t{:?}", t.table(), t.verdict());
    }
    println!(
        "{}",
        if report.is_clean() {
            "clean"
        } else {
            "MISMATCH"
        }
    );
    Ok(report.is_clean())
}
