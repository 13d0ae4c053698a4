//! Runs one contender as exactly one child process and measures it.
//!
//! - Wall time: from just before `spawn` to the moment `wait4(2)` reaps the child.
//! - Peak RSS: `ru_maxrss` of the `rusage` that `wait4` returns for that child. On Linux this
//!   is the largest resident set size among the child itself and every descendant it waited
//!   for (the kernel folds each reaped child's maximum into its parent's), so a pipeline run
//!   as `bash -c 'a | b'` reports the largest of `bash`, `a` and `b`. It is a maximum over
//!   processes, not a sum: two processes of 50 MiB each running at once report 50 MiB.
//!   Database server processes are not descendants of the contender and are not counted.
//! - Client CPU: user + system time of the same process tree.
//!
//! The child's stdin is `/dev/null`; its stdout and stderr go to one log file.
//!
//! Children are started by a [`Spawner`]: a small helper process (this executable again,
//! with [`SPAWNER_ARG`]) rather than the harness itself. Linux folds the memory high-water
//! mark of the process that starts a child into that child's `ru_maxrss` (the address space
//! a vforked child runs in until `exec` is its parent's), so a harness grown by the DSQL
//! emulator's proxy and records would otherwise show up as every contender's peak RSS.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

/// The first argument that makes this executable a spawner (see [`Spawner`]).
pub const SPAWNER_ARG: &str = "__spawner";

/// The helper process that starts and measures every contender (module docs say why).
/// Requests and replies are JSON lines over its stdin and stdout.
pub struct Spawner {
    child: Child,
    /// `None` once dropped (closing it ends the spawner's loop).
    to: Option<ChildStdin>,
    from: BufReader<ChildStdout>,
}

impl Spawner {
    /// Starts this executable as a spawner.
    pub fn start() -> Result<Spawner, String> {
        let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
        let mut child = Command::new(exe)
            .arg(SPAWNER_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the spawner process: {e}"))?;
        let to = child.stdin.take().expect("piped stdin");
        let from = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Spawner {
            child,
            to: Some(to),
            from,
        })
    }

    /// Runs `cmd` in the spawner, as [`run`] would here.
    pub fn run(&mut self, cmd: &Command, log: &Path) -> Result<Outcome, String> {
        let lossy = |s: &std::ffi::OsStr| s.to_string_lossy().to_string();
        let request = json!({
            "program": lossy(cmd.get_program()),
            "args": cmd.get_args().map(lossy).collect::<Vec<_>>(),
            "cwd": cmd.get_current_dir().map(|d| d.to_string_lossy().to_string()),
            "env": cmd
                .get_envs()
                .filter_map(|(k, v)| Some((lossy(k), lossy(v?))))
                .collect::<Vec<_>>(),
            "log": log.to_string_lossy(),
        });
        let to = self.to.as_mut().expect("open until dropped");
        writeln!(to, "{request}")
            .and_then(|()| to.flush())
            .map_err(|e| format!("writing to the spawner: {e}"))?;
        let mut line = String::new();
        let n = self
            .from
            .read_line(&mut line)
            .map_err(|e| format!("reading from the spawner: {e}"))?;
        if n == 0 {
            return Err("the spawner process ended".into());
        }
        let reply: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("spawner reply {line:?}: {e}"))?;
        if let Some(e) = reply["error"].as_str() {
            return Err(e.to_string());
        }
        let secs = |k: &str| Duration::from_secs_f64(reply[k].as_f64().unwrap_or(0.0));
        Ok(Outcome {
            wall: secs("wall_s"),
            max_rss_kib: reply["max_rss_kib"].as_u64().unwrap_or(0),
            cpu: secs("cpu_s"),
            failure: reply["failure"].as_str().map(str::to_string),
            outside: None,
        })
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // Closing its stdin ends its loop.
        self.to.take();
        let _ = self.child.wait();
    }
}

/// The spawner's loop: one request per line on stdin, one reply per line on stdout, until
/// stdin closes.
pub fn serve_spawner() -> std::process::ExitCode {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let reply = match serde_json::from_str::<serde_json::Value>(&line) {
            Err(e) => json!({ "error": format!("bad request: {e}") }),
            Ok(req) => {
                let mut cmd = Command::new(req["program"].as_str().unwrap_or_default());
                if let Some(args) = req["args"].as_array() {
                    cmd.args(args.iter().filter_map(|a| a.as_str()));
                }
                if let Some(dir) = req["cwd"].as_str() {
                    cmd.current_dir(dir);
                }
                for kv in req["env"].as_array().into_iter().flatten() {
                    if let (Some(k), Some(v)) = (kv[0].as_str(), kv[1].as_str()) {
                        cmd.env(k, v);
                    }
                }
                let log = PathBuf::from(req["log"].as_str().unwrap_or("/dev/null"));
                match run(&mut cmd, &log) {
                    Ok(o) => json!({
                        "wall_s": o.wall.as_secs_f64(),
                        "max_rss_kib": o.max_rss_kib,
                        "cpu_s": o.cpu.as_secs_f64(),
                        "failure": o.failure,
                    }),
                    Err(e) => json!({ "error": e }),
                }
            }
        };
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    std::process::ExitCode::SUCCESS
}

/// What one measured run gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Spawn to reap.
    pub wall: Duration,
    /// Largest RSS in the child's waited-for process tree, in KiB.
    pub max_rss_kib: u64,
    /// User + system CPU time of that process tree.
    pub cpu: Duration,
    /// `None` when the child exited 0, else how it ended ("exit status 1", "signal 9").
    pub failure: Option<String>,
    /// CPU time that went elsewhere during the run, when known (filled in by the caller).
    pub outside: Option<crate::noise::Outside>,
}

/// Spawns `cmd` with stdout and stderr appended to `log`, waits for it with `wait4` and
/// returns what it measured. An error here means the child could not be run at all.
pub fn run(cmd: &mut Command, log: &Path) -> Result<Outcome, String> {
    let out = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("duplicating the log handle: {e}"))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);

    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting {:?}: {e}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child's pid with valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return Err(format!("waiting for child {pid}: {e}"));
    }
    let wall = start.elapsed();
    // The child is reaped; dropping the handle only closes our ends of its pipes (none).
    drop(child);

    let failure = if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => None,
            code => Some(format!("exit status {code}")),
        }
    } else if libc::WIFSIGNALED(status) {
        Some(format!("killed by signal {}", libc::WTERMSIG(status)))
    } else {
        Some(format!("ended with wait status {status:#x}"))
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Outcome {
        wall,
        max_rss_kib: ru.ru_maxrss.max(0) as u64,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        failure,
        outside: None,
    })
}

/// The last `n` lines of a log file, for error reports.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_pipeline_and_its_failure() {
        let dir = std::env::temp_dir().join(format!("bench-measure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let ok = run(
            Command::new("bash").args(["-c", "set -o pipefail; echo hi | cat"]),
            &log,
        )
        .unwrap();
        assert!(ok.failure.is_none());
        assert!(ok.max_rss_kib > 0);
        assert_eq!(log_tail(&log, 5), "hi");
        let bad = run(
            Command::new("bash").args(["-c", "set -o pipefail; false | cat"]),
            &log,
        )
        .unwrap();
        assert_eq!(bad.failure.as_deref(), Some("exit status 1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
