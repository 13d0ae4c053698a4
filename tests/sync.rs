//! `migrator sync` and `migrator verify --checksums`: after a copy, a workload changes 1% of
//! a million-row table (updates, deletes, inserts inside the old key ranges and past the old
//! end), moves rows to a new parent, deletes a parent with its children and changes blob
//! values; `verify --checksums` names what differs, `sync` writes exactly those rows, and
//! `verify --checksums` is clean after it, on both target profiles. Also: single rows
//! broken in the target are named by key, a target made by pg_dump verifies without a
//! manifest, watermark mode, and sync's refusals.

use std::process::Output;

use fixtures::dsql::{DsqlOptions, Emulator, Era};
use fixtures::{Cluster, TestDb, datasets};
use migrator_tests::*;

/// An application's tables: 2,000 accounts, `rows` events (ids 1.., every 1000th missing),
/// 300 documents with blob bodies.
fn schema(rows: u64) -> String {
    let top = rows + rows / 1000;
    format!(
        r"
CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL, plan text NOT NULL, tags text[]);
INSERT INTO account (name, plan, tags)
  SELECT 'acct ' || g, CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, ARRAY['t' || g % 7, 'x']
  FROM generate_series(1, 2000) g;
CREATE TABLE event (id bigint PRIMARY KEY, account_id int NOT NULL REFERENCES account(id),
  kind text NOT NULL, amount numeric(12,2), at timestamptz NOT NULL, note text);
INSERT INTO event
  SELECT g, 1 + g % 2000, (ARRAY['click','view','buy','refund'])[1 + g % 4], (g % 10000) / 100.0,
         timestamptz '2026-01-01' + g * interval '1 second', md5(g::text)
  FROM generate_series(1, {top}) g WHERE g % 1000 <> 0;
CREATE TABLE document (id int PRIMARY KEY, account_id int REFERENCES account(id), body bytea);
INSERT INTO document
  SELECT g, 1 + g % 2000, sha256(int4send(g)) || decode(repeat('cd', 500 + g % 300), 'hex')
  FROM generate_series(1, 300) g;
ANALYZE;
"
    )
}

/// Changes 1% of the events (updates, deletes, inserts into gaps and past the end), moves
/// events to a new account, deletes an account with everything that points at it, and
/// changes, adds and deletes blob values.
fn workload(rows: u64) -> String {
    let top = rows + rows / 1000;
    format!(
        r"
UPDATE event SET note = note || ' edited', amount = amount + 1 WHERE id % 250 = 7;
DELETE FROM event WHERE id % 333 = 5;
INSERT INTO event SELECT g, 1 + g % 2000, 'gap', 1, now(), 'filled a gap'
  FROM generate_series(1000, {top}, 1000) g;
INSERT INTO event SELECT g, 7, 'tail', 2, now(), 'past the old end'
  FROM generate_series({top} + 1, {top} + 2000) g;
INSERT INTO account (name, plan, tags) VALUES ('new account', 'pro', ARRAY['n']);
UPDATE event SET account_id = (SELECT max(id) FROM account) WHERE id IN (11, 12, 13);
DELETE FROM document WHERE account_id = 42;
DELETE FROM event WHERE account_id = 42;
DELETE FROM account WHERE id = 42;
UPDATE document SET body = body || '\x01'::bytea WHERE id % 10 = 3;
INSERT INTO document SELECT g, 9, sha256(int4send(g)) FROM generate_series(301, 320) g;
DELETE FROM document WHERE id % 10 = 9;
"
    )
}

/// A number in `text` right before `word` (`"12 rows written"` gives 12 for `rows written`).
fn number_before(text: &str, word: &str) -> u64 {
    let at = text
        .find(word)
        .unwrap_or_else(|| panic!("{word:?} not in {text}"));
    text[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        .unwrap_or_else(|| panic!("no number before {word:?} in {text}"))
}

/// Verify's JSON report.
fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json printed no JSON ({e}): {}", text(&out.stdout)))
}

/// Per table: (verdict, changed, missing, extra, listed keys).
fn rows_of(report: &serde_json::Value, table: &str) -> (String, u64, u64, u64, Vec<String>) {
    let t = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            format!(
                "{}.{}",
                t["table"]["schema"].as_str().unwrap(),
                t["table"]["name"].as_str().unwrap()
            ) == table
        })
        .unwrap_or_else(|| panic!("{table} not in the report"));
    let r = &t["rows"];
    (
        t["verdict"].as_str().unwrap().to_string(),
        r["changed"].as_u64().unwrap(),
        r["missing"].as_u64().unwrap(),
        r["extra"].as_u64().unwrap(),
        r["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect(),
    )
}

/// The rows verify says differ, summed over tables: (to write, to delete).
fn differing(report: &serde_json::Value) -> (u64, u64) {
    let mut out = (0, 0);
    for t in report["tables"].as_array().unwrap() {
        let r = &t["rows"];
        out.0 += r["changed"].as_u64().unwrap() + r["missing"].as_u64().unwrap();
        out.1 += r["extra"].as_u64().unwrap();
    }
    out
}

/// How sync is expected to find changes.
#[derive(PartialEq)]
enum Found {
    /// By transaction ids, in every chunk that had digests (all, here).
    Xid,
    /// By fingerprints only (`[sync] changes = "fingerprints"`).
    Fingerprints,
}

/// Runs `migrator sync`, asserts it succeeded and found changes as `found` says, and
/// returns what it printed.
fn sync_finding(src: &TestDb<'_>, target: &str, cfg: &std::path::Path, found: Found) -> String {
    let out = run_config("sync", src, target, cfg);
    assert_success(&out, "sync");
    let said = text(&out.stdout);
    let by_xid = number_before(&said, "by transaction ids");
    match found {
        Found::Xid => assert_eq!(by_xid, number_before(&said, "chunks checked"), "{said}"),
        Found::Fingerprints => assert_eq!(by_xid, 0, "{said}"),
    }
    said
}

/// Copy, workload, verify (differences named), sync (exactly those rows written), verify
/// clean, and a second sync that finds nothing to do.
fn copy_change_sync_verify(
    src: &TestDb<'_>,
    target: &str,
    cfg: &std::path::Path,
    rows: u64,
    found: Found,
) {
    assert_success(&run_config("copy", src, target, cfg), "copy");
    let clean = run_config("verify", src, target, cfg);
    let out = run_config_with(&["verify", "--checksums", "--json"], src, target, cfg);
    assert_success(&clean, "verify after copy");
    assert_success(&out, "verify --checksums after copy");
    assert_eq!(report(&out)["clean"], true);

    src.psql(&workload(rows)).unwrap();
    let checksums = || run_config_with(&["verify", "--checksums", "--json"], src, target, cfg);
    let before = checksums();
    assert_eq!(before.status.code(), Some(3), "{}", text(&before.stderr));
    let before = report(&before);
    let (verdict, changed, missing, extra, keys) = rows_of(&before, "public.event");
    assert_eq!(verdict, "count_mismatch");
    // 4,004 updated, less those deleted afterwards.
    assert!(changed >= 3900, "{changed} events differ");
    assert!(
        missing >= 3000 && extra >= 3000,
        "{missing} missing, {extra} extra"
    );
    assert!(
        keys.iter().any(|k| k == "id=7 (differs)"),
        "keys listed: {keys:?}"
    );
    assert!(keys.len() == 20, "the list is capped at 20: {keys:?}");
    let (_, doc_changed, doc_missing, doc_extra, _) = rows_of(&before, "public.document");
    // 30 bodies changed; 20 added less the 2 deleted again; 30 deleted and account 42's.
    assert_eq!((doc_changed, doc_missing, doc_extra), (30, 18, 31));
    let (to_write, to_delete) = differing(&before);

    let said = sync_finding(src, target, cfg, found);
    assert_eq!(
        number_before(&said, "rows written"),
        to_write,
        "sync wrote other rows than verify named: {said}"
    );
    assert_eq!(number_before(&said, "deleted"), to_delete, "{said}");
    assert!(
        number_before(&said, "added past the old ends") >= 1,
        "the rows past the old end make new chunks: {said}"
    );

    let after = checksums();
    assert_success(&after, "verify --checksums after sync");
    assert_eq!(report(&after)["clean"], true);

    let again = run_config("sync", src, target, cfg);
    assert_success(&again, "a second sync");
    let said = text(&again.stdout);
    assert_eq!(number_before(&said, "changed,"), 0, "{said}");
    assert_eq!(number_before(&said, "rows written"), 0, "{said}");
}

#[test]
fn sync_brings_a_postgres_target_up_to_date() {
    // Event chunks of about 80,000 rows: more than a block of row digests, so the copy
    // stores some blocks while the chunk streams and the last one with the chunk.
    const ROWS: u64 = 1_000_000;
    let cluster = Cluster::shared();
    let src = cluster.create_db("sync_src").unwrap();
    let dst = cluster.create_db("sync_dst").unwrap();
    src.psql(&schema(ROWS)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        "sync-postgres",
        &format!(
            "[copy]\nchunk_mib = 24\njobs = 2\n[blobs]\nstore = \"file://{}\"\n\
             [[blobs.columns]]\ntable = \"public.document\"\ncolumn = \"body\"\n\
             [sync]\nchanges = \"fingerprints\"\n",
            dir.path().display()
        ),
    );
    copy_change_sync_verify(&src, &dst.url(), &cfg, ROWS, Found::Fingerprints);
    // The application keeps working after cutover: new rows get new keys.
    dst.psql("INSERT INTO account (name, plan) VALUES ('after cutover', 'free')")
        .unwrap();
}

#[test]
fn sync_brings_a_dsql_target_with_uuid_keys_up_to_date() {
    const ROWS: u64 = 1_000_000;
    let src = Cluster::shared().create_db("sync_dsql_src").unwrap();
    src.psql(&schema(ROWS)).unwrap();
    let emu = Emulator::start(
        Cluster::shared(),
        DsqlOptions {
            era: Era::Y2026,
            ..DsqlOptions::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        "sync-dsql",
        &format!(
            "[target]\nprofile = \"dsql\"\n[keys]\nstrategy = \"uuid\"\n[copy]\nchunk_mib = 8\njobs = 2\n\
             [blobs]\nstore = \"file://{}\"\n\
             [[blobs.columns]]\ntable = \"public.document\"\ncolumn = \"body\"\n",
            dir.path().display()
        ),
    );
    copy_change_sync_verify(&src, &emu.url(), &cfg, ROWS, Found::Xid);
    // The events moved to the new account point at its UUID.
    let moved = emu
        .backing()
        .psql(
            "SELECT count(*) FROM event e JOIN account a ON a.id = e.account_id \
             WHERE a.name = 'new account'",
        )
        .unwrap();
    assert_eq!(moved.trim(), "3");
    let records = emu.records();
    for r in &records {
        assert!(r.rows <= 3000, "a transaction modified {} rows", r.rows);
    }
    // The replaced row digests went a few blocks per statement, never a chunk's whole set
    // at once: the copy numbered this target's blocks by batch, more of them than its row
    // count would say, and DSQL caps what one transaction may change.
    let drops: Vec<&String> = records
        .iter()
        .flat_map(|r| &r.statements)
        .filter(|s| s.starts_with("DELETE FROM _migrator.row_digest"))
        .collect();
    assert!(!drops.is_empty(), "the sync dropped no old row digests");
    for s in &drops {
        assert!(s.contains("block_no"), "an unbounded drop: {s}");
    }
    let mixed = emu
        .backing()
        .psql(
            "SELECT count(*) FROM (SELECT 1 FROM _migrator.row_digest \
             GROUP BY table_name, chunk_no HAVING count(DISTINCT generation) > 1) x",
        )
        .unwrap();
    assert_eq!(
        mixed.trim(),
        "0",
        "chunks holding two generations of digests"
    );
}

/// Transaction ids: a transaction open while the copy runs (it began before the copy's
/// snapshot and commits after it, part of it in a subtransaction) is synced in full; a row
/// rewritten with its own value is not written (its hash matches the stored digest); an
/// emptied and refilled table and a key moved within the table arrive; after the sync
/// nothing is left to do.
#[test]
fn sync_by_transaction_ids_sees_what_committed_after_the_copy() {
    let cluster = Cluster::shared();
    let src = cluster.create_db("xid_src").unwrap();
    let dst = cluster.create_db("xid_dst").unwrap();
    src.psql(
        "CREATE TABLE item (id int PRIMARY KEY, v text NOT NULL);
         INSERT INTO item SELECT g, 'v' || g FROM generate_series(2, 20000, 2) g;
         CREATE TABLE tag (id int PRIMARY KEY, name text);
         INSERT INTO tag SELECT g, 't' || g FROM generate_series(1, 50) g;",
    )
    .unwrap();
    let cfg = config_file("xid", "[copy]\njobs = 2\n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let straddling = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&src.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(
                "BEGIN;
                 UPDATE item SET v = 'straddled' WHERE id = 10;
                 INSERT INTO item VALUES (5, 'inserted before the copy, committed after');
                 SAVEPOINT s;
                 INSERT INTO item VALUES (7, 'in a subtransaction');
                 DELETE FROM item WHERE id = 12;
                 RELEASE s;",
            )
            .await
            .unwrap();
        client
    });
    assert_success(&run_config("copy", &src, &dst.url(), &cfg), "copy");
    rt.block_on(straddling.batch_execute("COMMIT")).unwrap();
    src.psql(
        "UPDATE item SET v = v WHERE id = 100;
         UPDATE item SET id = 15001 WHERE id = 15000;
         TRUNCATE tag; INSERT INTO tag SELECT g, 'again ' || g FROM generate_series(1, 40) g;",
    )
    .unwrap();
    let said = sync_finding(&src, &dst.url(), &cfg, Found::Xid);
    // 10, 5, 7, 15001, and 40 tags (not 100: same value); 12, 15000 and 10 tags deleted.
    assert_eq!(number_before(&said, "rows written"), 44, "{said}");
    assert_eq!(number_before(&said, "deleted"), 12, "{said}");
    assert_eq!(
        dst.psql("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM item WHERE id IN (5, 7, 10, 12, 15000, 15001)")
            .unwrap()
            .trim(),
        "5=inserted before the copy, committed after,7=in a subtransaction,10=straddled,15001=v15000"
    );
    let checked = run_config_with(&["verify", "--checksums"], &src, &dst.url(), &cfg);
    assert_success(&checked, "verify --checksums after sync");
    let again = run_config("sync", &src, &dst.url(), &cfg);
    assert_success(&again, "a second sync");
    let said = text(&again.stdout);
    assert_eq!(number_before(&said, "rows written"), 0, "{said}");
    assert_eq!(number_before(&said, "deleted"), 0, "{said}");
}

#[test]
fn verify_names_the_rows_broken_in_the_target() {
    const ROWS: u64 = 1_000_000;
    let cluster = Cluster::shared();
    let src = cluster.create_db("broken_src").unwrap();
    let dst = cluster.create_db("broken_dst").unwrap();
    src.psql(&schema(ROWS)).unwrap();
    let cfg = config_file("broken", "[copy]\nchunk_mib = 8\n");
    assert_success(&run_config("copy", &src, &dst.url(), &cfg), "copy");
    // One byte of one value, one row gone, one row that the source never had.
    dst.psql(
        "UPDATE event SET note = overlay(note placing 'X' from 5 for 1) WHERE id = 123457; \
         DELETE FROM event WHERE id = 654321; \
         INSERT INTO event VALUES (5000000, 1, 'click', 0, now(), 'not in the source')",
    )
    .unwrap();
    let out = run_config_with(&["verify", "--checksums", "--json"], &src, &dst.url(), &cfg);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let r = report(&out);
    let (verdict, changed, missing, extra, keys) = rows_of(&r, "public.event");
    assert_eq!(
        verdict, "content_mismatch",
        "counts are equal, contents are not"
    );
    assert_eq!((changed, missing, extra), (1, 1, 1));
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "id=123457 (differs)",
            "id=5000000 (only in target)",
            "id=654321 (missing in target)"
        ]
    );
    for other in ["public.account", "public.document"] {
        assert_eq!(rows_of(&r, other).0, "match");
    }
    // Counts alone see nothing.
    assert_success(
        &run_config("verify", &src, &dst.url(), &cfg),
        "verify (counts)",
    );
    // People get the keys too.
    let human = run(&[
        "verify",
        "--checksums",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
    ]);
    assert_eq!(human.status.code(), Some(3));
    assert!(
        text(&human.stdout).contains("id=123457 (differs)"),
        "{}",
        text(&human.stdout)
    );
}

#[test]
fn verify_checks_a_target_that_pg_dump_made() {
    let cluster = Cluster::shared();
    let src = cluster.create_db("dump_src").unwrap();
    let dst = cluster.create_db("dump_dst").unwrap();
    datasets::load_pagila(&src).unwrap();
    let dump = cluster
        .bin("pg_dump")
        .args(["--no-owner", "--no-privileges", &src.url()])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &dump.stdout).unwrap();
    dst.psql_file(file.path()).unwrap();
    let out = verify(&src, &dst, &["--checksums"]);
    assert_success(&out, "verify --checksums of a pg_dump target");
    dst.psql("UPDATE film SET title = 'ACADEMY DINOSAUR!' WHERE film_id = 1")
        .unwrap();
    let out = verify(&src, &dst, &["--checksums"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains("film_id=1 (differs)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn watermark_mode_syncs_changed_rows_and_finds_deletes() {
    let cluster = Cluster::shared();
    let src = cluster.create_db("wm_src").unwrap();
    let dst = cluster.create_db("wm_dst").unwrap();
    src.psql(
        "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
         INSERT INTO item SELECT g, 'item ' || g, timestamptz '2026-01-01' + g * interval '1 minute'
           FROM generate_series(1, 50000) g;
         CREATE TABLE other (id int PRIMARY KEY, v int);
         INSERT INTO other SELECT g, g FROM generate_series(1, 1000) g;",
    )
    .unwrap();
    let cfg = config_file(
        "watermark",
        "[copy]\nchunk_mib = 1\n[sync]\noverlap_seconds = 0\n\
         [[sync.watermarks]]\ntable = \"public.item\"\ncolumn = \"updated_at\"\n",
    );
    assert_success(&run_config("copy", &src, &dst.url(), &cfg), "copy");
    // 100 updates and 5 inserts stamped now; 30 deletes, which no timestamp shows.
    src.psql(
        "UPDATE item SET name = name || ' renamed', updated_at = now() WHERE id % 500 = 1;
         DELETE FROM item WHERE id % 1000 = 2 AND id > 20000;
         INSERT INTO item SELECT g, 'new', now() FROM generate_series(50001, 50005) g;",
    )
    .unwrap();
    let out = run_config("sync", &src, &dst.url(), &cfg);
    assert_success(&out, "sync");
    let said = text(&out.stdout);
    // And the row that held the copy's watermark itself (rows at the watermark are taken
    // again: a row written later in the same instant must not be missed).
    assert_eq!(number_before(&said, "rows written"), 106, "{said}");
    assert_eq!(number_before(&said, "deleted"), 30, "{said}");
    let v = run_config_with(&["verify", "--checksums"], &src, &dst.url(), &cfg);
    assert_success(&v, "verify --checksums after a watermark sync");

    // Without the watermark the next sync cannot trust what the copy recorded of the table
    // (the watermark sync changed its rows): it compares the table with the target, then
    // stores its digests again, and the sync after that finds changes by transaction ids.
    let plain = config_file("watermark-off", "[copy]\nchunk_mib = 1\n");
    src.psql(
        "DELETE FROM item WHERE id % 1000 = 500;
         INSERT INTO item VALUES (20002, 'back again', now());",
    )
    .unwrap();
    let out = run_config("sync", &src, &dst.url(), &plain);
    assert_success(&out, "sync without the watermark");
    let said = text(&out.stdout);
    assert_eq!(number_before(&said, "rows written"), 1, "{said}");
    assert_eq!(number_before(&said, "deleted"), 50, "{said}");
    let v = run_config_with(&["verify", "--checksums"], &src, &dst.url(), &plain);
    assert_success(&v, "verify --checksums after it");
    src.psql("UPDATE item SET name = 'last' WHERE id = 7")
        .unwrap();
    let said = sync_finding(&src, &dst.url(), &plain, Found::Xid);
    assert_eq!(number_before(&said, "rows written"), 1, "{said}");
}

#[test]
fn sync_refuses_what_it_cannot_do() {
    let cluster = Cluster::shared();
    let src = cluster.create_db("refuse_src").unwrap();
    let dst = cluster.create_db("refuse_dst").unwrap();
    src.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');")
        .unwrap();
    // Nothing copied yet.
    let out = run(&["sync", "--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("run `migrator copy` first"),
        "{}",
        text(&out.stderr)
    );
    // A watermark column that does not exist: named, exit 2, nothing written.
    let cfg = config_file(
        "bad-watermark",
        "[[sync.watermarks]]\ntable = \"public.t\"\ncolumn = \"changed_at\"\n",
    );
    let out = run_config("copy", &src, &dst.url(), &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("public.t") && err.contains("changed_at"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );
}

#[test]
fn an_interrupted_sync_finishes_when_run_again() {
    const ROWS: u64 = 200_000;
    let src = Cluster::shared().create_db("sync_kill_src").unwrap();
    src.psql(&schema(ROWS)).unwrap();
    let emu = Emulator::start(
        Cluster::shared(),
        DsqlOptions {
            era: Era::Y2026,
            ..DsqlOptions::default()
        },
    )
    .unwrap();
    let cfg = config_file(
        "sync-kill",
        "[target]\nprofile = \"dsql\"\n[keys]\nstrategy = \"uuid\"\n[copy]\nchunk_mib = 2\njobs = 2\n",
    );
    let target = emu.url();
    assert_success(&run_config("copy", &src, &target, &cfg), "copy");
    src.psql(&workload(ROWS)).unwrap();
    // Killed mid-way (on DSQL the killed run's lease then expires before the next run
    // takes it: the next run waits it out).
    let mut child = migrator()
        .args(["sync", "--source", &src.url(), "--target", &target])
        .arg("--config")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    // Killed once it has stored the new row digests (before it writes any row).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before it could be killed"
        );
        let stored = emu
            .backing()
            .psql("SELECT count(*) FROM _migrator.row_digest WHERE generation > 0")
            .unwrap();
        if stored.trim() != "0" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new digests stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    kill(&mut child);
    assert_success(
        &run_config("sync", &src, &target, &cfg),
        "sync after the kills",
    );
    let out = run_config_with(&["verify", "--checksums"], &src, &target, &cfg);
    assert_success(&out, "verify --checksums after an interrupted sync");
    let again = run_config("sync", &src, &target, &cfg);
    assert_success(&again, "one more sync");
    assert_eq!(number_before(&text(&again.stdout), "rows written"), 0);
}
