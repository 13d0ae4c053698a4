//! `bytea` values moved to a blob store during the copy, against a real S3-protocol server
//! over HTTP (`fixtures::s3`: s3s + s3s-fs on a random port) and a local directory: values
//! of every shape, identical values stored once, the checksum and encryption headers the
//! store received, both target profiles, the datasets' picture columns, an outage of the
//! store in the middle of a copy, and verify's blob checks.

use std::collections::BTreeMap;
use std::process::Output;

use fixtures::dsql::{DsqlOptions, Emulator, Era};
use fixtures::s3::{Fault, S3Server};
use fixtures::{Cluster, TestDb, datasets};
use migrator_tests::*;
use sha2::{Digest, Sha256};

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `migrator <args>` with the S3 server's credentials in its environment.
fn run_s3(s3: &S3Server, args: &[&str]) -> Output {
    migrator()
        .envs(s3.client_env())
        .args(args)
        .output()
        .expect("run migrator")
}

fn blob_config(name: &str, store: &str, s3: Option<&S3Server>, extra: &str) -> std::path::PathBuf {
    let s3_section = s3
        .map(|s| {
            format!(
                "[blobs.s3]\nendpoint = \"{}\"\nsse = \"AES256\"\nstorage_class = \"STANDARD\"\n",
                s.endpoint()
            )
        })
        .unwrap_or_default();
    config_file(
        name,
        &format!(
            "{extra}\n[blobs]\nstore = \"{store}\"\n\
             [[blobs.columns]]\ntable = \"public.upload\"\ncolumn = \"data\"\ncontent_type_column = \"mime\"\n\
             [[blobs.columns]]\ntable = \"public.avatar\"\ncolumn = \"data\"\n{s3_section}"
        ),
    )
}

/// Values of every shape: empty, one byte, every byte value, zeros, just over DSQL's 1 MiB,
/// NULL, 20 MiB (a multipart upload); and 1,000 rows sharing 10 contents.
const SHAPES: &str = r"
CREATE TABLE upload (id int PRIMARY KEY, label text NOT NULL, mime text, data bytea);
INSERT INTO upload VALUES
  (1, 'empty', 'application/octet-stream', ''::bytea),
  (2, 'one zero byte', 'text/plain', '\x00'::bytea),
  (3, 'every byte value', NULL,
      (SELECT string_agg(set_byte('\x00'::bytea, 0, g % 256), ''::bytea ORDER BY g)
         FROM generate_series(0, 1023) g)),
  (4, 'zeros', NULL, decode(repeat('00', 4096), 'hex')),
  (5, '1 MiB + 1', 'application/pdf',
      (SELECT string_agg(sha256(int4send(g)), ''::bytea ORDER BY g)
         FROM generate_series(1, 32768) g) || '\x01'::bytea),
  (6, 'null', NULL, NULL),
  (7, '20 MiB', 'video/mp4',
      (SELECT string_agg(sha256(int4send(g)), ''::bytea ORDER BY g)
         FROM generate_series(1, 655360) g));
CREATE TABLE avatar (id int PRIMARY KEY, data bytea NOT NULL);
INSERT INTO avatar SELECT g, sha256(int4send(g % 10)) || decode(repeat('ab', 1000), 'hex')
  FROM generate_series(1, 1000) g;
";

/// `(id, size, sha256)` of every `upload` row, from `sql` (which must select exactly that).
fn rows(db: &TestDb<'_>, sql: &str) -> BTreeMap<String, (String, String, String)> {
    db.psql(sql)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].to_string(),
                (f[1].to_string(), f[2].to_string(), f[3].to_string()),
            )
        })
        .collect()
}

/// Checks the target's `upload` and `avatar` rows against the source and the objects.
fn assert_uploads(
    src: &TestDb<'_>,
    dst: &TestDb<'_>,
    object: &dyn Fn(&str) -> Option<Vec<u8>>,
    prefix: &str,
) {
    let expected = rows(
        src,
        "SELECT id, coalesce(octet_length(data)::text, ''), coalesce(encode(sha256(data), 'hex'), ''), '' \
           FROM upload ORDER BY id",
    );
    let got = rows(
        dst,
        "SELECT id, coalesce(data_size::text, ''), coalesce(data_sha256, ''), coalesce(data_key, '') \
           FROM upload ORDER BY id",
    );
    assert_eq!(got.len(), 7);
    for (id, (size, sha, _)) in &expected {
        let (got_size, got_sha, key) = &got[id];
        assert_eq!((got_size, got_sha), (size, sha), "row {id}");
        if sha.is_empty() {
            assert!(key.is_empty(), "a NULL value names no object (row {id})");
            continue;
        }
        assert_eq!(
            key,
            &format!("{prefix}public.upload/data/{sha}"),
            "row {id}"
        );
        let bytes = object(key).unwrap_or_else(|| panic!("row {id}: no object {key}"));
        assert_eq!(bytes.len().to_string(), *size, "row {id}");
        assert_eq!(&sha_hex(&bytes), sha, "row {id}: object bytes differ");
    }
    assert_eq!(
        expected["1"].0, "0",
        "the empty value is a real, empty object"
    );
    assert_eq!(
        scalar(dst, "SELECT count(DISTINCT data_key) FROM avatar"),
        "10"
    );
    assert_eq!(scalar(dst, "SELECT count(*) FROM avatar"), "1000");
}

#[test]
fn values_of_every_shape_go_to_s3_and_verify() {
    let c = Cluster::shared();
    let src = c.create_db("blob_shapes_src").unwrap();
    src.psql(SHAPES).unwrap();
    for checksum in ["default", "when_required"] {
        let s3 = S3Server::start().unwrap();
        s3.create_bucket("media").unwrap();
        let dst = c.create_db("blob_shapes_dst").unwrap();
        let cfg = blob_config(
            &format!("shapes-{checksum}"),
            "s3://media/app",
            Some(&s3),
            "",
        );
        std::fs::write(
            &cfg,
            std::fs::read_to_string(&cfg).unwrap() + &format!("checksum = \"{checksum}\"\n"),
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap();
        let (s, t) = (src.url(), dst.url());

        let plan = run_s3(
            &s3,
            &["plan", "--source", &s, "--target", &t, "--config", cfg],
        );
        assert_success(&plan, "plan");
        let plan_text = text(&plan.stdout);
        assert!(
            plan_text.contains("public.upload.data") && plan_text.contains("6 values"),
            "{plan_text}"
        );
        assert!(s3.objects("media").is_empty(), "plan wrote to the store");

        let out = run_s3(
            &s3,
            &["copy", "--source", &s, "--target", &t, "--config", cfg],
        );
        assert_success(&out, &format!("copy ({checksum})"));
        assert_uploads(&src, &dst, &|k| s3.object("media", k), "app/");
        let stored = s3.objects("media");
        assert_eq!(
            stored
                .iter()
                .filter(|(k, _)| k.starts_with("app/public.avatar/data/"))
                .count(),
            10,
            "1,000 rows of 10 contents are 10 objects"
        );

        // What the store was sent: a SHA-256 with every upload, the encryption and storage
        // class asked for, the content type from the row, and parts for the 20 MiB value.
        let requests = s3.requests();
        let puts: Vec<_> = requests
            .iter()
            .filter(|r| r.method == "PUT" && r.path.starts_with("/media/"))
            .collect();
        assert!(puts.len() >= 16, "{} uploads", puts.len());
        for r in &puts {
            assert!(
                r.header("x-amz-checksum-sha256").is_some(),
                "upload without a SHA-256: {} {}",
                r.path,
                r.query
            );
        }
        let whole: Vec<_> = puts
            .iter()
            .filter(|r| !r.query.contains("partNumber"))
            .collect();
        assert!(!whole.is_empty());
        for r in &whole {
            assert_eq!(r.header("x-amz-server-side-encryption"), Some("AES256"));
            assert_eq!(r.header("x-amz-storage-class"), Some("STANDARD"));
        }
        assert!(
            whole
                .iter()
                .any(|r| r.header("content-type") == Some("application/pdf"))
        );
        let created = requests
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.query
                        .split('&')
                        .any(|q| q == "uploads" || q == "uploads=")
            })
            .collect::<Vec<_>>();
        assert_eq!(created.len(), 1, "one multipart upload (the 20 MiB value)");
        assert_eq!(
            created[0].header("x-amz-server-side-encryption"),
            Some("AES256")
        );
        assert_eq!(
            puts.iter()
                .filter(|r| r.query.contains("partNumber"))
                .count(),
            3,
            "20 MiB in 8 MiB parts"
        );

        let v = run_s3(
            &s3,
            &["verify", "--source", &s, "--target", &t, "--config", cfg],
        );
        assert_success(&v, "verify");
        assert!(text(&v.stdout).contains("6 ok"), "{}", text(&v.stdout));
        // A missing object is found.
        let (key, _) = stored
            .iter()
            .find(|(k, _)| k.starts_with("app/public.upload/"))
            .unwrap();
        std::fs::remove_file(s3.root().join("media").join(key)).unwrap();
        let v = run_s3(
            &s3,
            &["verify", "--source", &s, "--target", &t, "--config", cfg],
        );
        assert_eq!(v.status.code(), Some(3), "{}", text(&v.stdout));
        assert!(text(&v.stdout).contains("1 missing"), "{}", text(&v.stdout));
    }
}

#[test]
fn blobs_move_with_the_dsql_profile_and_uuid_keys() {
    let c = Cluster::shared();
    let src = c.create_db("blob_dsql_src").unwrap();
    src.psql(SHAPES).unwrap();
    // Without [blobs], DSQL's 1 MiB limit stops the plan, pointing at [blobs].
    let emu = Emulator::start(
        c,
        DsqlOptions {
            era: Era::Y2026,
            commit_failure_fraction: 0.1,
            seed: 3,
            ..DsqlOptions::default()
        },
    )
    .unwrap();
    let plain = config_file("blob-dsql-none", "[target]\nprofile = \"dsql\"\n");
    let p = run(&[
        "plan",
        "--source",
        &src.url(),
        "--target",
        &emu.url(),
        "--config",
        plain.to_str().unwrap(),
    ]);
    assert!(!p.status.success());
    assert!(text(&p.stdout).contains("[blobs]"), "{}", text(&p.stdout));

    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().display());
    let cfg = blob_config(
        "blob-dsql",
        &store,
        None,
        "[target]\nprofile = \"dsql\"\n[keys]\nstrategy = \"uuid\"\nkeep_legacy_id = true\n",
    );
    let cfg = cfg.to_str().unwrap();
    let (s, t) = (src.url(), emu.url());
    assert_success(
        &run(&["copy", "--source", &s, "--target", &t, "--config", cfg]),
        "copy onto DSQL",
    );
    let dst = emu.backing();
    // The key column became a UUID; compare rows by the kept legacy id.
    dst.psql("CREATE VIEW upload_by_id AS SELECT legacy_id AS id, data_key, data_size, data_sha256 FROM upload")
        .unwrap();
    let expected = rows(
        &src,
        "SELECT id, coalesce(octet_length(data)::text, ''), coalesce(encode(sha256(data), 'hex'), ''), '' FROM upload ORDER BY id",
    );
    let got = rows(
        dst,
        "SELECT id, coalesce(data_size::text, ''), coalesce(data_sha256, ''), coalesce(data_key, '') FROM upload_by_id ORDER BY id",
    );
    assert_eq!(expected.len(), got.len());
    for (id, (size, sha, _)) in &expected {
        let (gs, gh, key) = &got[id];
        assert_eq!((gs, gh), (size, sha), "row {id}");
        if !sha.is_empty() {
            let bytes = std::fs::read(dir.path().join(key)).unwrap();
            assert_eq!(&sha_hex(&bytes), sha, "row {id}");
        }
    }
    for r in emu.records() {
        assert!(r.rows <= 3000 && r.bytes <= 8 * 1024 * 1024, "{r:?}");
    }
    assert_success(
        &run(&[
            "verify",
            "--source",
            &s,
            "--target",
            &t,
            "--config",
            cfg,
            "--checksums",
        ]),
        "verify --checksums",
    );
}

#[test]
fn dataset_pictures_are_extracted_in_both_profiles() {
    let c = Cluster::shared();
    let pagila = c.create_db("blob_pagila").unwrap();
    datasets::load_pagila(&pagila).unwrap();
    let northwind = c.create_db("blob_northwind").unwrap();
    datasets::load_northwind(&northwind).unwrap();
    let cases: [(&TestDb, &[(&str, &str)]); 2] = [
        (&pagila, &[("public.staff", "picture")]),
        (
            &northwind,
            &[
                ("public.categories", "picture"),
                ("public.employees", "photo"),
            ],
        ),
    ];
    for (src, columns) in cases {
        let mut with_values = 0;
        for (table, column) in columns {
            with_values += scalar(src, &format!("SELECT count({column}) FROM {table}"))
                .parse::<i64>()
                .unwrap();
        }
        assert!(with_values > 0, "{}: no pictures to move", src.name());
        let blobs: String = columns
            .iter()
            .map(|(t, col)| format!("[[blobs.columns]]\ntable = \"{t}\"\ncolumn = \"{col}\"\n"))
            .collect();
        // postgres profile into S3; DSQL profile into a local directory.
        let s3 = S3Server::start().unwrap();
        s3.create_bucket("pics").unwrap();
        let dst = c.create_db("blob_ds_dst").unwrap();
        let cfg = config_file(
            &format!("pics-pg-{}", src.name()),
            &format!(
                "[blobs]\nstore = \"s3://pics\"\n{blobs}[blobs.s3]\nendpoint = \"{}\"\n",
                s3.endpoint()
            ),
        );
        let (s, t) = (src.url(), dst.url());
        let cfg = cfg.to_str().unwrap();
        assert_success(
            &run_s3(
                &s3,
                &["copy", "--source", &s, "--target", &t, "--config", cfg],
            ),
            "copy (postgres profile)",
        );
        assert_success(
            &run_s3(
                &s3,
                &["verify", "--source", &s, "--target", &t, "--config", cfg],
            ),
            "verify (postgres profile)",
        );
        assert_pictures(src, &dst, columns, &|k| s3.object("pics", k));

        let emu = Emulator::start(
            c,
            DsqlOptions {
                era: Era::Y2026,
                ..DsqlOptions::default()
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_file(
            &format!("pics-dsql-{}", src.name()),
            &format!(
                "[target]\nprofile = \"dsql\"\n[keys]\nallow_keyless = true\n\
                 [blobs]\nstore = \"file://{}\"\n{blobs}",
                dir.path().display()
            ),
        );
        let (s, t) = (src.url(), emu.url());
        let cfg = cfg.to_str().unwrap();
        assert_success(
            &run(&["copy", "--source", &s, "--target", &t, "--config", cfg]),
            "copy (dsql profile)",
        );
        assert_success(
            &run(&["verify", "--source", &s, "--target", &t, "--config", cfg]),
            "verify (dsql profile)",
        );
        assert_pictures(src, emu.backing(), columns, &|k| {
            std::fs::read(dir.path().join(k)).ok()
        });
    }
}

/// Every source picture's bytes are an object the target names, with its size and SHA-256.
fn assert_pictures(
    src: &TestDb<'_>,
    dst: &TestDb<'_>,
    columns: &[(&str, &str)],
    object: &dyn Fn(&str) -> Option<Vec<u8>>,
) {
    for (table, column) in columns {
        let from_source = src
            .psql(&format!(
                "SELECT encode(sha256({column}), 'hex'), octet_length({column}) FROM {table} \
                  WHERE {column} IS NOT NULL ORDER BY 1"
            ))
            .unwrap();
        let rows = dst
            .psql(&format!(
                "SELECT {column}_sha256, {column}_size, {column}_key FROM {table} \
                  WHERE {column}_key IS NOT NULL ORDER BY 1"
            ))
            .unwrap();
        let mut from_target = String::new();
        for line in rows.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('|').collect();
            let bytes = object(f[2]).unwrap_or_else(|| panic!("{table}: no object {}", f[2]));
            assert_eq!(
                sha_hex(&bytes),
                f[0],
                "{table}.{column}: object bytes differ"
            );
            assert_eq!(bytes.len().to_string(), f[1]);
            from_target.push_str(&format!("{}|{}\n", f[0], f[1]));
        }
        assert_eq!(from_target, from_source, "{table}.{column}");
        assert_eq!(
            scalar(
                dst,
                &format!("SELECT count(*) FROM {table} WHERE {column}_key IS NULL")
            ),
            scalar(
                src,
                &format!("SELECT count(*) FROM {table} WHERE {column} IS NULL")
            )
        );
    }
}

#[test]
fn an_outage_of_the_store_mid_copy_ends_in_a_clean_resume() {
    let c = Cluster::shared();
    let src = c.create_db("blob_outage_src").unwrap();
    src.psql(
        "CREATE TABLE upload (id int PRIMARY KEY, mime text, data bytea);
         INSERT INTO upload SELECT r, 'application/octet-stream',
           (SELECT string_agg(sha256(int4send(r * 100000 + g)), ''::bytea ORDER BY g)
              FROM generate_series(1, 8192) g)
           FROM generate_series(1, 300) r;
         CREATE TABLE avatar (id int PRIMARY KEY, data bytea NOT NULL);",
    )
    .unwrap();
    let s3 = S3Server::start().unwrap();
    s3.create_bucket("media").unwrap();
    let dst = c.create_db("blob_outage_dst").unwrap();
    let cfg = blob_config("outage", "s3://media", Some(&s3), "[copy]\njobs = 2\n");
    let cfg = cfg.to_str().unwrap();
    let (s, t) = (src.url(), dst.url());
    let child = migrator()
        .envs(s3.client_env())
        .args(["copy", "--source", &s, "--target", &t, "--config", cfg])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let some uploads land, then take the store away for a while.
    let started = std::time::Instant::now();
    while s3.requests().iter().filter(|r| r.method == "PUT").count() < 40 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the copy never uploaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    s3.stop();
    let stored_during = s3.objects("media").len();
    std::thread::sleep(std::time::Duration::from_secs(4));
    s3.restart().unwrap();
    let first = child.wait_with_output().unwrap();
    assert!(stored_during < 300, "the outage came too late to matter");
    if !first.status.success() {
        // It gave up cleanly: one line naming the store, and a re-run finishes the job.
        let err = text(&first.stderr);
        assert!(err.contains("127.0.0.1"), "{err}");
        assert_success(
            &run_s3(
                &s3,
                &["copy", "--source", &s, "--target", &t, "--config", cfg],
            ),
            "resumed copy",
        );
    }
    let v = run_s3(
        &s3,
        &[
            "verify",
            "--source",
            &s,
            "--target",
            &t,
            "--config",
            cfg,
            "--checksums",
        ],
    );
    assert_success(&v, "verify --checksums after the outage");
    // No row names a missing object, and nothing is doubled.
    let keys = dst.psql("SELECT data_key FROM upload ORDER BY 1").unwrap();
    let stored: std::collections::HashSet<String> =
        s3.objects("media").into_iter().map(|(k, _)| k).collect();
    let mut n = 0;
    for k in keys.lines().filter(|l| !l.is_empty()) {
        assert!(stored.contains(k), "row names missing object {k}");
        n += 1;
    }
    assert_eq!(n, 300);
    assert_eq!(scalar(&dst, "SELECT count(DISTINCT id) FROM upload"), "300");
}

#[test]
fn bad_blob_settings_are_refused_before_anything_moves() {
    let c = Cluster::shared();
    let src = c.create_db("blob_bad_src").unwrap();
    src.psql("CREATE TABLE upload (id int PRIMARY KEY, mime text, data text); CREATE TABLE avatar (id int PRIMARY KEY, data bytea);")
        .unwrap();
    let dst = c.create_db("blob_bad_dst").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().display());
    let cases = [
        (
            blob_config("bad-type", &store, None, ""),
            "public.upload.data is text, not bytea",
        ),
        (
            config_file(
                "bad-store",
                "[blobs]\nstore = \"ftp://x\"\n[[blobs.columns]]\ntable = \"avatar\"\ncolumn = \"data\"\n",
            ),
            "blobs.store",
        ),
        (
            config_file(
                "bad-column",
                &format!(
                    "[blobs]\nstore = \"{store}\"\n[[blobs.columns]]\ntable = \"avatar\"\ncolumn = \"picture\"\n"
                ),
            ),
            "public.avatar.picture: no such column",
        ),
        (
            config_file(
                "bad-template",
                &format!("[blobs]\nstore = \"{store}\"\nkey_template = \"{{table}}/{{column}}\"\n"),
            ),
            "must contain {sha256}",
        ),
    ];
    for (cfg, expected) in cases {
        let out = copy(&src, &dst, &["--config", cfg.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(
            scalar(
                &dst,
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ),
            "0"
        );
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}

#[test]
fn a_refused_part_aborts_the_multipart_upload_and_names_the_cause() {
    let c = Cluster::shared();
    let src = c.create_db("blob_abort_src").unwrap();
    src.psql(
        r"CREATE TABLE upload (id int PRIMARY KEY, mime text, data bytea);
          INSERT INTO upload VALUES (1, 'video/mp4',
            (SELECT string_agg(sha256(int4send(g)), ''::bytea ORDER BY g)
               FROM generate_series(1, 655360) g));
          CREATE TABLE avatar (id int PRIMARY KEY, data bytea NOT NULL);",
    )
    .unwrap();
    let s3 = S3Server::start().unwrap();
    s3.create_bucket("media").unwrap();
    s3.set_fault(Some(Fault {
        method: "PUT",
        query_contains: "partNumber=2",
        status: 403,
        code: "AccessDenied",
    }));
    let dst = c.create_db("blob_abort_dst").unwrap();
    let cfg = blob_config("abort", "s3://media", Some(&s3), "");
    let cfg = cfg.to_str().unwrap();
    let (s, t) = (src.url(), dst.url());
    let out = run_s3(
        &s3,
        &["copy", "--source", &s, "--target", &t, "--config", cfg],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("part 2") && err.contains("AccessDenied") && err.contains("public.upload"),
        "{err}"
    );
    assert!(!err.contains(fixtures::s3::SECRET_KEY), "{err}");
    // The parts already sent were given up, no object appeared, and no row names one.
    assert!(
        s3.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.query.contains("uploadId")),
        "no AbortMultipartUpload"
    );
    assert!(s3.objects("media").is_empty());
    assert_eq!(scalar(&dst, "SELECT count(*) FROM upload"), "0");
    // Once the store accepts parts again, a re-run finishes the job.
    s3.set_fault(None);
    assert_success(
        &run_s3(
            &s3,
            &["copy", "--source", &s, "--target", &t, "--config", cfg],
        ),
        "copy after the fault",
    );
    assert_success(
        &run_s3(
            &s3,
            &["verify", "--source", &s, "--target", &t, "--config", cfg],
        ),
        "verify",
    );
    assert_eq!(s3.objects("media").len(), 1);
}

#[test]
fn a_partitioned_tables_values_move_in_both_profiles() {
    let c = Cluster::shared();
    let src = c.create_db("blob_part_src").unwrap();
    src.psql(
        "CREATE TABLE scan (id int, region int, image bytea, PRIMARY KEY (id, region))
           PARTITION BY LIST (region);
         CREATE TABLE scan_eu PARTITION OF scan FOR VALUES IN (1);
         CREATE TABLE scan_us PARTITION OF scan FOR VALUES IN (2);
         INSERT INTO scan SELECT g, 1 + g % 2,
           CASE WHEN g % 5 = 0 THEN NULL ELSE sha256(int4send(g % 7)) END
           FROM generate_series(1, 200) g;",
    )
    .unwrap();
    let columns = "[[blobs.columns]]\ntable = \"public.scan\"\ncolumn = \"image\"\n";
    let emu = Emulator::start(
        c,
        DsqlOptions {
            era: Era::Y2026,
            ..DsqlOptions::default()
        },
    )
    .unwrap();
    let plain = c.create_db("blob_part_dst").unwrap();
    for (profile, target) in [("postgres", plain.url()), ("dsql", emu.url())] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_file(
            &format!("part-{profile}"),
            &format!(
                "[target]\nprofile = \"{profile}\"\n[keys]\nstrategy = \"keep\"\n\
                 [blobs]\nstore = \"file://{}\"\n{columns}",
                dir.path().display()
            ),
        );
        let cfg = cfg.to_str().unwrap();
        let s = src.url();
        assert_success(
            &run(&["copy", "--source", &s, "--target", &target, "--config", cfg]),
            &format!("copy ({profile})"),
        );
        let v = run(&[
            "verify", "--source", &s, "--target", &target, "--config", cfg,
        ]);
        assert_success(&v, &format!("verify ({profile})"));
        // 7 distinct contents, every partition's rows checked.
        assert_eq!(
            std::fs::read_dir(dir.path().join("public.scan/image"))
                .unwrap()
                .count(),
            7
        );
        assert!(!text(&v.stdout).contains("missing"), "{}", text(&v.stdout));
    }
    assert_eq!(
        scalar(&plain, "SELECT count(*) FROM scan WHERE image_key IS NULL"),
        "40"
    );
    assert_eq!(
        scalar(
            emu.backing(),
            "SELECT count(DISTINCT image_sha256) FROM scan"
        ),
        "7"
    );
}
