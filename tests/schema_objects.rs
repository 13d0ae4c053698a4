//! Every kind of schema object (extensions, enums, domains, composite and range types,
//! functions with both body styles, procedures, aggregates, sequences with odd options,
//! identity and generated columns, partitioned tables with parent keys and indexes,
//! inheritance, unlogged tables, exclusion constraints, NOT VALID constraints, rules,
//! triggers, policies, statistics, views on views, materialized views, comments, quoted
//! names) comes out of a copy exactly as it went in.

use fixtures::Cluster;
use migrator_tests::*;

fn load(db: &fixtures::TestDb<'_>) {
    db.psql_file(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/schema_objects.sql"))
        .unwrap();
}

#[test]
fn every_object_kind_round_trips() {
    let c = Cluster::shared();
    let src = c.create_db("objects_src").unwrap();
    let dst = c.create_db("objects_dst").unwrap();
    load(&src);

    let out = copy(&src, &dst, &["--jobs", "4"]);
    assert_success(&out, "copy");
    assert_same_schema(&src, &dst);
    let rows = assert_same_data(&src, &dst);
    assert!(rows > 4000, "{rows}");
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");

    // NOT VALID constraints stay NOT VALID (their rows break them), the others are valid.
    assert_eq!(
        scalar(
            &dst,
            "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE NOT convalidated"
        ),
        "doc_account_fk,posint_small,tree_name_check"
    );
    // Identity, serial and plain DEFAULT nextval sequences all hand out fresh values.
    assert!(assert_sequences_past_max(&dst) >= 5);
    // The materialized view was refreshed before its unique index was built.
    assert_eq!(
        scalar(&dst, "SELECT count(*) FROM app.balance_by_status"),
        "3"
    );
    // The trigger on the partitioned table fires for new rows, and the disabled one stays so.
    assert_eq!(
        scalar(
            &dst,
            "INSERT INTO app.ledger (account_id, at, amount) VALUES (1000, '2024-05-05', 1) RETURNING note"
        ),
        "touched"
    );
    assert_eq!(
        scalar(
            &dst,
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'tree_noop'"
        ),
        "D"
    );
    // Rows of tables without stored columns are still rows.
    assert_eq!(scalar(&dst, "SELECT count(*) FROM app.no_columns"), "7");
    assert_eq!(
        scalar(&dst, "SELECT count(*), min(g) FROM app.only_generated"),
        "3|42"
    );
}

#[test]
fn table_patterns_select_and_exclude() {
    let c = Cluster::shared();
    let src = c.create_db("pattern_src").unwrap();
    let dst = c.create_db("pattern_dst").unwrap();
    load(&src);
    // A selected view on an excluded table is left out, and the plan names both.
    src.psql("CREATE VIEW app.doc_bodies AS SELECT body FROM app.doc")
        .unwrap();
    let cfg = config_file(
        "patterns",
        "[tables]\ninclude = [\"app.*\"]\nexclude = [\"app.cache\", \"app.doc\"]\n",
    );
    let out = copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
    assert_success(&out, "copy");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        said.contains("app.doc_bodies")
            && said.contains("depends on table app.doc, which is not selected"),
        "{said}"
    );
    let tables = data_tables(&dst);
    assert!(tables.contains(&"app.account".to_string()), "{tables:?}");
    assert!(
        !tables.iter().any(|t| t == "app.cache" || t == "app.doc"),
        "{tables:?}"
    );
    assert!(
        !tables.iter().any(|t| t.starts_with("\"Weird Schema\"")),
        "{tables:?}"
    );
    // The enum from the unselected schema came along, because app.account needs it.
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM pg_type WHERE typname = 'Status'"
        ),
        "1"
    );
    let out = verify(&src, &dst, &["--config", cfg.to_str().unwrap()]);
    assert_success(&out, "verify");

    let bad = config_file("nomatch", "[tables]\ninclude = [\"app.nothing_*\"]\n");
    let dst2 = c.create_db("pattern_dst2").unwrap();
    let out = copy(&src, &dst2, &["--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("'app.nothing_*' matches no table"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    assert!(data_tables(&dst2).is_empty(), "nothing may be written");
}
