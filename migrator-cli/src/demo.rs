//! `migrator demo`: two throwaway local PostgreSQL clusters, the bundled sample application
//! loaded into one, then plan, copy and verify into the other, printed as it goes.

use migrator_core::{Error, Migration, VerifyLevel};

use crate::render;

fn demo_err(message: String) -> Error {
    Error::from(std::io::Error::other(message))
}

fn fixture_err(e: fixtures::Error) -> Error {
    demo_err(format!("demo setup: {e}"))
}

pub async fn run() -> Result<u8, Error> {
    println!("Migrator demo: a sample app database moves from one local PostgreSQL to another.\n");
    let (source, target) = tokio::task::spawn_blocking(|| -> Result<_, fixtures::Error> {
        let source = fixtures::Cluster::start()?;
        let target = fixtures::Cluster::start()?;
        Ok((source, target))
    })
    .await
    .map_err(|e| demo_err(e.to_string()))?
    .map_err(fixture_err)?;
    println!(
        "1. started two throwaway PostgreSQL servers (ports {} and {})",
        source.port(),
        target.port()
    );
    let load = tokio::task::block_in_place(|| -> Result<(), fixtures::Error> {
        source.psql("postgres", "CREATE DATABASE app")?;
        target.psql("postgres", "CREATE DATABASE app")?;
        let path = std::env::temp_dir().join(format!("migrator-demo-{}.sql", std::process::id()));
        std::fs::write(&path, fixtures::demo::SAMPLE_APP_SQL)?;
        let r = source.psql_file("app", &path);
        let _ = std::fs::remove_file(&path);
        r
    });
    load.map_err(fixture_err)?;
    println!(
        "2. loaded the sample app into the source: {}",
        fixtures::demo::TABLES.join(", ")
    );

    let migration = Migration::builder()
        .source(source.url("app"))
        .target(target.url("app"))
        .build()
        .await?;
    let plan = migration.plan().await?;
    println!(
        "3. plan: {} tables in {} chunks, {} DDL steps, {} findings",
        plan.tables().len(),
        plan.chunk_count(),
        plan.steps().len(),
        plan.findings().len()
    );
    for f in plan.findings() {
        println!("   {:?}: {}: {}", f.severity(), f.object(), f.message());
    }
    println!("4. copy (stderr shows progress):");
    let summary = render::copy(&migration, &plan).await?;
    print!("   ");
    render::copy_summary(&summary);
    println!("5. verify:");
    let report = migration.verify(VerifyLevel::Counts).await?;
    render::verify(&report);
    if !report.is_clean() {
        return Err(demo_err("the demo's verification failed".into()));
    }
    println!(
        "\nDone. Try it on your own databases:\n  migrator plan --source $SOURCE_DATABASE_URL --target $TARGET_DATABASE_URL"
    );
    Ok(0)
}
