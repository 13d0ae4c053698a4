//! migrator-core as a crate people depend on: its examples run against real databases,
//! its documentation builds without a warning, and the CLI builds as an outside package
//! that sees only the public API.

use std::path::{Path, PathBuf};
use std::process::Command;

use fixtures::{Cluster, datasets};
use migrator_tests::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(workspace());
    c
}

/// Builds an example of migrator-core and returns its path.
fn example(name: &str) -> PathBuf {
    let status = cargo()
        .args(["build", "-q", "-p", "migrator-core", "--example", name])
        .status()
        .unwrap();
    assert!(status.success(), "building example {name}");
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

#[test]
fn copy_example_copies_and_verifies() {
    let c = Cluster::shared();
    let src = c.create_db("example_src").unwrap();
    let dst = c.create_db("example_dst").unwrap();
    datasets::load_northwind(&src).unwrap();
    let out = Command::new(example("copy_with_progress"))
        .env("SOURCE_DATABASE_URL", src.url())
        .env("TARGET_DATABASE_URL", dst.url())
        .output()
        .unwrap();
    assert_success(&out, "copy_with_progress");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("done public.orders: 830 rows"), "{stdout}");
    assert!(stdout.contains("verified: every table matches"), "{stdout}");
    assert_same_data(&src, &dst);
}

#[test]
fn verify_example_checks_a_pg_dump_migration() {
    let c = Cluster::shared();
    let src = c.create_db("vexample_src").unwrap();
    let dst = c.create_db("vexample_dst").unwrap();
    datasets::load_northwind(&src).unwrap();
    // Migrated by another tool: pg_dump | psql.
    let dump = c.bin("pg_dump").args(["-d", &src.url()]).output().unwrap();
    assert!(dump.status.success());
    let path = scratch_path("vexample.sql");
    std::fs::write(&path, &dump.stdout).unwrap();
    dst.psql_file(&path).unwrap();

    let run = || {
        Command::new(example("verify_only"))
            .env("SOURCE_DATABASE_URL", src.url())
            .env("TARGET_DATABASE_URL", dst.url())
            .output()
            .unwrap()
    };
    let out = run();
    assert_success(&out, "verify_only");
    assert!(
        text(&out.stdout).trim_end().ends_with("clean"),
        "{}",
        text(&out.stdout)
    );

    dst.psql("DELETE FROM order_details WHERE order_id = 10250")
        .unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("public.order_details\tCountMismatch"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("MISMATCH"), "{stdout}");
}

#[test]
fn dsql_example_moves_northwind_with_uuid_keys() {
    let c = Cluster::shared();
    let src = c.create_db("dexample_src").unwrap();
    datasets::load_northwind(&src).unwrap();
    let emu = fixtures::dsql::Emulator::start(
        c,
        fixtures::dsql::DsqlOptions {
            era: fixtures::dsql::Era::Y2026,
            commit_failure_fraction: 0.1,
            seed: 11,
            ..Default::default()
        },
    )
    .unwrap();
    let out = Command::new(example("dsql_uuid"))
        .arg("public.orders:10248")
        .env("SOURCE_DATABASE_URL", src.url())
        .env("TARGET_DATABASE_URL", emu.url())
        .output()
        .unwrap();
    assert_success(&out, "dsql_uuid");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("copied public.orders: 830 rows"),
        "{stdout}"
    );
    assert!(stdout.contains("verify: every table matches"), "{stdout}");
    assert!(
        stdout.contains("retrying "),
        "10% of commits failed, yet no retry was reported:\n{stdout}"
    );
    // The printed translation is the order's key in the target.
    let printed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("public.orders 10248 is now "))
        .unwrap_or_else(|| panic!("no translation printed:\n{stdout}"));
    let stored = emu
        .backing()
        .psql("SELECT order_id FROM public.orders WHERE legacy_order_id = 10248")
        .unwrap();
    assert_eq!(printed, stored.trim());
    assert_eq!(
        scalar(
            emu.backing(),
            "SELECT count(*) FROM public.order_details d JOIN public.orders o USING (order_id)"
        ),
        "2155"
    );
}

#[test]
fn documentation_builds_without_warnings() {
    let out = cargo()
        .args(["doc", "-q", "--no-deps", "-p", "migrator-core"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo doc: {}", text(&out.stderr));
    let index = workspace().join("target/doc/migrator_core/index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(
        html.contains("A migration, step by step"),
        "crate docs missing from {}",
        index.display()
    );
}

#[test]
fn the_cli_builds_as_an_outside_package() {
    // A package outside the workspace, with the CLI's sources, depending on migrator-core
    // by path: only what the crate makes public is visible to it. It takes the CLI's
    // required dependencies only, without its default `demo` feature: the `migrator` a
    // package manager would build with --no-default-features, holding no test fixtures.
    let dir = std::env::temp_dir().join(format!("migrator-cli-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    for f in std::fs::read_dir(workspace().join("migrator-cli/src")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join("src").join(f.file_name())).unwrap();
    }
    let ws = workspace();
    let manifest = std::fs::read_to_string(ws.join("migrator-cli/Cargo.toml")).unwrap();
    let root = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    // Each `x.workspace = true` dependency becomes the workspace's own requirement.
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some(name) = line.strip_suffix(".workspace = true") {
            let spec = root
                .lines()
                .find(|l| l.starts_with(&format!("{name} = ")))
                .unwrap_or_else(|| panic!("{name} is not a workspace dependency"));
            let spec = spec.replace("path = \"", &format!("path = \"{}/", ws.display()));
            deps.push(spec);
        }
    }
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"outside-cli\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
             [[bin]]\nname = \"outside-cli\"\npath = \"src/main.rs\"\n\n[features]\ndemo = []\n\n\
             [dependencies]\n{}\n\n[workspace]\n",
            deps.join("\n")
        ),
    )
    .unwrap();
    std::fs::copy(ws.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let out = Command::new(env!("CARGO"))
        .current_dir(&dir)
        .args(["build", "-q", "--offline"])
        .env("CARGO_TARGET_DIR", ws.join("target"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the CLI does not build outside the workspace: {}",
        text(&out.stderr)
    );
    let help = Command::new(ws.join("target/debug/outside-cli"))
        .arg("--help")
        .output()
        .unwrap();
    assert_success(&help, "outside-cli --help");
    assert!(
        text(&help.stdout).contains("copy"),
        "{}",
        text(&help.stdout)
    );
    assert!(
        !deps.iter().any(|d| d.starts_with("fixtures")) && !text(&help.stdout).contains("demo"),
        "the CLI without its demo feature still has the demo: {}",
        text(&help.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
