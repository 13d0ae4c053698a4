//! What the report says about where the numbers came from: CPU, memory, kernel, the disk
//! under the clusters, the server's version and settings, the tools' versions and the
//! migrator build. Everything is read, nothing is assumed.

use std::path::Path;
use std::process::Command;

use fixtures::Cluster;

/// Server settings worth stating next to the numbers.
const SETTINGS: &[&str] = &[
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "maintenance_work_mem",
    "work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "max_parallel_maintenance_workers",
    "autovacuum",
];

/// The facts, as `(name, value)` lines in report order.
pub fn describe(
    target: &Cluster,
    migrator: &Path,
    pinned: &Path,
    workspace: &Path,
) -> Result<Vec<(String, String)>, String> {
    let mut facts = Vec::new();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    facts.push(("CPUs (nproc)".into(), format!("{cpus} × {model}")));
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    facts.push((
        "memory".into(),
        format!("{:.1} GiB", mem_kib as f64 / 1024.0 / 1024.0),
    ));
    facts.push((
        "kernel".into(),
        read("/proc/sys/kernel/osrelease").trim().to_string(),
    ));
    facts.push(("disk".into(), disk_of(&target.data_dir())));

    let version = target
        .psql("postgres", "SELECT version()")
        .map_err(|e| format!("reading the server version: {e}"))?;
    facts.push(("PostgreSQL".into(), version.trim().to_string()));
    let settings = target
        .psql(
            "postgres",
            &format!(
                "SELECT name || ' = ' || current_setting(name) FROM pg_settings \
                 WHERE name IN ({}) ORDER BY name",
                SETTINGS
                    .iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .map_err(|e| format!("reading server settings: {e}"))?;
    facts.push((
        "server settings (both clusters)".into(),
        settings
            .lines()
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
    ));
    facts.push((
        "client tools".into(),
        format!(
            "{} (same build as the servers)",
            first_line(target.bin("pg_dump").arg("--version"))
        ),
    ));
    let sha = first_line(Command::new("sha256sum").arg(pinned));
    facts.push((
        "migrator".into(),
        format!(
            "{} from {} (built {}, sha256 {}), copied aside at the start so every run uses the \
             same binary; workspace {}",
            first_line(Command::new(pinned).arg("--version")),
            migrator.display(),
            first_line(
                Command::new("date")
                    .args(["-u", "+%Y-%m-%d %H:%M UTC", "-r"])
                    .arg(pinned)
            ),
            sha.split_whitespace()
                .next()
                .unwrap_or("unknown")
                .chars()
                .take(16)
                .collect::<String>(),
            git_state(workspace)
        ),
    ));
    Ok(facts)
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`.
pub fn load_average() -> String {
    let l = read("/proc/loadavg");
    let f: Vec<&str> = l.split_whitespace().take(3).collect();
    if f.len() == 3 {
        f.join(" / ")
    } else {
        "unknown".into()
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The device and filesystem of the mount holding `path`, from `/proc/mounts`.
fn disk_of(path: &Path) -> String {
    let path = path.to_string_lossy().to_string();
    let mounts = read("/proc/mounts");
    let best = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| (f[0], f[1], f[2]))
        })
        .filter(|(_, mnt, _)| {
            path == *mnt || path.starts_with(&format!("{}/", mnt.trim_end_matches('/')))
        })
        .max_by_key(|(_, mnt, _)| mnt.len());
    match best {
        Some((dev, mnt, fs)) => format!(
            "cluster data directories under {} on {dev} ({fs}, mounted at {mnt}); \
             both clusters share this one disk",
            std::env::temp_dir().display()
        ),
        None => "unknown".into(),
    }
}

/// `commit` plus whether the work tree had uncommitted changes.
fn git_state(workspace: &Path) -> String {
    let commit = first_line(Command::new("git").arg("-C").arg(workspace).args([
        "rev-parse",
        "--short=12",
        "HEAD",
    ]));
    let dirty = Command::new("git")
        .arg("-C")
        .arg(workspace)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty());
    match dirty {
        Some(true) => format!("git {commit} with uncommitted changes"),
        Some(false) => format!("git {commit}"),
        None => "git state unknown".into(),
    }
}
