//! What a server process costs, read from `/proc/<pid>`: CPU time (user +
//! system, all threads, including threads that already ended) and resident
//! memory, plus a sampler that keeps the highest RSS seen during a run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ: 100 on Linux for
/// every architecture's user ABI).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds used so far by the process (utime + stime).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Resident set size now, in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

/// Keeps the highest RSS of `pid` seen every `every` until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    max_kb: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kb = Arc::new(AtomicU64::new(rss_kb(pid).unwrap_or(0)));
        let (s, m) = (stop.clone(), max_kb.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kb) = rss_kb(pid) {
                    m.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(every);
            }
        });
        RssSampler {
            stop,
            max_kb,
            handle: Some(handle),
        }
    }

    /// Stops sampling; the highest RSS seen, in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.max_kb.load(Ordering::Relaxed)
    }
}

/// Waits until the process has used (almost) no CPU for `quiet` in a row
/// (start-up jobs done), at most `limit`. Returns false on timeout.
pub fn wait_idle(pid: u32, quiet: Duration, limit: Duration) -> bool {
    let started = std::time::Instant::now();
    let mut last = cpu_secs(pid).unwrap_or(0.0);
    let mut calm_since = std::time::Instant::now();
    while started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(500));
        let now = cpu_secs(pid).unwrap_or(0.0);
        // Under 2 % of a CPU: background timers only.
        if now - last > 0.011 {
            calm_since = std::time::Instant::now();
        }
        last = now;
        if calm_since.elapsed() >= quiet {
            return true;
        }
    }
    false
}
