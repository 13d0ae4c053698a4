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

    let out = verify(&src, &dst, &["--checksums"]);
    assert_success(&out, "verify --checksums");
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
    // A new row through every serial column, each taking its key from the sequence.
    let inserts = [
        (
            "category",
            "INSERT INTO category (name) VALUES ('New') RETURNING category_id",
        ),
        (
            "country",
            "INSERT INTO country (country) VALUES ('New') RETURNING country_id",
        ),
        (
            "city",
            "INSERT INTO city (city, country_id) VALUES ('New', 1) RETURNING city_id",
        ),
        (
            "address",
            "INSERT INTO address (address, district, city_id, phone) VALUES ('1 New St', 'D', 1, '1') RETURNING address_id",
        ),
        (
            "language",
            "INSERT INTO language (name) VALUES ('New') RETURNING language_id",
        ),
        (
            "film",
            "INSERT INTO film (title, language_id, fulltext) VALUES ('NEW FILM', 1, '') RETURNING film_id",
        ),
        (
            "staff",
            "INSERT INTO staff (first_name, last_name, address_id, store_id, username) VALUES ('N', 'S', 1, 1, 'ns') RETURNING staff_id",
        ),
        (
            "store",
            "INSERT INTO store (manager_staff_id, address_id) VALUES ((SELECT max(staff_id) FROM staff), 1) RETURNING store_id",
        ),
        (
            "customer",
            "INSERT INTO customer (store_id, first_name, last_name, address_id) VALUES (1, 'N', 'C', 1) RETURNING customer_id",
        ),
        (
            "inventory",
            "INSERT INTO inventory (film_id, store_id) VALUES (1, 1) RETURNING inventory_id",
        ),
        (
            "rental",
            "INSERT INTO rental (inventory_id, customer_id, staff_id) VALUES (1, 1, 1) RETURNING rental_id",
        ),
    ];
    for (table, sql) in inserts {
        let id: i64 = scalar(&dst, sql)
            .parse()
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        let max_before: i64 = scalar(&src, &format!("SELECT max({table}_id) FROM {table}"))
            .parse()
            .unwrap();
        assert_eq!(
            id,
            max_before + 1,
            "{table}: the new key must follow the copied ones"
        );
    }
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
    assert_success(&verify(&src, &dst, &["--checksums"]), "verify --checksums");
    // Composite keys hold in the target.
    let dup = dst.psql("INSERT INTO order_details SELECT * FROM order_details LIMIT 1");
    assert!(
        dup.is_err(),
        "the composite primary key must exist in the target"
    );
}
