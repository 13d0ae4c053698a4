//! The command-line contract: exit codes (0 ok, 1 failure, 2 usage or configuration,
//! 3 verification mismatch), one-line errors naming what is at fault, nothing written on
//! refusal, and no password in any output.

use fixtures::{Cluster, datasets};
use migrator_tests::*;

fn one_line_error(out: &std::process::Output) -> String {
    let err = text(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "expected exactly one error line:\n{err}");
    errors[0].to_string()
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let help = run(&["--help"]);
    assert_success(&help, "--help");
    for cmd in ["plan", "copy", "sync", "verify", "demo"] {
        assert!(text(&help.stdout).contains(cmd), "{cmd} missing from help");
    }

    let out = run(&["plan", "--target", "postgres://u@localhost/db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("no source given"));

    let out = run(&[
        "plan",
        "--source",
        "postgres://u@localhost/db?sslmode=verify",
        "--target",
        "postgres://u@h/db",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("unknown sslmode 'verify'"));

    let out = run(&[
        "plan",
        "--source",
        "postgres://u:pw@h:port/db",
        "--target",
        "postgres://u@h/db",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = one_line_error(&out);
    assert!(e.contains("source") && !e.contains(":pw@"), "{e}");

    let out = run(&[
        "copy",
        "--source",
        "postgres://app:pw@ep-cool-123-pooler.us-east-2.aws.neon.tech/db",
        "--target",
        "postgres://u@h/db",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = one_line_error(&out);
    assert!(e.contains("pooler") && e.contains("direct host"), "{e}");

    let cfg = config_file("typo", "[copy]\njbos = 4\n");
    let out = run(&[
        "plan",
        "--source",
        "postgres://u@h/db",
        "--target",
        "postgres://u@h/db2",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = one_line_error(&out);
    assert!(
        e.contains("jbos") && e.contains("line 2") && e.contains(cfg.to_str().unwrap()),
        "{e}"
    );

    let out = run(&[
        "plan",
        "--profile",
        "mysql",
        "--source",
        "postgres://u@h/db",
        "--target",
        "postgres://u@h/db2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("unknown profile 'mysql'"));

    let out = run(&["copy", "--jobs", "many"]);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");
}

#[test]
fn unreachable_host_fails_fast_with_exit_1() {
    let t0 = std::time::Instant::now();
    let out = run(&[
        "plan",
        "--source",
        "postgres://u@127.0.0.1:1/db?sslmode=disable",
        "--target",
        "postgres://u@127.0.0.1:1/db2?sslmode=disable",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = one_line_error(&out);
    assert!(
        e.contains("cannot connect to source postgres://u@127.0.0.1:1/db"),
        "{e}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn verify_mismatch_exits_3_and_names_the_table() {
    let c = Cluster::shared();
    let src = c.create_db("cli_verify_src").unwrap();
    let dst = c.create_db("cli_verify_dst").unwrap();
    datasets::load_northwind(&src).unwrap();
    assert_success(&copy(&src, &dst, &[]), "copy");
    assert_success(&verify(&src, &dst, &[]), "verify");

    dst.psql("DELETE FROM order_details WHERE order_id = 10248; DROP TABLE territories CASCADE;")
        .unwrap();
    let out = verify(&src, &dst, &["--json"]);
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["clean"], false);
    let verdict = |t: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["table"]["name"] == t)
            .map(|v| v["verdict"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(verdict("order_details"), "count_mismatch");
    assert_eq!(verdict("territories"), "missing");
    assert_eq!(verdict("orders"), "match");

    let human = verify(&src, &dst, &[]);
    assert_eq!(human.status.code(), Some(3));
    assert!(
        text(&human.stdout).contains("2 of 14 tables differ"),
        "{}",
        text(&human.stdout)
    );
}

#[test]
fn refusals_write_nothing() {
    let c = Cluster::shared();
    let src = c.create_db("cli_refuse_src").unwrap();
    let dst = c.create_db("cli_refuse_dst").unwrap();
    datasets::load_northwind(&src).unwrap();

    // A target that already holds the tables, without a manifest.
    dst.psql("CREATE TABLE categories (x int)").unwrap();
    let out = copy(&src, &dst, &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = one_line_error(&out);
    assert!(
        e.contains("already has public.categories") && e.contains("--data-only"),
        "{e}"
    );
    assert_eq!(data_tables(&dst), vec!["public.categories".to_string()]);

    // Source and target the same database.
    let out = copy(&src, &src, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(one_line_error(&out).contains("same database"));
}

#[tokio::test]
async fn a_second_concurrent_run_is_refused() {
    let c = Cluster::shared();
    let src = c.create_db("cli_lock_src").unwrap();
    let dst = c.create_db("cli_lock_dst").unwrap();
    src.psql("CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, repeat('z', 300) FROM generate_series(1, 400000) g;")
        .unwrap();
    let cfg = config_file("lock", "[copy]\nchunk_mib = 1\njobs = 1\n");
    let mut first = spawn_copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
    // Wait until the first run is copying.
    assert!(
        wait_for_chunks(&dst, &mut first, |done, _| done >= 1).await,
        "first run never started copying"
    );
    let out = copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
    let still_running = first.try_wait().unwrap().is_none();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let e = one_line_error(&out);
    assert!(
        e.contains("another migrator run is using this target"),
        "{e}"
    );
    assert!(
        still_running,
        "the first run must still be running when the second is refused"
    );
    // The first run is unharmed.
    assert!(first.wait().unwrap().success());
    assert_same_data(&src, &dst);
}

#[test]
fn passwords_never_appear_in_output() {
    let c = Cluster::start_with(fixtures::ClusterOptions {
        password: Some("pw-Zebra-91".into()),
        ..Default::default()
    })
    .unwrap();
    c.psql("postgres", "CREATE DATABASE s").unwrap();
    c.psql("postgres", "CREATE DATABASE t").unwrap();
    c.psql(
        "s",
        "CREATE TABLE x (id int PRIMARY KEY); INSERT INTO x VALUES (1)",
    )
    .unwrap();
    let (s, t) = (c.url("s"), c.url("t"));
    assert!(s.contains("pw-Zebra-91"));
    let wrong = t.replace("pw-Zebra-91", "wrong-Secret-77");
    let runs = [
        run(&["plan", "--source", &s, "--target", &t]),
        run(&["plan", "--json", "--source", &s, "--target", &t]),
        migrator()
            .args(["copy", "--source", &s, "--target", &t])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap(),
        run(&["verify", "--json", "--source", &s, "--target", &t]),
        run(&["plan", "--source", &s, "--target", &wrong]),
    ];
    for (i, out) in runs.iter().enumerate() {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !all.contains("pw-Zebra-91") && !all.contains("wrong-Secret-77"),
            "run {i} leaked a password:\n{all}"
        );
        assert!(all.len() > 20, "run {i} printed nothing");
    }
    assert!(runs[2].status.success() && runs[3].status.success());
    assert_eq!(runs[4].status.code(), Some(1));
    assert!(text(&runs[4].stderr).contains("password authentication failed"));
}

/// The README's first command: the sample app onto the DSQL emulator with UUID keys, end to
/// end, and what it shows is true (the UUIDs are those of the old ids and their parents).
#[test]
fn demo_moves_the_sample_app_onto_emulated_dsql_with_uuid_keys() {
    let out = run(&["demo"]);
    assert_success(&out, "migrator demo");
    let stdout = text(&out.stdout);
    let tables = fixtures::demo::TABLES.len();
    assert!(
        stdout.contains(&format!("verify: all {tables} tables match")),
        "{stdout}"
    );
    assert!(stdout.contains("; 0 mixed DDL with DML;"), "{stdout}");
    // The app's five writes after the copy: four rows written (a reply, a replaced file, a
    // renamed user, an audit event) and an expired session deleted, nothing else.
    assert!(
        stdout.contains("; 4 rows written, 1 deleted"),
        "sync moved other rows:\n{stdout}"
    );
    assert!(
        stdout.contains("integer key stored as UUIDv5"),
        "no key mapping shown:\n{stdout}"
    );

    // "     <id> -> <parent id>" under the source heading, "     <uuid> (<id>) -> <uuid>
    // (<parent id>)" under the DSQL one.
    let section = |heading: &str| -> Vec<String> {
        stdout
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(heading))
            .skip(1)
            .take_while(|l| l.starts_with("     "))
            .map(|l| l.trim().to_string())
            .collect()
    };
    let before: Vec<(i64, i64)> = section("source: id -> parent_comment_id")
        .iter()
        .map(|l| {
            let (a, b) = l.split_once(" -> ").expect("id -> parent");
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert_eq!(before.len(), 3, "{stdout}");
    let after: Vec<(i64, i64)> = section("DSQL:")
        .iter()
        .map(|l| {
            let (child, parent) = l.split_once(" -> ").expect("child -> parent");
            let parse = |s: &str| -> (String, i64) {
                let (uuid, legacy) = s.split_once(" (").expect("uuid (id)");
                (
                    uuid.to_string(),
                    legacy.trim_end_matches(')').parse().unwrap(),
                )
            };
            let (child_uuid, child_id) = parse(child);
            let (parent_uuid, parent_id) = parse(parent);
            for (uuid, id) in [(&child_uuid, child_id), (&parent_uuid, parent_id)] {
                assert_eq!(
                    *uuid,
                    migrator_core::key_uuid(None, "public.document_comment", id).to_string(),
                    "comment {id}"
                );
            }
            (child_id, parent_id)
        })
        .collect();
    assert_eq!(before, after);

    // The uploaded files left the rows: one object per distinct content, each document's
    // key named by its content's SHA-256.
    let app = fixtures::Cluster::shared()
        .create_db("demo_app_blobs")
        .unwrap();
    fixtures::demo::load(&app).unwrap();
    let distinct: u64 = scalar(
        &app,
        "SELECT count(DISTINCT file_data) FROM public.knowledge_document",
    )
    .parse()
    .unwrap();
    assert!(distinct > 100);
    // The same writes as the demo's app after its copy: one file replaced, whose old
    // version stays in the store beside the new one.
    fixtures::demo::keep_writing(&app).unwrap();
    assert!(
        stdout.contains(&format!("   {} objects, ", distinct + 1)),
        "{} objects expected:\n{stdout}",
        distinct + 1
    );
    let first = scalar(
        &app,
        "SELECT file_type || ', ' || octet_length(file_data) || ' bytes) -> public.knowledge_document/file_data/' \
                || encode(sha256(file_data), 'hex') \
           FROM public.knowledge_document WHERE file_data IS NOT NULL ORDER BY id LIMIT 1",
    );
    assert!(stdout.contains(&first), "{first} expected:\n{stdout}");
}
