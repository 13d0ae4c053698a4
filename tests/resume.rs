//! Resume: `migrator copy` is killed with SIGKILL at several points (while planning or
//! creating the schema, early in the data, half-way, after the data while indexes and
//! constraints are built), re-run each time, and finally completes. The target then equals
//! the source exactly (no row lost or doubled), its schema is identical, verify is clean.

use std::time::Duration;

use fixtures::{Cluster, datasets};
use migrator_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_copies_resume_to_an_exact_target() {
    let c = Cluster::shared();
    let src = c.create_db("resume_src").unwrap();
    let dst = c.create_db("resume_dst").unwrap();
    datasets::load_pagila(&src).unwrap();
    // A table chunked by key ranges and one chunked by pages (no integer key).
    src.psql(
        "CREATE TABLE big (id bigint PRIMARY KEY, v text, n numeric);
         INSERT INTO big SELECT g, repeat(md5(g::text), 4), g / 7.0 FROM generate_series(1, 300000) g;
         CREATE TABLE events (k uuid PRIMARY KEY, body jsonb);
         INSERT INTO events SELECT md5(g::text)::uuid, jsonb_build_object('g', g, 's', repeat('x', 60)) FROM generate_series(1, 150000) g;
         CREATE INDEX events_body ON events USING gin (body);
         ANALYZE;",
    )
    .unwrap();
    let cfg = config_file("resume", "[copy]\nchunk_mib = 2\njobs = 3\n");

    // 1. Killed almost at once: while planning or inside the schema transaction.
    let mut child = spawn_copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    kill(&mut child);

    // 2. Killed after a few chunks. 3. Killed half-way.
    for stop_at in [3.0, 0.5] {
        let mut child = spawn_copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
        let hit = wait_for_chunks(&dst, &mut child, |done, planned| {
            let goal = if stop_at >= 1.0 {
                stop_at as i64
            } else {
                (planned as f64 * stop_at) as i64
            };
            planned > 0 && done >= goal && done < planned
        })
        .await;
        assert!(
            hit,
            "the copy finished before it could be killed at {stop_at}"
        );
        kill(&mut child);
    }
    let partial: i64 = scalar(&dst, "SELECT count(*) FROM _migrator.chunk_done")
        .parse()
        .unwrap();
    let planned: i64 = scalar(&dst, "SELECT count(*) FROM _migrator.chunk")
        .parse()
        .unwrap();
    assert!(partial > 0 && partial < planned, "{partial} of {planned}");

    // 4. Killed after the data, while post-data steps run.
    let mut child = spawn_copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
    if wait_for_chunks(&dst, &mut child, |done, planned| {
        planned > 0 && done == planned
    })
    .await
    {
        kill(&mut child);
    } else {
        assert_success(&child.wait_with_output().unwrap(), "copy");
    }

    // The last run finishes what is left.
    let out = run(&[
        "copy",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_success(&out, "final copy");
    let summary = text(&out.stdout);
    assert!(summary.contains("chunks were already done"), "{summary}");

    assert_same_data(&src, &dst);
    assert_same_schema(&src, &dst);
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
    assert_eq!(scalar(&dst, "SELECT count(*) FROM big"), "300000");
    assert_eq!(
        scalar(&dst, "SELECT count(*) = count(DISTINCT k) FROM events"),
        "t"
    );
    assert!(
        scalar(&dst, "SELECT finished_at IS NOT NULL FROM _migrator.run") == "t",
        "the run is recorded as finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_discards_a_partial_run() {
    let c = Cluster::shared();
    let src = c.create_db("restart_src").unwrap();
    let dst = c.create_db("restart_dst").unwrap();
    datasets::load_northwind(&src).unwrap();
    src.psql("CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, repeat('y', 200) FROM generate_series(1, 200000) g;")
        .unwrap();
    let cfg = config_file("restart", "[copy]\nchunk_mib = 2\njobs = 2\n");
    let mut child = spawn_copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
    assert!(
        wait_for_chunks(&dst, &mut child, |done, planned| done >= 2
            && done < planned)
        .await
    );
    kill(&mut child);

    let out = run(&[
        "copy",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--config",
        cfg.to_str().unwrap(),
        "--restart",
    ]);
    assert_success(&out, "copy --restart");
    assert!(
        !text(&out.stdout).contains("already done"),
        "{}",
        text(&out.stdout)
    );
    assert_same_data(&src, &dst);
    assert_same_schema(&src, &dst);
}
