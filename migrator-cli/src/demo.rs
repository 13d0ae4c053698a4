//! `migrator demo`: a throwaway local PostgreSQL with the bundled sample application, moved
//! onto Aurora DSQL — emulated locally by `fixtures::dsql` (a real PostgreSQL behind a proxy
//! that enforces DSQL's rules) — with integer keys turned into UUIDs and uploads moved to a
//! directory; plan, copy, a few writes by the still-running app, sync and verify printed as
//! they go, then what the emulated DSQL saw.

use migrator_core::plan::Severity;
use migrator_core::{BlobColumn, Config, Error, KeyStrategy, Migration, Profile, VerifyLevel};

use crate::render;

fn demo_err(message: String) -> Error {
    Error::from(std::io::Error::other(message))
}

fn fixture_err(e: fixtures::Error) -> Error {
    demo_err(format!("demo setup: {e}"))
}

/// A fraction of DSQL commits fail with 40001 (optimistic concurrency); the demo's emulator
/// refuses this share of them so the retries show.
const CONFLICT_FRACTION: f64 = 0.05;

pub async fn run() -> Result<u8, Error> {
    println!(
        "Migrator demo: a sample app moves from a local PostgreSQL onto Aurora DSQL (emulated \
         locally, with DSQL's limits enforced), its integer keys becoming UUIDs.\n"
    );
    let (source, target) = tokio::task::spawn_blocking(|| -> Result<_, fixtures::Error> {
        Ok((fixtures::Cluster::start()?, fixtures::Cluster::start()?))
    })
    .await
    .map_err(|e| demo_err(e.to_string()))?
    .map_err(fixture_err)?;
    let (app, dsql) = tokio::task::block_in_place(|| -> Result<_, fixtures::Error> {
        let app = source.create_db("app")?;
        fixtures::demo::load(&app)?;
        let dsql = fixtures::dsql::Emulator::start(
            &target,
            fixtures::dsql::DsqlOptions {
                era: fixtures::dsql::Era::Y2026,
                commit_failure_fraction: CONFLICT_FRACTION,
                seed: 7,
                ..Default::default()
            },
        )?;
        Ok((app, dsql))
    })
    .map_err(fixture_err)?;
    println!(
        "1. source: PostgreSQL on port {} with the sample app ({})",
        source.port(),
        fixtures::demo::TABLES.join(", ")
    );
    println!(
        "   target: emulated Aurora DSQL on port {} ({:.0}% of its commits fail with 40001, as \
         conflicts do)",
        dsql.port(),
        CONFLICT_FRACTION * 100.0
    );

    // What `[keys] strategy = "uuid"`, `keep_legacy_id = true` and a `[blobs]` section say
    // in a config file. The uploaded files go to a local directory (an S3 bucket in real
    // life): DSQL refuses values over 1 MiB, and backups are lighter without them.
    let blob_dir = tempfile::Builder::new()
        .prefix("migrator-demo-blobs-")
        .tempdir()
        .map_err(|e| demo_err(format!("demo setup: {e}")))?;
    let mut config = Config::default();
    config.keys.strategy = KeyStrategy::Uuid;
    config.keys.keep_legacy_id = true;
    config.blobs.store = Some(format!("file://{}", blob_dir.path().display()));
    let mut documents = BlobColumn::new("public.knowledge_document", "file_data");
    documents.content_type_column = Some("file_type".into());
    config.blobs.columns.push(documents);
    let migration = Migration::builder()
        .source(app.url())
        .target(dsql.url())
        .profile(Profile::Dsql)
        .config(config)
        .build()
        .await?;

    let plan = migration.plan().await?;
    println!(
        "2. plan: {} tables in {} chunks, {} DDL steps; what DSQL lacks is mapped:",
        plan.tables().len(),
        plan.chunk_count(),
        plan.steps().len(),
    );
    let (notes, mappings): (Vec<_>, Vec<_>) = plan
        .findings()
        .iter()
        .partition(|f| f.severity() == Severity::Info);
    for f in mappings {
        println!("   {}: {}", f.object(), f.message());
    }
    for f in notes.iter().take(4) {
        println!("   {}: {}", f.object(), f.message());
    }
    if notes.len() > 4 {
        println!(
            "   ... and {} more key columns like these (`migrator plan` lists every one)",
            notes.len() - 4
        );
    }

    println!("3. copy (stderr shows progress):");
    let summary = render::copy(&migration, &plan).await?;
    render::copy_summary(&summary);

    let changes =
        tokio::task::block_in_place(|| fixtures::demo::keep_writing(&app)).map_err(fixture_err)?;
    println!(
        "4. the app keeps running after the copy: {}; sync brings DSQL up to date, moving only \
         what changed:",
        changes.join(", ")
    );
    let plan = migration.plan().await?;
    let synced = render::sync(&migration, &plan).await?;
    render::sync_summary(&synced);

    println!(
        "5. verify --checksums (every row compared, through the UUID keys and blob references):"
    );
    let report = migration.verify(VerifyLevel::Checksums).await?;
    render::verify(&report);
    if !report.is_clean() {
        return Err(demo_err("the demo's verification failed".into()));
    }

    let records = dsql.records();
    let data: Vec<_> = records.iter().filter(|r| r.dml > 0).collect();
    println!(
        "6. what DSQL saw: {} transactions; the largest wrote {} rows and {} KiB (limits: 3,000 \
         rows, 10 MiB); {} mixed DDL with DML; {} commits refused with 40001, each retried",
        records.len(),
        data.iter().map(|r| r.rows).max().unwrap_or(0),
        data.iter().map(|r| r.bytes).max().unwrap_or(0) / 1024,
        records.iter().filter(|r| r.ddl > 0 && r.dml > 0).count(),
        records
            .iter()
            .filter(|r| r.error.as_deref().is_some_and(|e| e.starts_with("40001")))
            .count(),
    );

    println!("7. the same comment thread, before and after (replies point at their parents):");
    let (before, after, files) = tokio::task::block_in_place(|| {
        Ok::<_, fixtures::Error>((
            fixtures::demo::replies(&app)?,
            fixtures::demo::replies_with_uuid_keys(dsql.backing())?,
            fixtures::demo::moved_files(dsql.backing(), 2)?,
        ))
    })
    .map_err(fixture_err)?;
    println!("   source: id -> parent_comment_id");
    for [id, parent] in &before {
        println!("     {id} -> {parent}");
    }
    println!("   DSQL:   id (legacy_id) -> parent_comment_id (parent's legacy_id)");
    for [legacy, id, parent_legacy, parent] in &after {
        println!("     {id} ({legacy}) -> {parent} ({parent_legacy})");
    }
    println!(
        "8. the uploaded files left the rows for {} (an S3 bucket in real life); each row keeps \
         the object's key, size and SHA-256:",
        blob_dir.path().display()
    );
    for [legacy, mime, key, size] in &files {
        println!("     document {legacy} ({mime}, {size} bytes) -> {key}");
    }
    let sizes = fixtures::file_sizes(blob_dir.path());
    println!(
        "   {} objects, {:.1} MiB in all; verify checked the size and SHA-256 of every one a row \
         names (the replaced file's old version stays: objects are named by their content)",
        sizes.len(),
        sizes.iter().sum::<u64>() as f64 / 1048576.0
    );
    println!(
        "\nDone. Try it on your own databases:\n  migrator plan --source $SOURCE_DATABASE_URL \
         --target postgres://admin@<cluster>.dsql.<region>.on.aws/postgres"
    );
    Ok(0)
}
