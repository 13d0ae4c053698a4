//! Shared helpers for the end-to-end tests: the `migrator` binary, running it, and comparing
//! two databases row by row and schema by schema.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use fixtures::TestDb;

/// The `migrator` binary of this build, built first if needed: with this package selected
/// too, so that its features (migrator-core's crash points) are the build's, as in
/// `cargo test --workspace`, and the binary is not rebuilt without them.
pub fn migrator_path() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target/<profile>");
        let release = profile_dir.ends_with("release");
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "-q",
            "-p",
            "migrator-cli",
            "-p",
            "migrator-tests",
            "--bin",
            "migrator",
        ]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the migrator binary failed");
        let bin = profile_dir.join("migrator");
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
    .clone()
}

/// A path for one test's scratch file (a config, a schema dump, a log): under the build's
/// target directory, one folder per test binary, so that the suite leaves nothing in the
/// system's temporary directory and a re-run overwrites the last run's files.
pub fn scratch_path(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let stem = exe.file_stem().expect("a file name").to_string_lossy();
        // `<binary>-<hash>`: the hash changes with every build, the name does not.
        let binary = stem.rsplit_once('-').map_or(&*stem, |(b, _)| b).to_string();
        let dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target/<profile>")
            .join("test-scratch")
            .join(binary);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir
    })
    .join(name)
}

/// A `migrator` command with a clean environment (no inherited database URLs).
pub fn migrator() -> Command {
    let mut c = Command::new(migrator_path());
    c.env_remove("SOURCE_DATABASE_URL")
        .env_remove("TARGET_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// Runs `migrator <args>` and returns its output.
pub fn run(args: &[&str]) -> Output {
    migrator().args(args).output().expect("run migrator")
}

/// The one `error: ` line a failed command printed on stderr (fails if there is not
/// exactly one).
pub fn one_line_error(out: &std::process::Output) -> String {
    let err = text(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "expected exactly one error line:\n{err}");
    errors[0].to_string()
}

/// Text of an output stream.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Panics with the command's output unless it exited 0.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `migrator copy` from `src` to `dst` with extra arguments.
pub fn copy(src: &TestDb<'_>, dst: &TestDb<'_>, extra: &[&str]) -> Output {
    let (s, t) = (src.url(), dst.url());
    let mut args = vec!["copy", "--source", &s, "--target", &t];
    args.extend_from_slice(extra);
    run(&args)
}

/// `migrator verify` from `src` to `dst` with extra arguments.
pub fn verify(src: &TestDb<'_>, dst: &TestDb<'_>, extra: &[&str]) -> Output {
    let (s, t) = (src.url(), dst.url());
    let mut args = vec!["verify", "--source", &s, "--target", &t];
    args.extend_from_slice(extra);
    run(&args)
}

/// `migrator <command> --source <src> --target <target> --config <cfg>`.
pub fn run_config(command: &str, src: &TestDb<'_>, target: &str, cfg: &std::path::Path) -> Output {
    run_config_with(&[command], src, target, cfg)
}

/// `<args...> --source <source> --target <target> --config <cfg>`: the arguments of a
/// command, for `run`, a spawned process or a crash point.
pub fn config_args<'a>(
    args: &[&'a str],
    source: &'a str,
    target: &'a str,
    cfg: &'a std::path::Path,
) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend([
        "--source",
        source,
        "--target",
        target,
        "--config",
        cfg.to_str().expect("a UTF-8 path"),
    ]);
    all
}

/// `migrator <args...> --source <src> --target <target> --config <cfg>`, e.g. `["verify",
/// "--checksums", "--json"]`.
pub fn run_config_with(
    args: &[&str],
    src: &TestDb<'_>,
    target: &str,
    cfg: &std::path::Path,
) -> Output {
    let url = src.url();
    run(&config_args(args, &url, target, cfg))
}

/// Writes a config file for one test and returns its path.
pub fn config_file(name: &str, toml: &str) -> PathBuf {
    let path = scratch_path(&format!("{name}.toml"));
    std::fs::write(&path, toml).expect("write config");
    path
}

fn psql_out(db: &TestDb<'_>, sql: &str) -> String {
    let out = db
        .cluster()
        .psql_cmd(db.name())
        .env("PGOPTIONS", "-c timezone=UTC -c extra_float_digits=3 -c datestyle=ISO,MDY -c intervalstyle=postgres")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs a query and returns its single value.
pub fn scalar(db: &TestDb<'_>, sql: &str) -> String {
    db.psql(sql).expect("query").trim().to_string()
}

/// The tables holding rows (not partitioned parents) of user schemas, quoted and sorted.
pub fn data_tables(db: &TestDb<'_>) -> Vec<String> {
    psql_out(
        db,
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' \
         AND n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', '_migrator') ORDER BY 1",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Every row of a table in COPY text form, sorted: equal strings mean equal contents.
pub fn table_contents(db: &TestDb<'_>, table: &str) -> String {
    psql_out(
        db,
        &format!("COPY (SELECT t.* FROM ONLY {table} t ORDER BY t::text COLLATE \"C\") TO STDOUT"),
    )
}

/// Asserts both databases hold the same tables with the same rows; returns the row count.
pub fn assert_same_data(src: &TestDb<'_>, dst: &TestDb<'_>) -> usize {
    let tables = data_tables(src);
    assert!(!tables.is_empty(), "the source has no tables");
    assert_eq!(tables, data_tables(dst), "table lists differ");
    let mut rows = 0;
    for t in &tables {
        let a = table_contents(src, t);
        let b = table_contents(dst, t);
        if a != b {
            let first = a.lines().zip(b.lines()).position(|(x, y)| x != y);
            panic!(
                "{t}: contents differ ({} vs {} rows), first difference at sorted row {first:?}",
                a.lines().count(),
                b.lines().count()
            );
        }
        rows += a.lines().count();
    }
    rows
}

/// `pg_dump --schema-only` without the manifest, ownership, privileges and the per-run
/// `\restrict` keys: what must be identical between source and target.
pub fn schema_dump(db: &TestDb<'_>) -> String {
    let out = db
        .cluster()
        .bin("pg_dump")
        .args([
            "--schema-only",
            "--exclude-schema=_migrator",
            "-d",
            &db.url(),
        ])
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter(|l| {
            !(l.contains(" OWNER TO ")
                || l.starts_with("GRANT ")
                || l.starts_with("REVOKE ")
                || l.starts_with("\\restrict")
                || l.starts_with("\\unrestrict"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts the two schema dumps are identical, showing the first differing lines.
pub fn assert_same_schema(src: &TestDb<'_>, dst: &TestDb<'_>) {
    let a = schema_dump(src);
    let b = schema_dump(dst);
    assert!(a.lines().count() > 10, "suspiciously small schema dump");
    if a != b {
        let diff: Vec<String> = a
            .lines()
            .zip(b.lines())
            .enumerate()
            .filter(|(_, (x, y))| x != y)
            .take(10)
            .map(|(i, (x, y))| format!("line {}:\n  source: {x}\n  target: {y}", i + 1))
            .collect();
        panic!(
            "schema dumps differ ({} vs {} lines):\n{}",
            a.lines().count(),
            b.lines().count(),
            diff.join("\n")
        );
    }
}

/// Every sequence that feeds a column (serial, identity, or a `DEFAULT nextval(...)`), as
/// `(sequence, table, column)`.
pub fn owned_sequences(db: &TestDb<'_>) -> Vec<(String, String, String)> {
    psql_out(
        db,
        "SELECT d.objid::regclass::text, d.refobjid::regclass::text, quote_ident(a.attname) \
         FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
         AND d.deptype IN ('a', 'i') \
         UNION \
         SELECT d.refobjid::regclass::text, ad.adrelid::regclass::text, quote_ident(a.attname) \
         FROM pg_depend d JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid \
         JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S' \
         JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum \
         JOIN pg_class t ON t.oid = ad.adrelid AND t.relkind = 'r' \
         ORDER BY 1, 2",
    )
    .lines()
    .map(|l| {
        let p: Vec<&str> = l.split('|').collect();
        (p[0].to_string(), p[1].to_string(), p[2].to_string())
    })
    .collect()
}

/// Asserts that in `db` every column-feeding sequence hands out a value past the column's
/// largest value, i.e. a new row inserts without a duplicate key. Returns how many checked.
pub fn assert_sequences_past_max(db: &TestDb<'_>) -> usize {
    let seqs = owned_sequences(db);
    for (seq, table, col) in &seqs {
        // Past the largest value for an ascending sequence, the smallest for a descending one.
        let ok = scalar(
            db,
            &format!(
                "SELECT CASE WHEN (SELECT seqincrement FROM pg_sequence WHERE seqrelid = '{seq}'::regclass) > 0 \
                 THEN nextval('{seq}') > coalesce((SELECT max({col}) FROM {table}), '-infinity'::numeric) \
                 ELSE nextval('{seq}') < coalesce((SELECT min({col}) FROM {table}), 'infinity'::numeric) END"
            ),
        );
        assert_eq!(
            ok, "t",
            "{seq} would hand out a value already in {table}.{col}"
        );
    }
    seqs.len()
}

/// Starts `migrator copy` in the background (output discarded, errors to the test's stderr).
pub fn spawn_copy(src: &TestDb<'_>, dst: &TestDb<'_>, extra: &[&str]) -> std::process::Child {
    migrator()
        .args(["copy", "--source", &src.url(), "--target", &dst.url()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn migrator copy")
}

/// SIGKILLs a child and reaps it.
pub fn kill(child: &mut std::process::Child) {
    child.kill().expect("kill");
    child.wait().expect("wait");
}

/// Polls the target's manifest until `ready(chunks_done, chunks_planned)` holds (true), or
/// the copy exits first (false).
pub async fn wait_for_chunks(
    dst: &TestDb<'_>,
    child: &mut std::process::Child,
    ready: impl Fn(i64, i64) -> bool,
) -> bool {
    let (client, conn) = tokio_postgres::connect(&dst.url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the target");
    tokio::spawn(conn);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut seen = (0, 0);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            eprintln!("copy exited with {status} first; last seen {seen:?} (done, planned)");
            return false;
        }
        let r = client
            .query_one(
                "SELECT CASE WHEN to_regclass('_migrator.chunk_done') IS NULL THEN NULL ELSE \
                 (SELECT count(*) FROM _migrator.chunk_done) END, \
                 CASE WHEN to_regclass('_migrator.chunk') IS NULL THEN NULL ELSE \
                 (SELECT count(*) FROM _migrator.chunk) END",
                &[],
            )
            .await;
        if let Ok(r) = r
            && let (Some(done), Some(planned)) =
                (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1))
        {
            seen = (done, planned);
            if ready(done, planned) {
                return true;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for the copy to make progress");
}

/// Runs `migrator <cmd>` with crash point `spec` armed (`FAILPOINTS`), expects it to die
/// there (SIGABRT, and its last words naming the point), and returns its stderr.
pub fn crash_at(args: &[&str], spec: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let out = migrator()
        .args(args)
        .env("FAILPOINTS", spec)
        .output()
        .expect("run migrator");
    let stderr = text(&out.stderr);
    let point = spec.split('=').next().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{} did not die at {spec} ({}):\n{stderr}",
        args[0],
        out.status
    );
    assert!(stderr.contains(&format!("crash point {point}")), "{stderr}");
    stderr
}
