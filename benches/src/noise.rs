//! Other work on the machine. The benchmark shares its CPUs with whatever else runs there
//! (and, on a virtual machine, with other machines on the host), so each timed run records
//! how much CPU time went elsewhere while it ran, and each run first waits (a bounded time)
//! for other programs to go quiet.
//!
//! Other programs' CPU = busy CPU time of the whole machine (`/proc/stat`: user, nice,
//! system; interrupt time left out) minus the CPU time of the two clusters' servers (each
//! postmaster's own, its reaped children's, and its live children's, from
//! `/proc/<pid>/stat`), of kernel threads (writeback and the like, mostly on the
//! benchmark's behalf), of this process, and of the contender's process tree (from
//! `wait4`). Approximate: a backend still exiting when the run ends may be counted as
//! other, by a few milliseconds. Steal (CPU time the hypervisor gave to other virtual
//! machines while this one wanted it) is recorded separately, straight from `/proc/stat`.

use std::path::Path;
use std::time::{Duration, Instant};

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// `(busy, steal)` CPU seconds of the whole machine since boot: busy is user + nice +
/// system (interrupt time is left out: much of it is the benchmark's own loopback traffic
/// and disk writes); steal is time the hypervisor gave this VM's CPUs to someone else
/// while they had work to do.
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let at = |i: usize| v.get(i).copied().unwrap_or(0) as f64;
    let hz = clock_ticks();
    ((at(0) + at(1) + at(2)) / hz, at(7) / hz)
}

/// `(ppid, utime + stime, cutime + cstime)` of a process, in seconds.
fn proc_times(pid: &str) -> Option<(i32, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    let hz = clock_ticks();
    Some((
        f.get(1)?.parse().ok()?,
        (n(11)? + n(12)?) / hz,
        (n(13)? + n(14)?) / hz,
    ))
}

/// The postmaster's pid, from `postmaster.pid` in a data directory.
fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// CPU seconds used so far by the servers whose postmasters are `pms`, plus this process.
fn ours(pms: &[i32]) -> f64 {
    let mut total = 0.0;
    for pm in pms {
        if let Some((_, own, reaped)) = proc_times(&pm.to_string()) {
            total += own + reaped;
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            // Live server processes, and kernel threads (children of kthreadd, pid 2),
            // which do the benchmark's disk writeback among other things.
            if let Some((ppid, own, _)) = proc_times(pid)
                && (pms.contains(&ppid) || ppid == 2 || pid == "2")
            {
                total += own;
            }
        }
    }
    if let Some((_, own, _)) = proc_times("self") {
        total += own;
    }
    total
}

/// Watches the machine on behalf of a pair of clusters.
pub struct Watch {
    postmasters: Vec<i32>,
}

/// A point in time to measure from.
pub struct Mark {
    busy: f64,
    steal: f64,
    ours: f64,
}

/// What happened outside the benchmark during a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outside {
    /// CPU seconds used by other programs on this machine.
    pub other: f64,
    /// CPU seconds the hypervisor withheld (steal).
    pub steal: f64,
}

impl Watch {
    /// Watches the clusters with these data directories.
    pub fn new(data_dirs: &[&Path]) -> Watch {
        Watch {
            postmasters: data_dirs.iter().filter_map(|d| postmaster_pid(d)).collect(),
        }
    }

    /// Now.
    pub fn mark(&self) -> Mark {
        let (busy, steal) = machine_cpu();
        Mark {
            busy,
            steal,
            ours: ours(&self.postmasters),
        }
    }

    /// What happened outside the benchmark since `from`, given that the contender's process
    /// tree used `contender_cpu` CPU seconds.
    pub fn outside_since(&self, from: &Mark, contender_cpu: f64) -> Outside {
        let now = self.mark();
        Outside {
            other: ((now.busy - from.busy) - (now.ours - from.ours) - contender_cpu).max(0.0),
            steal: (now.steal - from.steal).max(0.0),
        }
    }

    /// Waits until other programs used less than `threshold` of one CPU over one second,
    /// for at most `limit` (steal is not waited for: nothing here can change it). Returns
    /// how long it waited and whether the machine was quiet then.
    pub fn wait_quiet(&self, threshold: f64, limit: Duration) -> (Duration, bool) {
        let start = Instant::now();
        loop {
            let m = self.mark();
            std::thread::sleep(Duration::from_secs(1));
            if self.outside_since(&m, 0.0).other < threshold {
                return (start.elapsed(), true);
            }
            if start.elapsed() >= limit {
                return (start.elapsed(), false);
            }
        }
    }
}
