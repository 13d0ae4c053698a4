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
    let format_of = |name: &str| {
        plan["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"]["schema"] == "matrix" && t["name"]["name"] == name)
            .map(|t| t["format"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} not in plan"))
    };
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
