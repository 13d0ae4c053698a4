//! The type matrix (edge values of every built-in type, enums, domains, composites, arrays
//! with NULLs and odd bounds) arrives value for value: the `::text` of every value and the
//! bytes of every `bytea` equal the source's.

use fixtures::{Cluster, type_matrix};
use migrator_tests::*;

#[test]
fn every_value_of_every_type_arrives_exactly() {
    let c = Cluster::shared();
    let src = c.create_db("matrix_src").unwrap();
    let dst = c.create_db("matrix_dst").unwrap();
    type_matrix::load(&src).unwrap();

    // The plan moves tables with user-defined arrays or composites as text (their binary
    // form carries database-specific type OIDs) and everything else as binary.
    let format_of = planned_formats(&src, &dst, "matrix");
    assert_eq!(format_of("types"), "text");
    assert_eq!(format_of("numerics"), "binary");
    assert_eq!(format_of("bytea_values"), "binary");
    // Planning changed nothing in the target.
    assert!(data_tables(&dst).is_empty());
    assert_eq!(
        scalar(&dst, "SELECT to_regnamespace('_migrator') IS NULL"),
        "t"
    );

    assert_success(&copy(&src, &dst, &[]), "copy");
    // verify compares every row as text: no false alarm on any type.
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
    let tables = type_matrix::tables(&src).unwrap();
    assert!(tables.len() >= 6, "{tables:?}");
    assert_eq!(tables, type_matrix::tables(&dst).unwrap());
    for t in &tables {
        let a = type_matrix::dump_text(&src, t).unwrap();
        let b = type_matrix::dump_text(&dst, t).unwrap();
        assert!(a.lines().count() > 1, "{t} is empty");
        if a != b {
            panic!("{t} differs: {}", first_difference(&a, &b));
        }
    }
    // And the raw bytes, independent of any rendering.
    assert_eq!(
        scalar(
            &src,
            "SELECT md5(string_agg(c_bytea, '\\x00'::bytea ORDER BY id)) FROM matrix.bytea_values"
        ),
        scalar(
            &dst,
            "SELECT md5(string_agg(c_bytea, '\\x00'::bytea ORDER BY id)) FROM matrix.bytea_values"
        ),
    );
    assert_same_schema(&src, &dst);
}

/// `migrator plan --json`'s COPY format for each table of `schema`, by table name.
fn planned_formats(
    src: &fixtures::TestDb<'_>,
    dst: &fixtures::TestDb<'_>,
    schema: &str,
) -> impl Fn(&str) -> String {
    let plan = run(&[
        "plan",
        "--json",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
    ]);
    assert_success(&plan, "plan");
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let schema = schema.to_string();
    move |name: &str| {
        plan["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"]["schema"] == schema.as_str() && t["name"]["name"] == name)
            .map(|t| t["format"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} not in plan"))
    }
}

/// Names the first differing value of two `dump_text` renderings (header line, then one
/// JSON array per row), values cut short.
fn first_difference(a: &str, b: &str) -> String {
    let header: Vec<serde_json::Value> = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    for (row, (x, y)) in a.lines().zip(b.lines()).enumerate().skip(1) {
        if x == y {
            continue;
        }
        let xs: Vec<serde_json::Value> = serde_json::from_str(x).unwrap();
        let ys: Vec<serde_json::Value> = serde_json::from_str(y).unwrap();
        for (i, (u, v)) in xs.iter().zip(&ys).enumerate() {
            if u != v {
                let cut =
                    |v: &serde_json::Value| v.to_string().chars().take(200).collect::<String>();
                return format!(
                    "row {row}, column {}: source {} target {}",
                    header[i],
                    cut(u),
                    cut(v)
                );
            }
        }
    }
    format!("{} vs {} lines", a.lines().count(), b.lines().count())
}

/// The copy coalesces the source's rows into buffers of `copy.buffer_kib` and passes a row
/// wider than a buffer on by itself: with the smallest buffer (8 KiB), rows narrower than,
/// as wide as and many times wider than it, in mixed order, arrive whole and in order, in
/// the binary format and in the text one (a composite column moves as text).
#[test]
fn rows_narrower_and_wider_than_the_copy_buffer_arrive_whole() {
    let c = Cluster::shared();
    let src = c.create_db("widths_src").unwrap();
    let dst = c.create_db("widths_dst").unwrap();
    // Sizes cycle through 0 B to about 40 KiB, with 8 KiB and its neighbours among them.
    src.psql(
        "CREATE TYPE pair AS (n int, s text);
         CREATE TABLE bin_rows (id int PRIMARY KEY, b bytea NOT NULL);
         CREATE TABLE text_rows (id int PRIMARY KEY, p pair NOT NULL);
         CREATE TEMP TABLE sizes AS
           SELECT i, CASE WHEN i % 10 = 0 THEN 8192 + (i / 10) % 3 - 1
                          ELSE (i * 7919) % 40000 END AS size
             FROM generate_series(1, 600) i;
         INSERT INTO bin_rows
           SELECT i, coalesce((SELECT substring(string_agg(sha256(int8send(i * 100000 + k)), ''::bytea) FROM 1 FOR size)
                                 FROM generate_series(1, (size + 31) / 32) k), ''::bytea)
             FROM sizes;
         INSERT INTO text_rows
           SELECT i, ROW(size, repeat(md5(i::text), size / 32))::pair FROM sizes;",
    )
    .unwrap();
    // Both streams this test means to cut up: binary, and text for the composite.
    let format_of = planned_formats(&src, &dst, "public");
    assert_eq!(format_of("bin_rows"), "binary");
    assert_eq!(format_of("text_rows"), "text");
    let cfg = config_file("small-buffer", "[copy]\nbuffer_kib = 8\n");
    let out = run_config_with(&["copy", "--jobs", "2"], &src, &dst.url(), &cfg);
    assert_success(&out, "copy with an 8 KiB buffer");
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
    for (sql, what) in [
        (
            "SELECT count(*) FILTER (WHERE length(b) > 8192) || ' ' || count(*) FILTER (WHERE length(b) < 8192) FROM bin_rows",
            "wide and narrow rows",
        ),
        (
            "SELECT md5(string_agg(b, '\\x00'::bytea ORDER BY id)) FROM bin_rows",
            "the bytes",
        ),
        (
            "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM text_rows",
            "the text rows",
        ),
    ] {
        assert_eq!(scalar(&src, sql), scalar(&dst, sql), "{what}");
    }
    assert_eq!(scalar(&dst, "SELECT count(*) FROM bin_rows"), "600");
    assert!(
        scalar(&dst, "SELECT max(length(b)) FROM bin_rows")
            .parse::<i64>()
            .unwrap()
            > 30_000
    );
}
