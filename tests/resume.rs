//! Resume: `migrator copy` is killed with SIGKILL at several points (while planning or
//! creating the schema, early in the data, half-way, after the data while indexes and
//! constraints are built), re-run each time, and finally completes. The target then equals
//! the source exactly (no row lost or doubled), its schema is identical, verify is clean.

use std::time::Duration;

use fixtures::{Cluster, TestDb, datasets};
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
    let out = copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
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

    let out = copy(
        &src,
        &dst,
        &["--config", cfg.to_str().unwrap(), "--restart"],
    );
    assert_success(&out, "copy --restart");
    assert!(
        !text(&out.stdout).contains("already done"),
        "{}",
        text(&out.stdout)
    );
    assert_same_data(&src, &dst);
    assert_same_schema(&src, &dst);
}

/// Sends SIGINT (what Ctrl-C sends) and waits for the process: its exit status, stderr and
/// how long it took to stop.
fn interrupt(child: std::process::Child) -> (Option<i32>, String, Duration) {
    let t0 = std::time::Instant::now();
    // SAFETY: kill(2) on our own child's pid, which it cannot have been reaped yet.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill -INT");
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), text(&out.stderr), t0.elapsed())
}

fn spawn_with_stderr(args: &[&str]) -> std::process::Child {
    migrator()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn migrator")
}

/// Table `big (id bigint PRIMARY KEY, v text)` in `db`: `rows` rows, each `v` the md5 of its
/// id `width` times (32 × `width` bytes), analyzed so that plan cuts it into chunks.
fn load_big(db: &TestDb<'_>, rows: u32, width: u32) {
    db.psql(&format!(
        "CREATE TABLE big (id bigint PRIMARY KEY, v text);
         INSERT INTO big SELECT g, repeat(md5(g::text), {width}) FROM generate_series(1, {rows}) g;
         ANALYZE;"
    ))
    .unwrap();
}

/// Ctrl-C in the middle of a copy and in the middle of a sync: each stops within seconds
/// with exit code 130, says how to go on, and the same command run again finishes with a
/// target equal to the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_copy_and_sync_resumably() {
    let c = Cluster::shared();
    let src = c.create_db("ctrlc_src").unwrap();
    let dst = c.create_db("ctrlc_dst").unwrap();
    load_big(&src, 400_000, 6);
    let cfg = config_file("ctrlc", "[copy]\nchunk_mib = 2\njobs = 2\n");
    let (src_url, dst_url) = (src.url(), dst.url());
    let args = |cmd: &'static str| config_args(&[cmd], &src_url, &dst_url, &cfg);

    let mut child = spawn_with_stderr(&args("copy"));
    assert!(
        wait_for_chunks(&dst, &mut child, |done, planned| done >= 2
            && done < planned / 2)
        .await,
        "the copy finished before Ctrl-C"
    );
    let (code, stderr, took) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("stopping (Ctrl-C)")
            && stderr.contains("Run the same command again to resume"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    let done: i64 = scalar(&dst, "SELECT count(*) FROM _migrator.chunk_done")
        .parse()
        .unwrap();
    let planned: i64 = scalar(&dst, "SELECT count(*) FROM _migrator.chunk")
        .parse()
        .unwrap();
    assert!(done > 0 && done < planned, "{done} of {planned} chunks");
    let out = run(&args("copy"));
    assert_success(&out, "copy after Ctrl-C");
    assert!(text(&out.stdout).contains("chunks were already done"));
    assert_same_data(&src, &dst);

    // Changes in every chunk, then a sync stopped while it writes them.
    src.psql(
        "UPDATE big SET v = v || 'x' WHERE id % 3 = 0;
         DELETE FROM big WHERE id % 17 = 0;
         INSERT INTO big SELECT g, 'new' FROM generate_series(400001, 420000) g;",
    )
    .unwrap();
    let mut child = spawn_with_stderr(&args("sync"));
    let (client, conn) = tokio_postgres::connect(&dst.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync finished before Ctrl-C"
        );
        assert!(std::time::Instant::now() < deadline, "the sync never wrote");
        // A migrator session writing rows of this target's `big` (other tests have a `big`).
        let writing: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrator' \
                 AND datname = current_database() \
                 AND state = 'active' AND query ~* '^\\s*(copy|delete|insert|update)' \
                 AND query LIKE '%big%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if writing > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (code, stderr, took) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("Run the same command again to finish the sync"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    assert_success(&run(&args("sync")), "sync after Ctrl-C");
    assert_same_data(&src, &dst);
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
}

/// Backends terminated with `pg_terminate_backend` in the middle of their COPY, on the
/// target and on the source, several times over: the engine retries each chunk with
/// backoff, says so with the attempt count, and the target ends exactly equal to the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_are_retried_to_an_exact_target() {
    let c = Cluster::shared();
    let src = c.create_db("term_src").unwrap();
    let dst = c.create_db("term_dst").unwrap();
    load_big(&src, 400_000, 6);
    src.psql(
        "CREATE TABLE events (k uuid PRIMARY KEY, body jsonb);
         INSERT INTO events SELECT md5(g::text)::uuid, jsonb_build_object('g', g)
           FROM generate_series(1, 100000) g;
         ANALYZE events;",
    )
    .unwrap();
    let cfg = config_file("terminate", "[copy]\nchunk_mib = 2\njobs = 2\n");
    let with_cfg = ["--config", cfg.to_str().unwrap()];
    // A copy into `dst` whose stderr the test reads.
    let spawn = |dst: &TestDb<'_>| {
        migrator()
            .args(["copy", "--source", &src.url(), "--target", &dst.url()])
            .args(with_cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn migrator copy")
    };
    let mut child = spawn(&dst);
    let connect = |url: String| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    };
    let sides = [
        ("target", connect(dst.url()).await),
        ("source", connect(src.url()).await),
    ];
    // One COPY in progress on the side's database, terminated.
    let terminate = "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'migrator' \
                     AND state = 'active' AND query LIKE 'COPY%' LIMIT 1) a";
    let mut kills = [0i64; 2];
    let mut turn = 0;
    while kills.iter().sum::<i64>() < 6 && child.try_wait().unwrap().is_none() {
        let side = turn % 2;
        let n: i64 = sides[side]
            .1
            .query_one(terminate, &[])
            .await
            .unwrap()
            .get(0);
        kills[side] += n;
        if n > 0 {
            turn += 1;
            tokio::time::sleep(Duration::from_millis(400)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_success(&out, "copy with backends terminated");
    let stderr = text(&out.stderr);
    assert!(
        kills[0] > 0 && kills[1] > 0,
        "terminated {kills:?} (target, source) before the copy ended"
    );
    let retries = stderr.lines().filter(|l| l.starts_with("retry ")).count() as i64;
    assert!(
        retries >= 1 && stderr.contains("retry 1 of public."),
        "{retries} retries for {kills:?} terminations:\n{stderr}"
    );
    assert_same_data(&src, &dst);
    assert_same_schema(&src, &dst);
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");

    // The source connection that holds the run's snapshot (its transaction began first)
    // cannot be replaced: a reader that lost its session can no longer join that instant.
    // Killed first the holder, then a reader: the run fails with one line that says what
    // happened and to run again, and the re-run finishes exactly. (Without the second kill
    // the run goes on: each reader keeps the snapshot in its own open transaction.)
    let dst = c.create_db("term_snap_dst").unwrap();
    let child = spawn(&dst);
    let holder = "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity \
                  WHERE datname = current_database() AND application_name = 'migrator' \
                  AND xact_start IS NOT NULL ORDER BY xact_start LIMIT 1) a";
    let copying = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND application_name = 'migrator' AND query LIKE 'COPY%'";
    let source = &sides[1].1;
    while source
        .query_one(copying, &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held: i64 = source.query_one(holder, &[]).await.unwrap().get(0);
    assert_eq!(held, 1, "one snapshot holder");
    let mut readers = 0i64;
    while readers == 0 {
        readers = source.query_one(terminate, &[]).await.unwrap().get(0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(one_line_error(&out).contains("snapshot"), "{stderr}");
    assert!(
        stderr.contains("again"),
        "no word on how to go on:\n{stderr}"
    );
    assert_success(&copy(&src, &dst, &with_cfg), "re-run");
    assert_same_data(&src, &dst);
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
}

/// SIGKILL at 20 random moments of a whole migration (planning, schema, data, index builds,
/// and the final sync after the source changed), each followed by a re-run; then the runs
/// finish, the target equals the source and verify --checksums is clean. The seed is
/// printed; `MIGRATOR_TEST_SEED` replays one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_twenty_random_moments_the_migration_ends_exact() {
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("MIGRATOR_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed {seed} (MIGRATOR_TEST_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let c = Cluster::shared();
    let src = c.create_db("kill20_src").unwrap();
    datasets::load_pagila(&src).unwrap();
    src.psql(
        "CREATE TABLE big (id bigint PRIMARY KEY, v text, n numeric);
         INSERT INTO big SELECT g, repeat(md5(g::text), 4), g / 7.0 FROM generate_series(1, 200000) g;
         CREATE INDEX big_v ON big (v);
         CREATE TABLE events (k uuid PRIMARY KEY, body jsonb);
         INSERT INTO events SELECT md5(g::text)::uuid, jsonb_build_object('g', g, 's', repeat('x', 60))
           FROM generate_series(1, 100000) g;
         CREATE INDEX events_body ON events USING gin (body);
         ANALYZE;",
    )
    .unwrap();
    let cfg = config_file("kill20", "[copy]\nchunk_mib = 2\njobs = 2\n");
    let log = scratch_path("kill20.log");
    let spawn = |cmd: &str, target: &str| {
        migrator()
            .args([cmd, "--source", &src.url(), "--target", target])
            .args(["--config", cfg.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn migrator")
    };
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // The stage a killed copy had reached, from its log.
    let stage = || {
        log_text()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("stage: ").map(str::to_string))
            .unwrap_or_else(|| "starting".into())
    };

    // How long a whole copy takes here, into a scratch database, to spread the moments.
    let scratch = c.create_db("kill20_scratch").unwrap();
    let t0 = std::time::Instant::now();
    assert_success(
        &copy(&src, &scratch, &["--config", cfg.to_str().unwrap()]),
        "copy",
    );
    let whole = t0.elapsed().as_millis() as u64;

    // 1. Copies killed at moments over the whole of a copy, each followed by a re-run (the
    //    next round); a copy that finishes first starts the next round on a fresh target,
    //    so that the kills land all along a copy, not only in what a resume leaves.
    const COPY_KILLS: usize = 12;
    let mut dst = c.create_db("kill20_dst").unwrap();
    let mut kills: Vec<(String, u64)> = Vec::new();
    let mut round = 0;
    while kills.len() < COPY_KILLS {
        round += 1;
        assert!(
            round < 80,
            "only {} kills in {round} rounds: {kills:?}",
            kills.len()
        );
        let at = rng.random_range(0..(whole * 3 / 4).max(2));
        match kill_after(spawn("copy", &dst.url()), at).await {
            Some(status) => {
                assert!(status.success(), "copy failed:\n{}", log_text());
                dst = c.create_db("kill20_dst").unwrap();
            }
            None => kills.push((stage(), at)),
        }
    }
    assert_success(
        &copy(&src, &dst, &["--config", cfg.to_str().unwrap()]),
        "copy after the kills",
    );
    // 2. Syncs after the source changed, killed likewise.
    while kills.len() < 20 {
        round += 1;
        assert!(
            round < 160,
            "only {} kills in {round} rounds: {kills:?}",
            kills.len()
        );
        let base = 300_000 + round * 100;
        src.psql(&format!(
            "UPDATE big SET n = n + 1 WHERE id % 50 = {r};
             DELETE FROM big WHERE id % 997 = {r};
             INSERT INTO big SELECT g, 'new', 0 FROM generate_series({base}, {base} + 99) g;",
            r = round % 50
        ))
        .unwrap();
        let at = rng.random_range(0..(whole / 3).max(2));
        match kill_after(spawn("sync", &dst.url()), at).await {
            Some(status) => assert!(status.success(), "sync failed:\n{}", log_text()),
            None => kills.push(("sync".into(), at)),
        }
    }
    eprintln!("killed at (phase, ms): {kills:?}");
    let phases: std::collections::BTreeSet<&str> = kills.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        phases.len() >= 3,
        "the kills hit only {phases:?}: {kills:?}"
    );

    let out = run_config("sync", &src, &dst.url(), &cfg);
    assert_success(&out, "final sync");
    assert_same_data(&src, &dst);
    assert_same_schema(&src, &dst);
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
    let _ = std::fs::remove_file(&log);
}

/// The process dies at exact spots (crash points): a chunk's rows and manifest row written
/// but not committed, and a sync's write committed with more to come. Each time a re-run
/// finishes, and the target ends equal to the source.
#[test]
fn crash_points_in_copy_and_sync_leave_what_a_rerun_finishes() {
    let c = Cluster::shared();
    let src = c.create_db("crashpt_src").unwrap();
    let dst = c.create_db("crashpt_dst").unwrap();
    load_big(&src, 200_000, 4);
    let cfg = config_file("crashpt", "[copy]\nchunk_mib = 2\njobs = 2\n");
    let (s, t) = (src.url(), dst.url());
    let args = |cmd: &'static str| config_args(&[cmd], &s, &t, &cfg);

    // Dies with the whole schema made but not committed: the target is as it was.
    crash_at(&args("copy"), "copy.schema.before_commit=return");
    assert!(data_tables(&dst).is_empty(), "{:?}", data_tables(&dst));
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM pg_namespace WHERE nspname = '_migrator'"
        ),
        "0",
        "no manifest either"
    );

    // The fourth chunk to finish dies before its commit.
    crash_at(&args("copy"), "copy.chunk.before_commit=3*off->return");
    let done: i64 = scalar(&dst, "SELECT count(*) FROM _migrator.chunk_done")
        .parse()
        .unwrap();
    let planned: i64 = scalar(&dst, "SELECT count(*) FROM _migrator.chunk")
        .parse()
        .unwrap();
    assert!(
        (3..planned).contains(&done),
        "{done} of {planned} chunks done"
    );
    let out = run(&args("copy"));
    assert_success(&out, "copy after the crash");
    assert!(text(&out.stdout).contains("chunks were already done"));
    assert_same_data(&src, &dst);

    // Changes everywhere; the sync dies after its second write commits.
    src.psql(
        "UPDATE big SET v = 'changed' WHERE id % 7 = 0;
         DELETE FROM big WHERE id % 13 = 0;
         INSERT INTO big SELECT g, 'new' FROM generate_series(200001, 201000) g;",
    )
    .unwrap();
    crash_at(&args("sync"), "sync.write.after_commit=1*off->return");
    assert_success(&run(&args("sync")), "sync after the crash");
    assert_same_data(&src, &dst);
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
}

/// Waits up to `ms` for `child`: its exit status if it ended by then, else `None` once it
/// has been killed (SIGKILL).
async fn kill_after(mut child: std::process::Child, ms: u64) -> Option<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(ms) {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match child.try_wait().unwrap() {
        Some(status) => Some(status),
        None => {
            kill(&mut child);
            None
        }
    }
}
