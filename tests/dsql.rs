//! The DSQL profile against the DSQL emulator (a real PostgreSQL behind a proxy that enforces
//! DSQL's rules with DSQL's errors): Pagila and Northwind in both eras with every key
//! strategy, foreign key relationships intact, deterministic UUIDs, keys that keep working
//! after cutover, commits that fail with 40001, and the emulator's own record of every
//! transaction staying under DSQL's limits.

use std::collections::BTreeMap;

use fixtures::dsql::{DsqlOptions, Emulator, Era};
use fixtures::{Cluster, TestDb, datasets};
use migrator_tests::*;

/// The byte budget the tests give the engine, and the emulator's limit (DSQL's).
const BUDGET_KIB: u64 = 8 * 1024;

fn emulator(era: Era) -> Emulator<'static> {
    Emulator::start(
        Cluster::shared(),
        DsqlOptions {
            era,
            ..DsqlOptions::default()
        },
    )
    .unwrap()
}

fn dsql_config(name: &str, extra: &str) -> std::path::PathBuf {
    config_file(
        name,
        &format!(
            "[target]\nprofile = \"dsql\"\n[dsql]\nmax_kib = {BUDGET_KIB}\n[copy]\njobs = 2\n{extra}"
        ),
    )
}

/// `migrator <command>` from `src` into the emulator with config `cfg`.
fn dsql_run(
    command: &str,
    src: &TestDb<'_>,
    emu: &Emulator,
    cfg: &std::path::Path,
) -> std::process::Output {
    run_config(command, src, &emu.url(), cfg)
}

/// Every transaction the emulator saw stayed under DSQL's limits and rules.
fn assert_within_limits(emu: &Emulator) -> usize {
    let records = emu.records();
    assert!(
        records.len() > 10,
        "only {} transactions recorded",
        records.len()
    );
    for r in &records {
        assert!(
            r.rows <= 3000,
            "a transaction modified {} rows: {:?}",
            r.rows,
            r.statements
        );
        assert!(
            r.bytes <= BUDGET_KIB * 1024,
            "a transaction wrote {} bytes: {:?}",
            r.bytes,
            r.statements
        );
        assert!(
            r.ddl <= 1,
            "a transaction held {} DDL statements: {:?}",
            r.ddl,
            r.statements
        );
        assert!(
            r.ddl == 0 || r.dml == 0,
            "a transaction mixed DDL and DML: {:?}",
            r.statements
        );
        // DSQL's refusals (limits, unsupported statements) must never happen; an injected
        // 40001, or a server error of a best-effort object (a function whose body no longer
        // type-checks), may.
        let probe = r.statements.iter().any(|s| s.contains("_migrator_probe"));
        if let Some(e) = r.error.as_ref().filter(|_| !probe) {
            assert!(
                !(e.starts_with("54000") || e.starts_with("0A000") || e.starts_with("42704")),
                "DSQL refused a statement: {e}: {:?}",
                r.statements
            );
        }
    }
    records.len()
}

/// Source foreign keys as a DSQL target has them (partitions folded into their root):
/// `(child, child columns, parent, parent columns) -> join count` over all the rows of the
/// root tables, the same rows the target holds.
fn source_relationships(src: &TestDb<'_>) -> BTreeMap<(String, String, String, String), i64> {
    let rows = scalar(
        src,
        "SELECT string_agg(DISTINCT format('%s|%s|%s|%s', \
            coalesce(pg_partition_root(c.conrelid), c.conrelid)::regclass, \
            (SELECT string_agg(quote_ident(attname), ',' ORDER BY k.o) FROM unnest(c.conkey) WITH ORDINALITY k(n, o) \
               JOIN pg_attribute ON attrelid = c.conrelid AND attnum = k.n), \
            coalesce(pg_partition_root(c.confrelid), c.confrelid)::regclass, \
            (SELECT string_agg(quote_ident(attname), ',' ORDER BY k.o) FROM unnest(c.confkey) WITH ORDINALITY k(n, o) \
               JOIN pg_attribute ON attrelid = c.confrelid AND attnum = k.n)), ';') \
         FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid \
         WHERE c.contype = 'f' AND c.conparentid = 0 AND r.relnamespace = 'public'::regnamespace",
    );
    let mut out = BTreeMap::new();
    for fk in rows.split(';').filter(|s| !s.is_empty()) {
        let p: Vec<&str> = fk.split('|').collect();
        let on: Vec<String> = p[1]
            .split(',')
            .zip(p[3].split(','))
            .map(|(c, pc)| format!("c.{c} = p.{pc}"))
            .collect();
        let n: i64 = scalar(
            src,
            &format!(
                "SELECT count(*) FROM {} c JOIN {} p ON {}",
                p[0],
                p[2],
                on.join(" AND ")
            ),
        )
        .parse()
        .unwrap();
        out.insert(
            (
                p[0].to_string(),
                p[1].to_string(),
                p[2].to_string(),
                p[3].to_string(),
            ),
            n,
        );
    }
    assert!(out.len() >= 5, "too few foreign keys: {out:?}");
    out
}

/// Every source relationship holds in the target: the same join count, and no child row
/// pointing at a missing parent.
fn assert_relationships(src: &TestDb<'_>, dst: &TestDb<'_>) {
    for ((child, cols, parent, pcols), n) in source_relationships(src) {
        let on: Vec<String> = cols
            .split(',')
            .zip(pcols.split(','))
            .map(|(c, pc)| format!("c.{c} = p.{pc}"))
            .collect();
        let joined: i64 = scalar(
            dst,
            &format!(
                "SELECT count(*) FROM {child} c JOIN {parent} p ON {}",
                on.join(" AND ")
            ),
        )
        .parse()
        .unwrap();
        assert_eq!(
            joined, n,
            "{child}({cols}) -> {parent}({pcols}): join counts differ"
        );
        let not_null: Vec<String> = cols
            .split(',')
            .map(|c| format!("c.{c} IS NOT NULL"))
            .collect();
        let orphans = scalar(
            dst,
            &format!(
                "SELECT count(*) FROM {child} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {})",
                not_null.join(" AND "),
                on.join(" AND ")
            ),
        );
        assert_eq!(orphans, "0", "{child}({cols}) has rows without a {parent}");
    }
}

#[test]
fn datasets_in_both_eras_with_every_key_strategy() {
    let c = Cluster::shared();
    let pagila = c.create_db("dsql_pagila").unwrap();
    datasets::load_pagila(&pagila).unwrap();
    let northwind = c.create_db("dsql_northwind").unwrap();
    datasets::load_northwind(&northwind).unwrap();

    let cases = [
        (Era::Y2026, "uuid"),
        (Era::Y2026, "identity"),
        (Era::Y2026, "keep"),
        (Era::Y2025, "uuid"),
        (Era::Y2025, "keep"),
    ];
    for (era, strategy) in cases {
        for src in [&pagila, &northwind] {
            let emu = emulator(era);
            let cfg = dsql_config(
                &format!("ds-{strategy}-{era:?}-{}", src.name()),
                &format!("[keys]\nstrategy = \"{strategy}\"\nallow_keyless = true\n"),
            );
            if std::env::var("DSQL_DEBUG").is_ok() {
                let p = dsql_run("plan", src, &emu, &cfg);
                eprintln!(
                    "{}",
                    text(&p.stdout)
                        .lines()
                        .filter(|l| l.contains("Info")
                            || l.contains("fk:")
                            || l.contains("foreign"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            let out = dsql_run("copy", src, &emu, &cfg);
            assert_success(&out, &format!("copy {} ({era:?}, {strategy})", src.name()));
            // Every row compared through the mappings (enums as text, arrays as json,
            // keys as UUIDs): no false alarm.
            assert_success(
                &run_config_with(&["verify", "--checksums"], src, &emu.url(), &cfg),
                &format!("verify --checksums {} ({era:?}, {strategy})", src.name()),
            );
            assert_within_limits(&emu);
            let dst = emu.backing();
            if era == Era::Y2026 {
                assert_relationships(src, dst);
            } else {
                // No foreign keys in this era: recorded for verify, and still no orphans.
                assert!(
                    scalar(dst, "SELECT count(*) FROM _migrator.foreign_key")
                        .parse::<i64>()
                        .unwrap()
                        > 0
                );
                assert_eq!(
                    scalar(
                        dst,
                        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
                    ),
                    "0"
                );
                assert_relationships(src, dst);
            }
            if src.name() == pagila.name() {
                let key_type = scalar(
                    dst,
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'public.actor'::regclass AND attname = 'actor_id'",
                );
                match strategy {
                    "uuid" => assert_eq!(key_type, "uuid"),
                    "identity" => {
                        assert_eq!(key_type, "bigint");
                        // After cutover the application inserts through DSQL's rules.
                        let id = scalar_via(
                            &emu,
                            "INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ACTOR') RETURNING actor_id",
                        );
                        assert_eq!(
                            id, "201",
                            "a new row must take the key after the copied ones"
                        );
                    }
                    _ => {
                        assert_eq!(key_type, "integer");
                        assert_eq!(scalar(dst, "SELECT max(actor_id) FROM actor"), "200");
                    }
                }
            }
        }
    }
}

/// Runs one statement through the emulator (DSQL's rules apply) and returns its value.
fn scalar_via(emu: &Emulator, sql: &str) -> String {
    let out = emu
        .backing()
        .cluster()
        .bin("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &emu.url(),
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[test]
fn uuids_are_the_same_in_every_target() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_det_src").unwrap();
    datasets::load_pagila(&src).unwrap();
    let cfg = dsql_config(
        "det",
        "[keys]\nstrategy = \"uuid\"\nkeep_legacy_id = true\nallow_keyless = true\n",
    );
    let first = emulator(Era::Y2026);
    let second = emulator(Era::Y2026);
    assert_success(&dsql_run("copy", &src, &first, &cfg), "first copy");
    assert_success(&dsql_run("copy", &src, &second, &cfg), "second copy");
    let tables = data_tables(first.backing());
    assert!(tables.contains(&"public.payment".to_string()), "{tables:?}");
    for t in tables.iter().filter(|t| t.starts_with("public.")) {
        assert_eq!(
            table_contents(first.backing(), t),
            table_contents(second.backing(), t),
            "{t}"
        );
    }
    // The legacy key is kept beside the UUID, and maps back to the source's rows.
    assert_eq!(
        scalar(
            first.backing(),
            "SELECT last_name FROM actor WHERE legacy_actor_id = 1"
        ),
        scalar(&src, "SELECT last_name FROM actor WHERE actor_id = 1")
    );
    let uuid = scalar(
        first.backing(),
        "SELECT actor_id FROM actor WHERE legacy_actor_id = 1",
    );
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "5", "a version 5 UUID");
    // New rows after cutover get a key without colliding.
    let fresh = scalar_via(
        &first,
        "INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ACTOR') RETURNING actor_id",
    );
    assert_ne!(fresh, uuid);
}

/// Every shape of integer key the `uuid` strategy must follow: serial and bigserial primary
/// keys, a self-reference, nullable foreign keys, a foreign key to a UNIQUE column, a
/// composite primary key made of a foreign key and a plain integer, a composite foreign
/// key onto it, and a chain four deep (shift_note -> shift -> member -> team -> org).
const KEY_SHAPES: &str = "
CREATE TABLE org (id serial PRIMARY KEY, code int NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE team (id bigserial PRIMARY KEY, org_id int NOT NULL REFERENCES org,
                   parent_id bigint REFERENCES team, name text);
CREATE TABLE member (id int PRIMARY KEY, team_id bigint REFERENCES team,
                     org_code int REFERENCES org (code), name text);
CREATE TABLE shift (member_id int REFERENCES member, day smallint, hours numeric(4,1),
                    PRIMARY KEY (member_id, day));
CREATE TABLE shift_note (id int PRIMARY KEY, member_id int NOT NULL, day smallint NOT NULL,
                         note text,
                         FOREIGN KEY (member_id, day) REFERENCES shift (member_id, day));
INSERT INTO org SELECT g, 1000 + g * 7, 'org ' || g FROM generate_series(1, 50) g;
INSERT INTO team SELECT g, g % 50 + 1, CASE WHEN g <= 10 THEN NULL ELSE g - 10 END, 'team ' || g
  FROM generate_series(1, 200) g;
INSERT INTO member SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 200 + 1 END,
                          CASE WHEN g % 11 = 0 THEN NULL ELSE 1000 + (g % 50 + 1) * 7 END,
                          'member ' || g
  FROM generate_series(1, 5000) g;
INSERT INTO shift SELECT m, d, (m + d) % 90 / 10.0 FROM generate_series(1, 2000) m,
  generate_series(1, 3) d;
INSERT INTO shift_note SELECT m, m, 2, 'note ' || m FROM generate_series(1, 2000) m;
";

#[test]
fn every_key_shape_becomes_uuids_with_its_foreign_keys() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_shapes_src").unwrap();
    src.psql(KEY_SHAPES).unwrap();
    let uuid = |space: &str, key: i64| migrator_core::key_uuid(None, space, key).to_string();
    for era in [Era::Y2026, Era::Y2025] {
        let emu = emulator(era);
        let cfg = dsql_config(
            &format!("shapes-{era:?}"),
            "[keys]\nstrategy = \"uuid\"\nkeep_legacy_id = true\nallow_keyless = true\n",
        );
        assert_success(
            &dsql_run("copy", &src, &emu, &cfg),
            &format!("copy ({era:?})"),
        );
        assert_success(
            &dsql_run("verify", &src, &emu, &cfg),
            &format!("verify ({era:?})"),
        );
        assert_within_limits(&emu);
        let dst = emu.backing();
        // The relationships hold by value: same join counts, no orphans.
        assert_relationships(&src, dst);
        for (table, column) in [
            ("org", "id"),
            ("org", "code"),
            ("team", "id"),
            ("team", "org_id"),
            ("team", "parent_id"),
            ("member", "id"),
            ("member", "team_id"),
            ("member", "org_code"),
            ("shift", "member_id"),
            ("shift", "day"),
            ("shift_note", "member_id"),
            ("shift_note", "day"),
        ] {
            assert_eq!(
                scalar(
                    dst,
                    &format!(
                        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                          WHERE attrelid = 'public.{table}'::regclass AND attname = '{column}'"
                    )
                ),
                "uuid",
                "{table}.{column} ({era:?})"
            );
        }
        // Each value is the documented function of the source's value, NULLs stay NULL.
        assert_eq!(
            scalar(dst, "SELECT parent_id FROM team WHERE legacy_id = 25"),
            uuid("public.team", 15)
        );
        assert_eq!(
            scalar(dst, "SELECT count(*) FROM team WHERE parent_id IS NULL"),
            "10"
        );
        assert_eq!(
            scalar(dst, "SELECT org_id FROM team WHERE legacy_id = 25"),
            uuid("public.org", 26)
        );
        assert_eq!(
            scalar(dst, "SELECT org_code FROM member WHERE legacy_id = 3"),
            uuid("public.org.code", 1000 + 4 * 7)
        );
        assert_eq!(
            scalar(dst, "SELECT code FROM org WHERE legacy_id = 4"),
            uuid("public.org.code", 1000 + 4 * 7)
        );
        assert_eq!(
            scalar(
                dst,
                "SELECT count(*) FILTER (WHERE team_id IS NULL) || '/' || count(*) FILTER (WHERE org_code IS NULL) FROM member"
            ),
            scalar(
                &src,
                "SELECT count(*) FILTER (WHERE team_id IS NULL) || '/' || count(*) FILTER (WHERE org_code IS NULL) FROM member"
            )
        );
        // A composite key part that is a foreign key keeps its parent's key space; the
        // plain part gets its own, shared with the composite foreign key onto it.
        assert_eq!(
            scalar(
                dst,
                &format!(
                    "SELECT count(*) FROM shift_note WHERE legacy_id = 9 AND member_id = '{}' AND day = '{}'",
                    uuid("public.member", 9),
                    uuid("public.shift.day", 2)
                )
            ),
            "1"
        );
        // Four joins deep, every note still reaches its organisation.
        let deep = "SELECT count(*) FROM shift_note n JOIN shift s USING (member_id, day) \
                    JOIN member m ON m.id = s.member_id JOIN team t ON t.id = m.team_id \
                    JOIN org o ON o.id = t.org_id";
        assert_eq!(scalar(dst, deep), scalar(&src, deep));
        assert!(scalar(dst, deep).parse::<i64>().unwrap() > 1000);
    }
}

#[test]
fn commits_failing_with_40001_lose_and_double_nothing() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_occ_src").unwrap();
    src.psql(
        "CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), note text);
         INSERT INTO ledger SELECT g, g % 97, g / 100.0, repeat('n', g % 40) FROM generate_series(1, 50000) g;",
    )
    .unwrap();
    let emu = Emulator::start(
        Cluster::shared(),
        DsqlOptions {
            era: Era::Y2026,
            commit_failure_fraction: 0.2,
            seed: 7,
            ..DsqlOptions::default()
        },
    )
    .unwrap();
    let cfg = dsql_config("occ", "[keys]\nstrategy = \"keep\"\n");
    let out = dsql_run("copy", &src, &emu, &cfg);
    assert_success(&out, "copy with failing commits");
    assert_eq!(
        table_contents(&src, "public.ledger"),
        table_contents(emu.backing(), "public.ledger")
    );
    let records = emu.records();
    let failed = records
        .iter()
        .filter(|r| !r.committed && r.error.as_deref().is_some_and(|e| e.starts_with("40001")))
        .count();
    assert!(failed >= 3, "only {failed} commits failed");
    assert_within_limits(&emu);
    assert_success(
        &run_config_with(&["verify", "--checksums"], &src, &emu.url(), &cfg),
        "verify --checksums",
    );
}

#[test]
fn plan_maps_what_dsql_lacks_and_strict_refuses() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_plan_src").unwrap();
    datasets::load_pagila(&src).unwrap();
    let emu = emulator(Era::Y2026);
    // Two of Pagila's payment partitions have no primary key, so `payment` (one table in
    // DSQL) has none: refused under uuid keys until accepted.
    let out = dsql_run("plan", &src, &emu, &dsql_config("plan-keyless", ""));
    assert_eq!(out.status.code(), Some(1));
    let p = text(&out.stdout);
    assert!(
        p.contains("public.payment") && p.contains("keys.allow_keyless = true"),
        "{p}"
    );
    let cfg = dsql_config("plan", "[keys]\nallow_keyless = true\n");
    let out = dsql_run("plan", &src, &emu, &cfg);
    assert_success(&out, "plan");
    let p = text(&out.stdout);
    for expected in [
        "enum public.mpaa_rating stored as text with a CHECK of its labels",
        "domain public.year stored as integer with its constraints",
        "array text[] stored as json",
        "partitioned table created as one table",
        "not created in DSQL: DSQL has no triggers",
        "CREATE INDEX ASYNC",
        "ALTER TABLE ASYNC",
    ] {
        assert!(p.contains(expected), "plan lacks {expected:?}:\n{p}");
    }
    assert!(emu.records().iter().all(|r| r.rows == 0), "plan wrote rows");
    let out = run_config_with(&["plan", "--strict"], &src, &emu.url(), &cfg);
    assert_eq!(out.status.code(), Some(1), "strict plan must fail");
    let out = run_config_with(&["copy", "--strict"], &src, &emu.url(), &cfg);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("enum"), "{}", text(&out.stderr));
    assert!(
        data_tables(emu.backing())
            .iter()
            .all(|t| !t.starts_with("public.")),
        "strict copy wrote tables"
    );
}

#[test]
fn values_over_dsql_limits_are_found_by_plan() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_big_src").unwrap();
    // One column over each kind of limit, as mapped: text, an unbounded varchar, bytea,
    // jsonb (stored as json), an array (stored as json); and a key over 1 KiB.
    src.psql(
        "CREATE TABLE doc (id int PRIMARY KEY, body text, note varchar, data bytea, meta jsonb, tags text[]);
         INSERT INTO doc VALUES (1, 'small', 'small', '\\x00', '{}', '{a}'),
           (2, repeat('x', 1100000), NULL, NULL, NULL, NULL),
           (3, NULL, repeat('y', 70000), NULL, NULL, NULL),
           (4, NULL, NULL, decode(repeat('ab', 1100000), 'hex'), NULL, NULL),
           (5, NULL, NULL, NULL, jsonb_build_object('k', repeat('z', 1100000)), NULL),
           (6, NULL, NULL, NULL, NULL, array_fill('w'::text, ARRAY[300000]));
         CREATE TABLE code (code text PRIMARY KEY);
         INSERT INTO code VALUES ('short'), (repeat('k', 1100));",
    )
    .unwrap();
    let emu = emulator(Era::Y2026);
    let cfg = dsql_config("big", "");
    let out = dsql_run("plan", &src, &emu, &cfg);
    assert_eq!(out.status.code(), Some(1));
    let p = text(&out.stdout);
    for expected in [
        "public.doc.body holds values up to 1.0 MiB (1100000 bytes) as text; DSQL refuses text values over 1.0 MiB (1048576 bytes)",
        "public.doc.note holds values up to 68.4 KiB (70000 bytes) as character varying; DSQL refuses varchar values over 64.0 KiB (65535 bytes)",
        "public.doc.data holds values up to 1.0 MiB (1100000 bytes) as bytea; DSQL refuses bytea values over 1.0 MiB (1048576 bytes): move the column to an object store with [blobs]",
        "public.doc.meta holds values up to 1.0 MiB (1100009 bytes) as json; DSQL refuses json values over",
        "public.doc.tags holds values up to 1.1 MiB (1200001 bytes) as json",
        "public.code: its primary key (code) holds keys up to 1100 bytes; DSQL refuses keys over 1024 bytes",
        "leave the table out ([tables] exclude), or stay on PostgreSQL (--profile postgres)",
    ] {
        assert!(p.contains(expected), "plan lacks {expected:?}:\n{p}");
    }
    // A text column is not told to use [blobs], which takes only bytea.
    let body = p
        .lines()
        .find(|l| l.contains("public.doc.body holds"))
        .unwrap();
    assert!(!body.contains("[blobs]"), "{body}");
    // The copy refuses with one error line naming a column, and writes nothing.
    let out = dsql_run("copy", &src, &emu, &cfg);
    assert_eq!(out.status.code(), Some(1));
    let error = one_line_error(&out);
    assert!(
        error.contains("public.code") && error.contains("and 5 more errors"),
        "{error}"
    );
    assert!(
        emu.records().iter().all(|r| r.rows == 0),
        "the refused copy wrote rows"
    );
    assert_eq!(
        scalar(
            emu.backing(),
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('doc', 'code')"
        ),
        "0",
        "the refused copy created a table"
    );
}

#[test]
fn omitted_foreign_keys_are_checked_for_orphans() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_orphan_src").unwrap();
    datasets::load_northwind(&src).unwrap();
    let emu = emulator(Era::Y2026);
    let cfg = dsql_config(
        "orphans",
        "[keys]\nstrategy = \"keep\"\n[foreign_keys]\nmode = \"omit\"\n",
    );
    assert_success(&dsql_run("copy", &src, &emu, &cfg), "copy");
    assert_success(&dsql_run("verify", &src, &emu, &cfg), "verify");
    // A parent goes missing in the target (another order takes its place, so the counts
    // still match): its three order lines become orphans.
    emu.backing()
        .psql(
            "DELETE FROM orders WHERE order_id = 10248;
             CREATE TEMP TABLE o AS SELECT * FROM orders WHERE order_id = 10249;
             UPDATE o SET order_id = 30000;
             INSERT INTO orders SELECT * FROM o;",
        )
        .unwrap();
    let out = run_config_with(&["verify", "--json"], &src, &emu.url(), &cfg);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = |name: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"]["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(verdict("orders")["verdict"], "match");
    assert_eq!(
        verdict("order_details")["verdict"],
        "orphans",
        "{}",
        verdict("order_details")
    );
    assert_eq!(verdict("order_details")["orphans"], 3);
}

/// Every statement of a DSQL plan, as the plan's JSON gives them.
fn plan_statements(src: &TestDb<'_>, emu: &Emulator, cfg: &std::path::Path) -> Vec<String> {
    let out = run_config_with(&["plan", "--json"], src, &emu.url(), cfg);
    assert!(out.status.code().is_some(), "plan crashed");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    let mut statements = Vec::new();
    for step in plan["steps"].as_array().unwrap() {
        let action = &step["action"];
        if let Some(list) = action["statements"].as_array() {
            statements.extend(list.iter().map(|s| s.as_str().unwrap().to_string()));
        }
        if let Some(s) = action["statement"].as_str() {
            statements.push(s.to_string());
        }
    }
    statements
}

#[test]
fn the_generated_ddl_passes_dsql_lint() {
    let c = Cluster::shared();
    let pagila = c.create_db("lint_pagila").unwrap();
    datasets::load_pagila(&pagila).unwrap();
    let northwind = c.create_db("lint_northwind").unwrap();
    datasets::load_northwind(&northwind).unwrap();
    let demo = c.create_db("lint_demo").unwrap();
    fixtures::demo::load(&demo).unwrap();
    // Every mapping of DSQL's types table: the type matrix, and an application's schema.
    let matrix = c.create_db("lint_matrix").unwrap();
    fixtures::type_matrix::load(&matrix).unwrap();
    let app = c.create_db("lint_app").unwrap();
    app.psql(APP_SCHEMA).unwrap();
    // The linter is awake: it objects to what DSQL refuses.
    assert!(!dsql_lint::lint_sql("CREATE TABLE t (id serial PRIMARY KEY)").is_empty());
    assert!(!dsql_lint::lint_sql("CREATE INDEX i ON t (v)").is_empty());
    let emu = emulator(Era::Y2026);
    let mut total = 0;
    for (src, strategy) in [
        (&pagila, "uuid"),
        (&pagila, "identity"),
        (&northwind, "keep"),
        (&demo, "uuid"),
        (&matrix, "keep"),
        (&app, "uuid"),
    ] {
        let cfg = dsql_config(
            &format!("lint-{}-{strategy}", src.name()),
            &format!("[keys]\nstrategy = \"{strategy}\"\nallow_keyless = true\n"),
        );
        let statements = plan_statements(src, &emu, &cfg);
        assert!(
            statements.iter().any(|s| s.starts_with("CREATE TABLE")),
            "no tables in the plan of {}",
            src.name()
        );
        for sql in &statements {
            let findings = dsql_lint::lint_sql(sql);
            assert!(
                findings.is_empty(),
                "dsql-lint objects to a statement for {} ({strategy}):\n{sql}\n{:#?}",
                src.name(),
                findings
                    .iter()
                    .map(|d| (&d.message, &d.suggestion))
                    .collect::<Vec<_>>()
            );
        }
        total += statements.len();
    }
    assert!(total > 100, "only {total} statements linted");
}

#[test]
fn sessions_are_replaced_before_the_connection_age_limit() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_age_src").unwrap();
    src.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, repeat('v', 300) FROM generate_series(1, 60000) g;")
        .unwrap();
    let sessions = |emu: &Emulator| -> i64 {
        scalar(
            emu.backing(),
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
        )
        .parse()
        .unwrap()
    };
    let mut opened = Vec::new();
    for max_age in [3000, 0] {
        let emu = emulator(Era::Y2026);
        let before = sessions(&emu);
        let cfg = config_file(
            &format!("age{max_age}"),
            &format!(
                "[target]\nprofile = \"dsql\"\n[keys]\nstrategy = \"keep\"\n[copy]\nchunk_mib = 1\njobs = 2\n\
                 [dsql]\nmax_session_seconds = {max_age}\n"
            ),
        );
        assert_success(&dsql_run("copy", &src, &emu, &cfg), "copy");
        assert_eq!(
            table_contents(&src, "public.t"),
            table_contents(emu.backing(), "public.t")
        );
        opened.push(sessions(&emu) - before);
    }
    let chunks: i64 = scalar(&src, "SELECT ceil(pg_table_size('t') / 1048576.0)::int")
        .parse()
        .unwrap();
    // With no age limit a worker keeps its session for every chunk; with a limit of zero
    // seconds it opens a fresh one for each.
    assert!(
        opened[1] >= opened[0] + chunks - 4,
        "sessions opened: {opened:?}, chunks: {chunks}"
    );
}

/// The process dies at exact spots of a DSQL copy: a batch written but not committed, a
/// batch committed in the middle of its chunk, and a post-data step whose statements
/// committed (an asynchronous index build among them) before its record did. Each time a
/// re-run finishes, and the target ends equal to the source, within DSQL's limits.
#[test]
fn crash_points_in_a_dsql_copy_leave_what_a_rerun_finishes() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_crash_src").unwrap();
    src.psql(
        "CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, note text);
         INSERT INTO ledger SELECT g, g % 97, repeat('n', g % 40) FROM generate_series(1, 30000) g;
         CREATE INDEX ledger_account ON ledger (account);",
    )
    .unwrap();
    let emu = emulator(Era::Y2026);
    let cfg = dsql_config("crash", "[keys]\nstrategy = \"keep\"\n");
    let (s, t) = (src.url(), emu.url());
    let args = config_args(&["copy"], &s, &t, &cfg);
    for spec in [
        "copy.batch.before_commit=2*off->return",
        "copy.batch.after_commit=3*off->return",
        "copy.step.before_record=return",
    ] {
        // Each re-run waits out the dead run's lease (DSQL has no advisory locks): ~30 s.
        crash_at(&args, spec);
    }
    // The last crash came after the index's CREATE INDEX ASYNC, before its record. DSQL
    // goes on building it: here the build is still running when the re-run comes, then
    // fails. The re-run finds the index there and waits for that job rather than counting
    // the index built, and reports the failure.
    let set_job = |status: &str| {
        scalar(
            emu.backing(),
            &format!(
                "WITH f AS (UPDATE sys.jobs SET status = '{status}', \
                 details = 'simulated build failure' \
                 WHERE object_id = 'public.ledger_account'::regclass RETURNING 1) \
                 SELECT count(*) FROM f"
            ),
        )
    };
    assert_eq!(
        set_job("processing"),
        "1",
        "the crash came after the index's job started"
    );
    let rerun = migrator()
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn migrator copy");
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CALL sys.wait_for_job%'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while scalar(emu.backing(), waiting) == "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the re-run never waited for the job"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    set_job("failed");
    let out = rerun.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let e = one_line_error(&out);
    assert!(
        e.contains("index:public.ledger_account") && e.contains("simulated build failure"),
        "{e}"
    );
    emu.backing()
        .psql("DROP INDEX public.ledger_account")
        .unwrap();
    let out = run(&args);
    assert_success(&out, "copy after three crashes and a failed index build");
    assert_eq!(
        table_contents(&src, "public.ledger"),
        table_contents(emu.backing(), "public.ledger")
    );
    assert_eq!(
        scalar(
            emu.backing(),
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'ledger' AND indexdef LIKE '%(account)%'"
        ),
        "1",
        "the index is there once"
    );
    assert_success(
        &run_config_with(&["verify", "--checksums"], &src, &emu.url(), &cfg),
        "verify --checksums",
    );
    assert_within_limits(&emu);
}

/// A table without a primary key under the default `keys.strategy = uuid`: plan and copy
/// refuse it by name (one error line, nothing written) and say how to go on; accepted with
/// `keys.allow_keyless`, the plan says what it costs (no UUID key, DSQL's hidden one
/// instead), `--strict` still refuses it, and the copy moves it.
#[test]
fn a_table_without_a_primary_key_is_refused_under_uuid_keys_unless_accepted() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_nopk_src").unwrap();
    src.psql(
        "CREATE TABLE account (id int PRIMARY KEY, name text);
         CREATE TABLE audit_log (account_id int REFERENCES account, at timestamptz, what text);
         INSERT INTO account VALUES (1, 'a');
         INSERT INTO audit_log VALUES (1, now(), 'created');",
    )
    .unwrap();
    let emu = emulator(Era::Y2026);
    let no_write = |what: &str| {
        assert!(
            data_tables(emu.backing())
                .iter()
                .all(|t| !t.starts_with("public.")),
            "{what} wrote tables"
        )
    };
    let one_error = |out: &std::process::Output| -> String {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        one_line_error(out)
    };

    // Refused by default, by plan and by copy, naming the table and the way out.
    let cfg = dsql_config("nopk", "");
    // (plan reports its problems in its table, and exits 1 when there is one)
    let out = dsql_run("plan", &src, &emu, &cfg);
    assert_eq!(out.status.code(), Some(1));
    let p = text(&out.stdout);
    assert!(
        p.contains("public.audit_log")
            && p.contains("no primary key")
            && p.contains("keys.allow_keyless = true"),
        "{p}"
    );
    let e = one_error(&dsql_run("copy", &src, &emu, &cfg));
    assert!(e.contains("public.audit_log"), "{e}");
    no_write("the refused copy");

    // Accepted: a warning that says what it costs; --strict still refuses it.
    let cfg = dsql_config("nopk-ok", "[keys]\nallow_keyless = true\n");
    let out = dsql_run("plan", &src, &emu, &cfg);
    assert_success(&out, "plan");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("public.audit_log") && all.contains("no UUID key"),
        "{all}"
    );
    one_error(&run_config_with(
        &["copy", "--strict"],
        &src,
        &emu.url(),
        &cfg,
    ));
    no_write("the strict copy");
    assert_success(&dsql_run("copy", &src, &emu, &cfg), "copy");
    assert_eq!(scalar_via(&emu, "SELECT count(*) FROM audit_log"), "1");
}

/// An application's schema as Drizzle made it (the grievance portal's shape), holding every
/// type DSQL stores differently: connect-pg-simple's `sessions` with `jsonb` session data, a
/// `text[]` and an `integer[]`, `inet` and `cidr`, an unconstrained `numeric` with 17
/// digits and 9 decimals, a long unbounded `varchar` and a `varchar(70000)`.
const APP_SCHEMA: &str = "
CREATE TABLE users (
    id serial PRIMARY KEY,
    email varchar(255) NOT NULL UNIQUE,
    last_ip inet,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sessions (
    sid varchar NOT NULL PRIMARY KEY,
    sess jsonb NOT NULL,
    expire timestamp(6) NOT NULL
);
CREATE INDEX \"IDX_session_expire\" ON sessions (expire);
CREATE TABLE grievances (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    title varchar(200) NOT NULL,
    body varchar NOT NULL,
    summary varchar(70000),
    tags text[] NOT NULL DEFAULT '{}',
    scores integer[],
    amount numeric,
    attachments jsonb DEFAULT '[]'::jsonb,
    reporter_net cidr
);
CREATE INDEX grievances_user_idx ON grievances (user_id);
INSERT INTO users (email, last_ip)
    SELECT format('user%s@example.com', i), format('192.0.2.%s', i)::inet FROM generate_series(1, 40) i;
INSERT INTO sessions
    SELECT md5(i::text), jsonb_build_object('cookie', jsonb_build_object('maxAge', 86400000, 'httpOnly', true),
                                           'passport', jsonb_build_object('user', i), 'note', 'caf\u{e9} \"quoted\"'),
           '2026-12-31 00:00:00'::timestamp + i * interval '1 minute'
      FROM generate_series(1, 300) i;
INSERT INTO grievances (user_id, title, body, summary, tags, scores, amount, attachments, reporter_net)
    SELECT 1 + i % 40, format('Grievance %s', i),
           CASE WHEN i = 7 THEN repeat('long body ', 6000) ELSE format('body %s', i) END,
           CASE WHEN i % 3 = 0 THEN repeat('s', 100) END,
           CASE WHEN i % 4 = 0 THEN '{}'::text[] ELSE ARRAY['billing', format('t%s', i), NULL] END,
           CASE WHEN i % 5 = 0 THEN NULL ELSE ARRAY[i, -i, 0] END,
           CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN 12345678.123456789 WHEN 2 THEN -87654321.987654321
                      WHEN 3 THEN 0.000000001 WHEN 4 THEN 12345678901234567 ELSE i * 1.5 END,
           jsonb_build_array(jsonb_build_object('name', format('f%s.pdf', i), 'size', i * 1000)),
           format('10.%s.0.0/16', i % 200)::cidr
      FROM generate_series(1, 500) i;
";

/// The application's schema through plan, copy, the application's writes, sync and verify,
/// onto the DSQL profile with 5% of commits failing, once with a cluster that refuses
/// `jsonb` columns and once with one that stores them: every mapping a finding, and
/// `verify --checksums` clean, comparing through the mappings.
#[test]
fn an_application_with_every_mapped_type_moves_syncs_and_verifies() {
    let c = Cluster::shared();
    for jsonb in [false, true] {
        let src = c.create_db(&format!("app_types_{jsonb}")).unwrap();
        src.psql(APP_SCHEMA).unwrap();
        let emu = Emulator::start(
            c,
            DsqlOptions {
                era: Era::Y2026,
                jsonb_columns: jsonb,
                commit_failure_fraction: 0.05,
                seed: 19,
                ..DsqlOptions::default()
            },
        )
        .unwrap();
        let cfg = dsql_config(&format!("app-types-{jsonb}"), "chunk_mib = 1\n");

        let plan = dsql_run("plan", &src, &emu, &cfg);
        assert_success(&plan, "plan");
        let p = text(&plan.stdout);
        if std::env::var("DSQL_DEBUG").is_ok() {
            eprintln!("{p}");
        }
        let mut expected = vec![
            "array text[] stored as json",
            "array integer[] stored as json",
            "type inet stored as text: DSQL has no inet columns",
            "type cidr stored as text: DSQL has no cidr columns",
            "public.grievances.amount: numeric without a precision, which DSQL would make numeric(18,6)",
            "its values have up to 17 integer digits and 9 decimals: created as numeric(29,9)",
            "character varying(70000) stored as text with a CHECK of its length",
        ];
        if !jsonb {
            expected
                .push("public.sessions.sess: type jsonb stored as json: DSQL has no jsonb columns");
        }
        for e in &expected {
            assert!(p.contains(e), "plan lacks {e:?}:\n{p}");
        }
        if jsonb {
            assert!(!p.contains("type jsonb stored as"), "{p}");
        }
        // Under --strict every one of them is an error.
        let strict = run_config_with(&["plan", "--strict"], &src, &emu.url(), &cfg);
        assert_eq!(strict.status.code(), Some(1));

        assert_success(&dsql_run("copy", &src, &emu, &cfg), "copy");
        let dst = emu.backing();
        let type_of = |table: &str, column: &str| {
            scalar(
                dst,
                &format!(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                     WHERE attrelid = 'public.{table}'::regclass AND attname = '{column}'"
                ),
            )
        };
        let json = if jsonb { "jsonb" } else { "json" };
        assert_eq!(type_of("sessions", "sess"), json);
        assert_eq!(type_of("grievances", "attachments"), json);
        assert_eq!(type_of("grievances", "tags"), "json");
        assert_eq!(type_of("grievances", "amount"), "numeric(29,9)");
        assert_eq!(type_of("grievances", "summary"), "text");
        assert_eq!(type_of("users", "last_ip"), "text");

        // The application goes on writing, then sync carries it over.
        src.psql(
            "UPDATE grievances SET amount = 98765432109876543.123456789, tags = ARRAY['escalated'] WHERE id = 2;
             UPDATE sessions SET sess = sess || '{\"flash\": {\"info\": [\"saved\"]}}' WHERE sid = md5('5');
             DELETE FROM sessions WHERE sid = md5('6');
             INSERT INTO sessions VALUES ('new-session', '{\"passport\": {\"user\": 41}}', '2027-01-01');
             INSERT INTO users (email, last_ip) VALUES ('late@example.com', '2001:db8::1');
             INSERT INTO grievances (user_id, title, body, tags, amount, reporter_net)
                 VALUES (41, 'Late', repeat('b', 60000), ARRAY['new'], 0.123456789, '2001:db8::/32');",
        )
        .unwrap();
        assert_success(&dsql_run("sync", &src, &emu, &cfg), "sync");
        assert_success(
            &run_config_with(&["verify", "--checksums"], &src, &emu.url(), &cfg),
            &format!("verify --checksums (jsonb columns: {jsonb})"),
        );
        assert_within_limits(&emu);

        // Values, each compared as what it is: numbers as numbers, JSON as JSON.
        let digest = |db: &TestDb<'_>, sql: &str| {
            scalar(
                db,
                &format!("SELECT md5(string_agg(v, '|' ORDER BY k)) FROM ({sql}) x"),
            )
        };
        for (what, source_sql, target_sql) in [
            (
                "amounts",
                "SELECT title AS k, amount::text AS v FROM grievances",
                "SELECT title AS k, amount::numeric::text AS v FROM grievances",
            ),
            (
                "session data",
                "SELECT sid AS k, sess::text AS v FROM sessions",
                "SELECT sid AS k, sess::jsonb::text AS v FROM sessions",
            ),
            (
                "tags",
                "SELECT title AS k, to_jsonb(tags)::text AS v FROM grievances",
                "SELECT title AS k, tags::jsonb::text AS v FROM grievances",
            ),
            (
                "addresses",
                "SELECT email AS k, host(last_ip) AS v FROM users",
                "SELECT email AS k, host(last_ip::inet) AS v FROM users",
            ),
            (
                "bodies",
                "SELECT title AS k, body || coalesce(summary, '-') AS v FROM grievances",
                "SELECT title AS k, body || coalesce(summary, '-') AS v FROM grievances",
            ),
        ] {
            // Trailing zeros a numeric(29,9) adds are not a difference in value.
            let source_sql = if what == "amounts" {
                source_sql.replace("amount::text", "amount::numeric(29,9)::numeric::text")
            } else {
                source_sql.to_string()
            };
            assert_eq!(
                digest(&src, &source_sql),
                digest(dst, target_sql),
                "{what} differ (jsonb columns: {jsonb})"
            );
        }
        assert_eq!(
            scalar(
                dst,
                "SELECT amount FROM grievances WHERE title = 'Grievance 2'"
            ),
            "98765432109876543.123456789"
        );
        // Comparing through the mappings still sees a change in what they map: one
        // session's data and one amount's last decimal, changed behind migrator's back.
        dst.psql(
            "UPDATE sessions SET sess = '{\"passport\": {\"user\": 999}}' WHERE sid = md5('9');
             UPDATE grievances SET amount = amount + 0.000000001 WHERE title = 'Grievance 13';",
        )
        .unwrap();
        let out = run_config_with(&["verify", "--checksums", "--json"], &src, &emu.url(), &cfg);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let verdict = |name: &str| {
            report["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["table"]["name"] == name)
                .map(|t| t["verdict"].as_str().unwrap().to_string())
                .unwrap()
        };
        assert_eq!(verdict("users"), "match");
        assert_ne!(verdict("sessions"), "match");
        assert_ne!(verdict("grievances"), "match");
    }
}

/// The type matrix (every built-in type's edge values, enums, domains, composites, arrays,
/// ranges) onto the DSQL profile: `plan` names every mapping as a finding, the copy goes
/// through them all within DSQL's limits and refusals, and `verify --checksums` is clean.
#[test]
fn the_type_matrix_moves_onto_dsql_through_every_mapping() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_matrix_src").unwrap();
    fixtures::type_matrix::load(&src).unwrap();
    let emu = emulator(Era::Y2026);
    let cfg = dsql_config("matrix", "[keys]\nstrategy = \"keep\"\n");
    let plan = dsql_run("plan", &src, &emu, &cfg);
    let p = text(&plan.stdout);
    if std::env::var("DSQL_DEBUG").is_ok() {
        eprintln!("{p}");
    }
    assert_success(&plan, "plan");
    for expected in [
        "matrix.types.c_jsonb: type jsonb stored as json",
        "matrix.types.c_inet: type inet stored as text",
        "matrix.types.c_money: type money stored as numeric(20,2)",
        "matrix.types.c_xml: type xml stored as text",
        "matrix.types.c_tsvector: type tsvector stored as text",
        "matrix.types.c_point: type point stored as text",
        "matrix.types.c_bit_8: type bit stored as text",
        "stored as json",
        "enum matrix.mood stored as text",
        "domain matrix.posnum stored as text with its constraints (numeric without a precision",
        "matrix.types.c_pg_lsn: type pg_lsn stored as text: not a DSQL column type",
        "matrix.numerics.c_numeric: numeric without a precision",
        "more than the 1000 digits DSQL's numeric holds: stored as text",
        "matrix.numeric_infinity.c_numeric: numeric without a precision",
        "Infinity, which no numeric(p,s) holds: stored as text",
    ] {
        assert!(p.contains(expected), "plan lacks {expected:?}:\n{p}");
    }
    assert_success(&dsql_run("copy", &src, &emu, &cfg), "copy");
    assert_success(
        &run_config_with(&["verify", "--checksums"], &src, &emu.url(), &cfg),
        "verify --checksums",
    );
    assert_within_limits(&emu);
}

/// DSQL takes at most 100 new connections a second past a burst: with the emulator's burst
/// cut to 5, a copy with 16 jobs (dozens of target sessions, most of them at the start)
/// opens them no faster than the rate, so none is refused.
#[test]
fn sessions_open_no_faster_than_dsql_accepts_them() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_rate_src").unwrap();
    // About 30 chunks of 1 MiB, enough for every one of the 16 workers.
    src.psql(
        "CREATE TABLE item (id bigint PRIMARY KEY, body text NOT NULL);
         INSERT INTO item SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 120000) g;
         ANALYZE item;",
    )
    .unwrap();
    let emu = Emulator::start(
        c,
        DsqlOptions {
            era: Era::Y2026,
            connection_burst: 5,
            ..DsqlOptions::default()
        },
    )
    .unwrap();
    let cfg = dsql_config("rate", "jobs = 16\nchunk_mib = 1\n");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    // `jobs` appears once: the test's own value replaces the default of dsql_config.
    std::fs::write(&cfg, cfg_text.replacen("jobs = 2\n", "", 1)).unwrap();
    assert_success(&dsql_run("copy", &src, &emu, &cfg), "copy with 16 jobs");
    assert_eq!(emu.refused_connections(), 0);
    assert!(
        emu.peak_connections_per_second() <= 100,
        "{} connections within one second",
        emu.peak_connections_per_second()
    );
    assert!(
        emu.peak_connections_per_second() > 10,
        "{}",
        emu.peak_connections_per_second()
    );
}

/// `copy --restart` on DSQL discards the earlier run statement by statement (the tables it
/// made, then the manifest's tables) while this run holds its lease, whose table stays:
/// the copy then starts over and verifies clean, and the lease is released at the end.
#[test]
fn restart_on_dsql_starts_over_under_the_runs_own_lease() {
    let c = Cluster::shared();
    let src = c.create_db("dsql_restart_src").unwrap();
    datasets::load_northwind(&src).unwrap();
    let emu = emulator(Era::Y2026);
    let cfg = dsql_config("restart", "[keys]\nstrategy = \"keep\"\n");
    assert_success(&dsql_run("copy", &src, &emu, &cfg), "first copy");
    // A row the first run did not write, to see it go.
    emu.backing()
        .psql("INSERT INTO region VALUES (99, 'Nowhere')")
        .unwrap();
    let out = run_config_with(&["copy", "--restart"], &src, &emu.url(), &cfg);
    assert_success(&out, "copy --restart");
    assert_eq!(
        scalar(
            emu.backing(),
            "SELECT count(*) FROM region WHERE region_id = 99"
        ),
        "0"
    );
    assert_success(
        &run_config_with(&["verify", "--checksums"], &src, &emu.url(), &cfg),
        "verify --checksums",
    );
    assert_eq!(
        scalar(emu.backing(), "SELECT count(*) FROM _migrator.lease"),
        "0",
        "the lease is released"
    );
    assert_within_limits(&emu);
}
