//! Pagila and Northwind copied into empty targets: identical rows in every table, identical
//! `pg_dump --schema-only`, verify clean, and new rows insert through every serial and
//! identity column.

use fixtures::{Cluster, datasets};
use migrator_tests::*;

#[test]
fn pagila_copies_exactly() {
    let c = Cluster::shared();
    let src = c.create_db("pagila_src").unwrap();
    let dst = c.create_db("pagila_dst").unwrap();
    datasets::load_pagila(&src).unwrap();
    // Pagila ships its materialized view unpopulated; fill it so the copy must refresh it.
    src.psql("REFRESH MATERIALIZED VIEW nicer_but_slower_film_list")
        .unwrap();

    let out = copy(&src, &dst, &["--jobs", "3"]);
    assert_success(&out, "copy");
    let rows = assert_same_data(&src, &dst);
    assert!(rows > 45_000, "only {rows} rows compared");
    assert_same_schema(&src, &dst);

    let out = verify(&src, &dst, &[]);
    assert_success(&out, "verify");
    assert!(
        text(&out.stdout).contains("all 22 tables match"),
        "{}",
        text(&out.stdout)
    );

    // The application keeps working on the target: sequences are past the copied keys,
    // the materialized view was refreshed, the triggers were created after the data.
    let id = scalar(
        &dst,
        "INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ACTOR') RETURNING actor_id",
    );
    assert_eq!(id, "201");
    // 12 serial columns, and the payment sequence behind each of 8 partitions.
    assert_eq!(assert_sequences_past_max(&dst), 20);
    let payment = scalar(
        &dst,
        "INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) \
         VALUES (1, 1, 1, 1.00, '2007-03-01') RETURNING payment_id",
    );
    assert!(payment.parse::<i64>().unwrap() > 32098, "{payment}");
    assert_eq!(
        scalar(&dst, "SELECT count(*) FROM nicer_but_slower_film_list"),
        scalar(&src, "SELECT count(*) FROM nicer_but_slower_film_list")
    );
    // The last_updated trigger fires on the target now.
    assert_eq!(
        scalar(
            &dst,
            "UPDATE actor SET first_name = 'X' WHERE actor_id = 1 RETURNING last_update > '2020-01-01'"
        ),
        "t"
    );
}

#[test]
fn northwind_copies_exactly() {
    let c = Cluster::shared();
    let src = c.create_db("nw_src").unwrap();
    let dst = c.create_db("nw_dst").unwrap();
    datasets::load_northwind(&src).unwrap();

    let out = copy(&src, &dst, &[]);
    assert_success(&out, "copy");
    let rows = assert_same_data(&src, &dst);
    assert!(rows > 3000, "only {rows} rows compared");
    assert_same_schema(&src, &dst);
    assert_success(&verify(&src, &dst, &[]), "verify");
    // Composite keys hold in the target.
    let dup = dst.psql("INSERT INTO order_details SELECT * FROM order_details LIMIT 1");
    assert!(
        dup.is_err(),
        "the composite primary key must exist in the target"
    );
}
