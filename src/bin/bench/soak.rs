//! The soak: a mixed load at fixed rates for M minutes (card reads, list
//! pages and creates, three oha processes at once), the server's RSS
//! sampled every N seconds. Memory is "flat" when the last quarter of the
//! run holds no more than the second quarter plus 10 % (at least 2 MB):
//! caches fill during the first quarter, a leak keeps growing after it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::http::{Inputs, Proc};
use crate::oha::{self, Load};
use crate::procstat;
use crate::BenchResult;

/// (what, requests/s, connections): about 1,100 requests/s in all, a
/// steady office day rather than a saturation test (the machine is shared).
const MIX: [(&str, u32, usize); 3] = [
    ("card reads", 1_000, 16),
    ("list pages of 50", 100, 4),
    ("creates", 20, 2),
];

fn mean(xs: &[u64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<u64>() as f64 / xs.len() as f64
    }
}

/// Is the memory flat? (second-quarter mean, last-quarter mean, verdict)
pub fn flat(samples: &[u64]) -> (f64, f64, bool) {
    let n = samples.len();
    if n < 4 {
        return (0.0, 0.0, false);
    }
    let second = mean(&samples[n / 4..n / 2]);
    let last = mean(&samples[n - n / 4..]);
    let allowed = (second * 0.10).max(2.0 * 1024.0);
    (second, last, last - second <= allowed)
}

pub fn run(
    patron: &Proc,
    token: &str,
    oha_bin: &Path,
    inputs: &Inputs,
    minutes: f64,
    sample_secs: u64,
    csv: &Path,
) -> BenchResult<String> {
    let secs = minutes * 60.0;
    let create_url = format!("http://{}/api/v1/customers", patron.addr);
    let card_urls = inputs.card_urls.display().to_string();
    let list_urls = inputs.list_urls.display().to_string();
    eprintln!("soak: {minutes} minutes of mixed load, RSS every {sample_secs} s …");
    let cpu_before = procstat::cpu_secs(patron.pid).unwrap_or(0.0);
    let mut children = Vec::new();
    for (i, (what, rate, connections)) in MIX.iter().enumerate() {
        let (url, from_file, method, bodies) = match i {
            0 => (card_urls.as_str(), true, "GET", None),
            1 => (list_urls.as_str(), true, "GET", None),
            _ => (
                create_url.as_str(),
                false,
                "POST",
                Some(inputs.create_bodies.as_path()),
            ),
        };
        let load = Load {
            url,
            urls_from_file: from_file,
            method,
            token: Some(token),
            bodies,
            connections: *connections,
            duration_secs: secs,
            rate: Some(*rate),
        };
        children.push((*what, *rate, load.spawn(oha_bin)?));
    }
    let started = Instant::now();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut text = String::from("seconds,rss_kb\n");
    while started.elapsed().as_secs_f64() < secs {
        let at = started.elapsed().as_secs_f64();
        if let Some(kb) = procstat::rss_kb(patron.pid) {
            samples.push((at, kb));
            let _ = writeln!(text, "{at:.0},{kb}");
        }
        std::thread::sleep(Duration::from_secs(sample_secs.max(1)));
    }
    let mut outcomes = Vec::new();
    for (what, rate, child) in children {
        outcomes.push((what, rate, oha::finish(child)?));
    }
    let cpu = procstat::cpu_secs(patron.pid).unwrap_or(0.0) - cpu_before;
    std::fs::write(csv, &text).map_err(|e| format!("{}: {e}", csv.display()))?;

    let kb: Vec<u64> = samples.iter().map(|(_, kb)| *kb).collect();
    let (second, last, is_flat) = flat(&kb);
    let mut md = String::new();
    let _ = writeln!(md, "### Soak: {minutes} minutes of mixed load");
    let _ = writeln!(md);
    let total: u64 = outcomes.iter().map(|(_, _, o)| o.responses).sum();
    let _ = writeln!(
        md,
        "Three oha processes at fixed rates at once; RSS sampled every {sample_secs} s \
         ({} samples, all in `{}`). Server CPU: {:.0} µs per request over {total} requests.",
        kb.len(),
        csv.display(),
        if total > 0 {
            cpu * 1e6 / total as f64
        } else {
            0.0
        }
    );
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "| load | rate asked | requests | requests/s | p50 ms | p99 ms | not 2xx |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---|");
    for (what, rate, o) in &outcomes {
        let _ = writeln!(
            md,
            "| {what} | {rate}/s | {} | {:.0} | {:.2} | {:.2} | {} |",
            o.responses,
            o.per_second,
            o.p50_ms,
            o.p99_ms,
            if o.failures.is_empty() {
                "none".to_string()
            } else {
                o.failures.join(", ")
            }
        );
    }
    let _ = writeln!(md);
    // A tenth of the samples per row keeps the table short.
    let step = (samples.len() / 10).max(1);
    let _ = writeln!(md, "| minute | RSS MB |");
    let _ = writeln!(md, "|---:|---:|");
    for (at, kb) in samples.iter().step_by(step).chain(samples.last()) {
        let _ = writeln!(md, "| {:.1} | {:.1} |", at / 60.0, *kb as f64 / 1024.0);
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "RSS: min {:.1} MB, max {:.1} MB; second quarter mean {:.1} MB, last quarter mean \
         {:.1} MB: **{}**.",
        kb.iter().min().copied().unwrap_or(0) as f64 / 1024.0,
        kb.iter().max().copied().unwrap_or(0) as f64 / 1024.0,
        second / 1024.0,
        last / 1024.0,
        if is_flat {
            "flat"
        } else {
            "growing (not flat)"
        }
    );
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::flat;

    #[test]
    fn flat_allows_warm_up_and_noise_but_not_growth() {
        // Warm-up in the first quarter, then steady with noise.
        let steady: Vec<u64> = (0..40)
            .map(|i| {
                if i < 10 {
                    10_000 + i * 1_000
                } else {
                    20_000 + (i % 3) * 300
                }
            })
            .collect();
        assert!(flat(&steady).2);
        // Grows by 1 MB per sample all along: a leak.
        let leak: Vec<u64> = (0..40).map(|i| 20_000 + i * 1_024).collect();
        assert!(!flat(&leak).2);
        assert!(!flat(&[1, 2]).2);
    }
}
