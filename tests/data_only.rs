//! `--data-only`: load into a schema the application's own migrations made. Columns are
//! matched by name; any mismatch is reported before a row moves.

use fixtures::{Cluster, TestDb, demo};
use migrator_tests::*;

/// Gives `dst` the source's schema, as an application's migrations would have made it.
fn app_schema(src: &TestDb<'_>, dst: &TestDb<'_>, owner: Option<&str>) {
    let dump = src
        .cluster()
        .bin("pg_dump")
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "-d",
            &src.url(),
        ])
        .output()
        .unwrap();
    assert!(dump.status.success());
    let path = scratch_path(&format!("schema-{}.sql", dst.name()));
    let mut sql = String::new();
    if let Some(role) = owner {
        sql.push_str(&format!("SET ROLE {role};\n"));
    }
    sql.push_str(&text(&dump.stdout));
    std::fs::write(&path, sql).unwrap();
    dst.psql_file(&path).unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn loads_into_the_applications_schema() {
    let c = Cluster::shared();
    let src = c.create_db("donly_src").unwrap();
    let dst = c.create_db("donly_dst").unwrap();
    demo::load(&src).unwrap();
    app_schema(&src, &dst, None);

    let out = copy(&src, &dst, &["--data-only"]);
    assert_success(&out, "copy --data-only");
    assert_same_data(&src, &dst);
    assert_same_schema(&src, &dst);
    assert_success(&verify(&src, &dst, &[]), "verify");
    assert!(assert_sequences_past_max(&dst) >= 6);
}

/// Tables `ANALYZE`d since the cluster started (autovacuum is off in the fixtures).
fn analyzed_tables(db: &TestDb<'_>) -> u64 {
    scalar(
        db,
        "SELECT count(*) FROM pg_stat_user_tables \
         WHERE schemaname <> '_migrator' AND last_analyze IS NOT NULL",
    )
    .parse()
    .unwrap()
}

#[test]
fn statistics_are_gathered_unless_left_to_autovacuum() {
    let c = Cluster::shared();
    let src = c.create_db("donly_an_src").unwrap();
    let on = c.create_db("donly_an_on").unwrap();
    let off = c.create_db("donly_an_off").unwrap();
    demo::load(&src).unwrap();
    app_schema(&src, &on, None);
    app_schema(&src, &off, None);
    let tables = data_tables(&src).len() as u64;
    assert!(tables >= 5, "{tables} tables in the demo");

    assert_success(&copy(&src, &on, &["--data-only"]), "copy --data-only");
    assert_eq!(analyzed_tables(&on), tables, "every loaded table analyzed");

    let cfg = config_file("no-analyze", "[copy]\nanalyze = false\n");
    let out = run_config_with(&["copy", "--data-only"], &src, &off.url(), &cfg);
    assert_success(&out, "copy --data-only with analyze = false");
    assert_same_data(&src, &off);
    assert_eq!(analyzed_tables(&off), 0, "no table analyzed");
}

#[test]
fn without_replication_role_tables_load_parents_first() {
    let c = Cluster::shared();
    let src = c.create_db("donly_role_src").unwrap();
    let dst = c.create_db("donly_role_dst").unwrap();
    demo::load(&src).unwrap();
    let role = format!("app_owner_{}", std::process::id());
    dst.psql(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN; END IF; END $$;
         GRANT CREATE ON DATABASE \"{}\" TO {role}; GRANT ALL ON SCHEMA public TO {role};",
        dst.name()
    ))
    .unwrap();
    app_schema(&src, &dst, Some(&role));

    // The application's role may not turn foreign keys off: the engine must order the load.
    let target = dst.url().replace("postgres@", &format!("{role}@"));
    let out = run(&[
        "copy",
        "--data-only",
        "--source",
        &src.url(),
        "--target",
        &target,
        "--jobs",
        "4",
    ]);
    assert_success(&out, "copy --data-only as the application role");
    assert!(
        text(&out.stderr).contains("parents first"),
        "{}",
        text(&out.stderr)
    );
    assert_same_data(&src, &dst);
}

#[test]
fn mismatches_are_reported_before_a_row_moves() {
    let c = Cluster::shared();
    let src = c.create_db("donly_bad_src").unwrap();
    let dst = c.create_db("donly_bad_dst").unwrap();
    demo::load(&src).unwrap();
    app_schema(&src, &dst, None);
    dst.psql(
        "ALTER TABLE app_user DROP COLUMN display_name;
         ALTER TABLE session ALTER COLUMN sid TYPE text;
         ALTER TABLE session ALTER COLUMN sess TYPE uuid USING NULL;
         DROP TABLE audit_event;",
    )
    .unwrap();

    let plan = run(&[
        "plan",
        "--data-only",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
    ]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan.stdout));
    let p = text(&plan.stdout);
    assert!(
        p.contains("column public.app_user.display_name does not exist in the target"),
        "{p}"
    );
    assert!(
        p.contains("public.session.sess is jsonb in the source but uuid in the target"),
        "{p}"
    );
    assert!(
        p.contains("table public.audit_event does not exist in the target"),
        "{p}"
    );
    // A compatible difference is a warning, converted through text.
    assert!(
        p.contains("public.session.sid is character varying in the source and text in the target"),
        "{p}"
    );

    let out = copy(&src, &dst, &["--data-only"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("problem: ")).count(),
        3,
        "{err}"
    );
    assert!(
        one_line_error(&out).contains("and 2 more errors in the plan"),
        "{err}"
    );
    // Nothing was written: no rows, no manifest.
    for t in ["organization", "app_user", "project", "knowledge_document"] {
        assert_eq!(
            scalar(&dst, &format!("SELECT count(*) FROM {t}")),
            "0",
            "{t}"
        );
    }
    assert_eq!(
        scalar(&dst, "SELECT to_regnamespace('_migrator') IS NULL"),
        "t"
    );
}

#[test]
fn refuses_a_target_that_already_has_rows() {
    let c = Cluster::shared();
    let src = c.create_db("donly_full_src").unwrap();
    let dst = c.create_db("donly_full_dst").unwrap();
    demo::load(&src).unwrap();
    app_schema(&src, &dst, None);
    dst.psql(
        "INSERT INTO organization (name, plan, created_at) VALUES ('existing', 'free', now())",
    )
    .unwrap();
    let out = copy(&src, &dst, &["--data-only"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("target table public.organization already has rows"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(scalar(&dst, "SELECT count(*) FROM app_user"), "0");
}
