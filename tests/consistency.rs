//! One consistent snapshot: while `migrator copy` runs with many chunks and workers, a
//! workload keeps moving money between accounts (and opening accounts) on the source. The
//! target must equal the source as of one instant: every balance equals its opening amount
//! plus the transfers recorded in another table, and the total is unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fixtures::Cluster;
use migrator_tests::*;

const ACCOUNTS: i64 = 400_000;
const TOTAL_PER_ACCOUNT: i64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sees_one_instant_while_the_source_changes() {
    let c = Cluster::shared();
    let src = c.create_db("ledger_src").unwrap();
    let dst = c.create_db("ledger_dst").unwrap();
    src.psql(&format!(
        "CREATE TABLE account (id bigint PRIMARY KEY, opening bigint NOT NULL, balance bigint NOT NULL, pad text);
         CREATE TABLE transfer (id bigserial PRIMARY KEY, src bigint NOT NULL, dst bigint NOT NULL, amount bigint NOT NULL);
         INSERT INTO account SELECT g, {TOTAL_PER_ACCOUNT}, {TOTAL_PER_ACCOUNT}, repeat(md5(g::text), 3) FROM generate_series(1, {ACCOUNTS}) g;
         ANALYZE account;"
    ))
    .unwrap();

    let (client, conn) = tokio_postgres::connect(&src.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let stop = Arc::new(AtomicBool::new(false));
    let moves = Arc::new(AtomicU64::new(0));
    let writer = {
        let stop = stop.clone();
        let moves = moves.clone();
        tokio::spawn(async move {
            let mut i: i64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // Far-apart accounts, so a transfer straddles chunks copied by different workers.
                let a = (i * 7919) % ACCOUNTS + 1;
                let b = (i * 104_729 + ACCOUNTS / 2) % ACCOUNTS + 1;
                let amount = i % 97 + 1;
                let sql = if i % 10 == 0 {
                    // Open a new account funded from an old one: rows appear past the old end.
                    format!(
                        "BEGIN; UPDATE account SET balance = balance - {amount} WHERE id = {a};
                         INSERT INTO account VALUES ({n}, 0, {amount}, 'new');
                         INSERT INTO transfer (src, dst, amount) VALUES ({a}, {n}, {amount}); COMMIT;",
                        n = ACCOUNTS + i
                    )
                } else {
                    format!(
                        "BEGIN; UPDATE account SET balance = balance - {amount} WHERE id = {a};
                         UPDATE account SET balance = balance + {amount} WHERE id = {b};
                         INSERT INTO transfer (src, dst, amount) VALUES ({a}, {b}, {amount}); COMMIT;"
                    )
                };
                client.batch_execute(&sql).await.unwrap();
                moves.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Let the workload run a little before and during the whole copy.
    while moves.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let cfg = config_file("ledger", "[copy]\nchunk_mib = 1\njobs = 4\n");
    let (s, t) = (src.url(), dst.url());
    let before = moves.load(Ordering::Relaxed);
    let out = tokio::task::spawn_blocking(move || {
        run(&[
            "copy",
            "--source",
            &s,
            "--target",
            &t,
            "--config",
            cfg.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    let during = moves.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert_success(&out, "copy");

    // The copy really was cut into many chunks and overlapped with the workload.
    let chunks: i64 = scalar(
        &dst,
        "SELECT count(*) FROM _migrator.chunk_done WHERE table_name = 'public.account'",
    )
    .parse()
    .unwrap();
    assert!(chunks >= 10, "only {chunks} chunks");
    assert!(during >= 20, "only {during} transfers ran during the copy");

    let invariant = "SELECT count(*) FROM account a LEFT JOIN \
         (SELECT id, sum(d) AS d FROM (SELECT src AS id, -amount AS d FROM transfer \
                                        UNION ALL SELECT dst, amount FROM transfer) x GROUP BY id) t \
         ON t.id = a.id WHERE a.balance <> a.opening + coalesce(t.d, 0)";
    let total = format!(
        "SELECT sum(balance) = {} FROM account",
        ACCOUNTS * TOTAL_PER_ACCOUNT
    );
    for db in [&src, &dst] {
        assert_eq!(
            scalar(db, invariant),
            "0",
            "balances disagree with the transfers in {}",
            db.name()
        );
        assert_eq!(
            scalar(db, &total),
            "t",
            "money was created or lost in {}",
            db.name()
        );
    }
    // The target is an earlier instant than the source's end state, not a blend of both.
    let copied: i64 = scalar(&dst, "SELECT count(*) FROM transfer")
        .parse()
        .unwrap();
    let now: i64 = scalar(&src, "SELECT count(*) FROM transfer")
        .parse()
        .unwrap();
    assert!(
        copied >= before as i64 && copied < now,
        "copied {copied}, source has {now}"
    );
}
