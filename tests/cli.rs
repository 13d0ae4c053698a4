//! The command-line contract: exit codes (0 ok, 1 failure, 2 usage or configuration,
//! 3 verification mismatch), one-line errors naming what is at fault, nothing written on
//! refusal, and no password in any output.

use fixtures::{Cluster, datasets};
use migrator_tests::*;

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
    let out = run(&config_args(
        &["plan"],
        "postgres://u@h/db",
        "postgres://u@h/db2",
        &cfg,
    ));
    assert_eq!(out.status.code(), Some(2));
    let e = one_line_error(&out);
    assert!(
        e.contains("copy.jbos") && e.contains("line 2") && e.contains(cfg.to_str().unwrap()),
        "{e}"
    );
    assert!(e.ends_with("did you mean `jobs`?"), "{e}");

    let cfg = config_file("wrong-type", "[copy]\nchunk_mib = \"big\"\n");
    let out = run(&config_args(
        &["plan"],
        "postgres://u@h/db",
        "postgres://u@h/db2",
        &cfg,
    ));
    assert_eq!(out.status.code(), Some(2));
    let e = one_line_error(&out);
    assert!(
        e.contains("`copy.chunk_mib` (line 2)") && e.contains("invalid type"),
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

    // A host that takes the connection and never answers (a hung server, a firewall that
    // holds the socket) fails within the connect timeout too, not after minutes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let c = Cluster::shared();
    let src = c.create_db("cli_silent_src").unwrap();
    for (side, source, target) in [
        (
            "source",
            format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable&connect_timeout=2"),
            src.url(),
        ),
        (
            "target",
            src.url(),
            format!("postgres://u@127.0.0.1:{port}/db?sslmode=require&connect_timeout=2"),
        ),
    ] {
        let t0 = std::time::Instant::now();
        let out = run(&["copy", "--source", &source, "--target", &target]);
        let took = t0.elapsed();
        assert_eq!(out.status.code(), Some(1), "{side}");
        let e = one_line_error(&out);
        assert!(
            e.contains(&format!(
                "cannot connect to {side} postgres://u@127.0.0.1:{port}/db"
            )) && e.contains("did not answer within 2 s"),
            "{e}"
        );
        assert!(
            took < std::time::Duration::from_secs(15),
            "{side}: {took:?}"
        );
    }
}

/// A server whose certificate does not check out is refused with exit 1 and one line that
/// names the side and says why, before any write: a CA that did not sign it, and a host name
/// it was not issued for.
#[test]
fn a_certificate_that_fails_verification_is_refused() {
    const PW: &str = "tls-cli-secret";
    let certs = fixtures::tls::make_certs("cli");
    let tls = Cluster::start_with(fixtures::ClusterOptions {
        tls: Some((certs.server_cert.clone(), certs.server_key.clone())),
        password: Some(PW.to_string()),
        ..Default::default()
    })
    .unwrap();
    tls.psql("postgres", "CREATE DATABASE dst").unwrap();
    let port = tls.port();
    let c = Cluster::shared();
    let src = c.create_db("cli_tls_src").unwrap();
    datasets::load_northwind(&src).unwrap();
    let target = |host: &str, ca: &std::path::Path| {
        format!(
            "postgres://postgres:{PW}@{host}:{port}/dst?sslmode=verify-full&sslrootcert={}",
            ca.display()
        )
    };
    for (case, url, why) in [
        (
            "unrelated CA",
            target("localhost", &certs.other_ca),
            "certificate",
        ),
        ("host name", target("127.0.0.1", &certs.ca), "certificate"),
    ] {
        let out = run(&["copy", "--source", &src.url(), "--target", &url]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out.stderr));
        let e = one_line_error(&out);
        assert!(
            e.contains("cannot connect to target postgres://postgres@") && e.contains(why),
            "{case}: {e}"
        );
        assert!(!text(&out.stderr).contains(PW) && !text(&out.stdout).contains(PW));
    }
    // The right CA connects, so the refusals were the certificate's doing; nothing was
    // written by them.
    let tables = tls
        .psql(
            "dst",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        )
        .unwrap();
    assert_eq!(tables.trim(), "0");
    let ok = run(&[
        "plan",
        "--source",
        &src.url(),
        "--target",
        &target("localhost", &certs.ca),
    ]);
    assert_success(&ok, "plan with the right CA");
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

/// No secret reaches any output: the database password in the URLs, and the S3 secret key
/// and session token in the environment; through plan, copy (with `bytea` values going to
/// S3), sync and verify --checksums, with `RUST_LOG=trace` and `--json`; nor the manifest the
/// target keeps; nor the errors of a wrong password and a wrong S3 secret.
#[test]
fn secrets_never_appear_in_output_logs_or_the_manifest() {
    const PASSWORD: &str = "pw-Zebra-91";
    const WRONG_PASSWORD: &str = "wrong-Secret-77";
    const SESSION_TOKEN: &str = "tok-Quokka-5150";
    const WRONG_S3_SECRET: &str = "s3-Wombat-4242";
    let c = Cluster::start_with(fixtures::ClusterOptions {
        password: Some(PASSWORD.into()),
        ..Default::default()
    })
    .unwrap();
    c.psql("postgres", "CREATE DATABASE s").unwrap();
    c.psql("postgres", "CREATE DATABASE t").unwrap();
    c.psql(
        "s",
        "CREATE TABLE x (id int PRIMARY KEY, v text);
         INSERT INTO x SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
         CREATE TABLE doc (id int PRIMARY KEY, data bytea);
         INSERT INTO doc SELECT g, sha256(int4send(g)) FROM generate_series(1, 20) g;",
    )
    .unwrap();
    let s3 = fixtures::s3::S3Server::start().unwrap();
    s3.create_bucket("media").unwrap();
    let cfg = config_file(
        "secrets",
        &format!(
            "[blobs]\nstore = \"s3://media/app\"\n[[blobs.columns]]\ntable = \"public.doc\"\n\
             column = \"data\"\n[blobs.s3]\nendpoint = \"{}\"\n",
            s3.endpoint()
        ),
    );
    let cfg = cfg.to_str().unwrap();
    let (src, dst) = (c.url("s"), c.url("t"));
    assert!(src.contains(PASSWORD));
    let wrong = dst.replace(PASSWORD, WRONG_PASSWORD);
    let secrets = [
        PASSWORD,
        WRONG_PASSWORD,
        SESSION_TOKEN,
        WRONG_S3_SECRET,
        fixtures::s3::SECRET_KEY,
    ];
    let traced = |args: &[&str], s3_secret: &str| {
        migrator()
            .args(args)
            .envs(s3.client_env())
            .env("AWS_SECRET_ACCESS_KEY", s3_secret)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap()
    };
    let run_traced = |what: &str, cmd: &str, extra: &[&str], s3_secret: &str| {
        let mut a = vec![cmd];
        a.extend(extra);
        a.extend(["--source", &src, "--target", &dst, "--config", cfg]);
        (what.to_string(), traced(&a, s3_secret))
    };
    let key = fixtures::s3::SECRET_KEY;
    let mut runs = vec![
        run_traced("plan --json", "plan", &["--json"], key),
        run_traced("copy", "copy", &[], key),
    ];
    c.psql(
        "s",
        "UPDATE x SET v = 'changed' WHERE id <= 10; UPDATE doc SET data = 'new' WHERE id = 1",
    )
    .unwrap();
    runs.push(run_traced("sync", "sync", &[], key));
    runs.push(run_traced(
        "verify --checksums --json",
        "verify",
        &["--checksums", "--json"],
        key,
    ));
    for (what, out) in &runs {
        assert_success(out, what);
    }
    let failures = vec![
        (
            "plan with a wrong password".to_string(),
            traced(&["plan", "--source", &src, "--target", &wrong], key),
        ),
        run_traced(
            "verify with a wrong S3 secret",
            "verify",
            &["--checksums"],
            WRONG_S3_SECRET,
        ),
    ];
    assert_eq!(failures[0].1.status.code(), Some(1));
    assert!(text(&failures[0].1.stderr).contains("password authentication failed"));
    assert_ne!(
        failures[1].1.status.code(),
        Some(0),
        "a wrong S3 secret went unnoticed"
    );

    // The target's manifest, every row of every table in it, as JSON.
    let manifest: String = c
        .psql(
            "t",
            "SELECT string_agg(table_name, ' ') FROM information_schema.tables \
             WHERE table_schema = '_migrator'",
        )
        .unwrap()
        .split_whitespace()
        .map(|t| {
            c.psql(
                "t",
                &format!("SELECT row_to_json(r)::text FROM _migrator.{t} r"),
            )
            .unwrap()
        })
        .collect();
    assert!(
        manifest.contains("chunk"),
        "the manifest was not read: {manifest}"
    );

    let mut outputs: Vec<(String, String)> = runs
        .iter()
        .chain(&failures)
        .map(|(w, o)| (w.clone(), format!("{}{}", text(&o.stdout), text(&o.stderr))))
        .collect();
    outputs.push(("the manifest".into(), manifest));
    for (what, all) in &outputs {
        assert!(all.len() > 20, "{what} printed nothing");
        for secret in secrets {
            assert!(!all.contains(secret), "{what} shows {secret}:\n{all}");
        }
    }
    // Trace logging was on: the runs said more than their results.
    assert!(outputs[1].1.contains("TRACE"), "no trace output");
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

/// A source user who may not read one of the tables: copy and sync refuse before writing
/// anything, exit 1, with one error line naming the table and the GRANT that fixes it.
#[test]
fn a_table_the_source_user_may_not_read_is_refused_before_any_write() {
    let c = Cluster::shared();
    let src = c.create_db("cli_priv_src").unwrap();
    let dst = c.create_db("cli_priv_dst").unwrap();
    let role = format!("reader_{}", std::process::id());
    src.psql(&format!(
        "CREATE TABLE open_t (id int PRIMARY KEY); INSERT INTO open_t VALUES (1);
         CREATE TABLE payroll (id int PRIMARY KEY, salary int); INSERT INTO payroll VALUES (1, 10);
         DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN; END IF; END $$;
         GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON open_t TO {role};"
    ))
    .unwrap();
    let source = src.url().replace("postgres@", &format!("{role}@"));
    for cmd in ["copy", "sync"] {
        let out = run(&[cmd, "--source", &source, "--target", &dst.url()]);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", text(&out.stderr));
        let e = one_line_error(&out);
        assert!(
            e.contains("may not read table public.payroll")
                && e.contains("GRANT SELECT ON \"public\".\"payroll\""),
            "{cmd}: {e}"
        );
    }
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        ),
        "0",
        "the refused runs wrote to the target"
    );
}
