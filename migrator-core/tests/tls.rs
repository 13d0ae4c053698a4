//! TLS against real PostgreSQL servers: every `sslmode` the engine supports, with
//! certificates made here (a CA, a server certificate it signs for `localhost`, and an
//! unrelated second CA), through the public API only (`Migration::plan` connects to both
//! sides).
//!
//! Two clusters in all: one with `ssl = on` and a password (so that "the password is not in
//! the message" means something), one without TLS (to show that `require` demands it). Each
//! cluster belongs to one test function, which runs every case against it and reports all
//! failing cases at once.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use fixtures::tls::make_certs;
use fixtures::{Cluster, ClusterOptions};
use migrator_core::{Error, ErrorKind, Migration, Plan};

const PASSWORD: &str = "tls-secret-pw";

/// A URL for the superuser with the test password on `host:port/db`, with `params` appended.
fn url(host: &str, port: u16, db: &str, params: &str) -> String {
    format!("postgres://postgres:{PASSWORD}@{host}:{port}/{db}?{params}")
}

/// Builds a migration from `source` to `target` and plans it (connects to both sides).
async fn plan(source: &str, target: &str) -> Result<Plan, Error> {
    let migration = Migration::builder()
        .source(source)
        .target(target)
        .build()
        .await?;
    migration.plan().await
}

/// Plans with both sides on `host:port` (databases `postgres` and `t2`) under `params`.
async fn plan_both(host: &str, port: u16, params: &str) -> Result<Plan, Error> {
    plan(
        &url(host, port, "postgres", params),
        &url(host, port, "t2", params),
    )
    .await
}

fn expect_ok(r: Result<Plan, Error>) -> Result<(), String> {
    r.map(|_| ())
        .map_err(|e| format!("expected success, got {:?}: {e}", e.kind()))
}

/// The error must be of `kind`, one line, and without the password.
fn expect_err(r: Result<Plan, Error>, kind: ErrorKind) -> Result<Error, String> {
    let e = match r {
        Ok(_) => return Err(format!("expected a {kind:?} error, plan succeeded")),
        Err(e) => e,
    };
    let msg = e.to_string();
    if e.kind() != kind {
        return Err(format!("expected {kind:?}, got {:?}: {msg}", e.kind()));
    }
    if msg.contains('\n') {
        return Err(format!("message is not one line: {msg:?}"));
    }
    if msg.contains(PASSWORD) {
        return Err(format!("message leaks the password: {msg}"));
    }
    Ok(e)
}

type Case<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// Runs every case, then fails listing each case that failed.
async fn run_cases(cases: Vec<(&str, Case<'_>)>) {
    let mut failed = Vec::new();
    for (name, case) in cases {
        match case.await {
            Ok(()) => eprintln!("ok: {name}"),
            Err(why) => {
                eprintln!("FAILED: {name}: {why}");
                failed.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
}

fn rootcert(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn sslmodes_against_a_tls_server() {
    let certs = make_certs("srv");
    let cluster = Cluster::start_with(ClusterOptions {
        tls: Some((certs.server_cert.clone(), certs.server_key.clone())),
        password: Some(PASSWORD.to_string()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    cluster
        .psql("postgres", "CREATE DATABASE t2")
        .unwrap_or_else(|e| panic!("{e}"));
    let port = cluster.port();
    let ca = rootcert(&certs.ca);
    let other = rootcert(&certs.other_ca);
    let missing = certs.dir.join("no-such-ca.pem");

    let cases: Vec<(&str, Case<'_>)> = vec![
        (
            "1 verify-full, right CA, host localhost: succeeds",
            Box::pin(async {
                expect_ok(
                    plan_both(
                        "localhost",
                        port,
                        &format!("sslmode=verify-full&sslrootcert={ca}"),
                    )
                    .await,
                )
            }),
        ),
        (
            "2 verify-full, wrong CA: Tls, one line, no password",
            Box::pin(async {
                expect_err(
                    plan_both(
                        "localhost",
                        port,
                        &format!("sslmode=verify-full&sslrootcert={other}"),
                    )
                    .await,
                    ErrorKind::Tls,
                )
                .map(|_| ())
            }),
        ),
        (
            "3 verify-full, right CA, host 127.0.0.1 (name mismatch): Tls",
            Box::pin(async {
                let e = expect_err(
                    plan_both(
                        "127.0.0.1",
                        port,
                        &format!("sslmode=verify-full&sslrootcert={ca}"),
                    )
                    .await,
                    ErrorKind::Tls,
                )?;
                // The chain is good (case 4 passes with it): the name must be the reason.
                let msg = e.to_string();
                if msg.contains("name") {
                    Ok(())
                } else {
                    Err(format!("failure does not mention the name: {msg}"))
                }
            }),
        ),
        (
            "4 verify-ca, right CA, host 127.0.0.1: succeeds (name not checked)",
            Box::pin(async {
                expect_ok(
                    plan_both(
                        "127.0.0.1",
                        port,
                        &format!("sslmode=verify-ca&sslrootcert={ca}"),
                    )
                    .await,
                )
            }),
        ),
        (
            "5 verify-ca, wrong CA: Tls",
            Box::pin(async {
                expect_err(
                    plan_both(
                        "127.0.0.1",
                        port,
                        &format!("sslmode=verify-ca&sslrootcert={other}"),
                    )
                    .await,
                    ErrorKind::Tls,
                )
                .map(|_| ())
            }),
        ),
        (
            "6a require without sslrootcert: succeeds (encrypted, not verified)",
            Box::pin(async { expect_ok(plan_both("127.0.0.1", port, "sslmode=require").await) }),
        ),
        (
            "6b require with the wrong sslrootcert: Tls (acts as verify-ca, as libpq)",
            Box::pin(async {
                expect_err(
                    plan_both(
                        "127.0.0.1",
                        port,
                        &format!("sslmode=require&sslrootcert={other}"),
                    )
                    .await,
                    ErrorKind::Tls,
                )
                .map(|_| ())
            }),
        ),
        (
            "7 disable against the TLS server: succeeds in plain text",
            Box::pin(async { expect_ok(plan_both("127.0.0.1", port, "sslmode=disable").await) }),
        ),
        (
            "8 missing sslrootcert file: Config naming the file",
            Box::pin(async {
                let e = expect_err(
                    plan_both(
                        "localhost",
                        port,
                        &format!("sslmode=verify-full&sslrootcert={}", missing.display()),
                    )
                    .await,
                    ErrorKind::Config,
                )?;
                let msg = e.to_string();
                if msg.contains(&missing.display().to_string()) {
                    Ok(())
                } else {
                    Err(format!(
                        "message does not name {}: {msg}",
                        missing.display()
                    ))
                }
            }),
        ),
    ];
    run_cases(cases).await;
}

#[tokio::test]
async fn require_fails_against_a_server_without_tls() {
    let cluster = Cluster::start_with(ClusterOptions {
        password: Some(PASSWORD.to_string()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    cluster
        .psql("postgres", "CREATE DATABASE t2")
        .unwrap_or_else(|e| panic!("{e}"));
    let port = cluster.port();

    // The same server is reachable without TLS, so the failure below is TLS's alone.
    expect_ok(plan_both("127.0.0.1", port, "sslmode=disable").await)
        .unwrap_or_else(|why| panic!("disable against the plain server: {why}"));
    let err = match plan_both("127.0.0.1", port, "sslmode=require").await {
        Ok(_) => panic!("sslmode=require succeeded against a server without TLS"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Tls, "{msg}");
    assert!(!msg.contains('\n'), "not one line: {msg:?}");
    assert!(!msg.contains(PASSWORD), "leaks the password: {msg}");
}
