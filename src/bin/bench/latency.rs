//! Latency samples and their summary as a markdown table row.

use std::time::Duration;

/// The outcome of one scenario at one concurrency.
pub struct Summary {
    pub scenario: String,
    pub clients: usize,
    pub requests: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub per_second: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Summary {
    pub fn of(scenario: &str, clients: usize, mut samples: Vec<Duration>, wall: Duration) -> Self {
        samples.sort_unstable();
        let secs = wall.as_secs_f64();
        Summary {
            scenario: scenario.to_string(),
            clients,
            requests: samples.len(),
            p50: ms(percentile(&samples, 0.50)),
            p95: ms(percentile(&samples, 0.95)),
            p99: ms(percentile(&samples, 0.99)),
            max: ms(samples.last().copied().unwrap_or_default()),
            per_second: if secs > 0.0 {
                samples.len() as f64 / secs
            } else {
                0.0
            },
        }
    }

    pub const HEADER: &'static str = "| scenario | clients | requests | p50 ms | p95 ms | p99 ms | max ms | requests/s |\n|---|---:|---:|---:|---:|---:|---:|---:|";

    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            self.scenario,
            self.clients,
            self.requests,
            self.p50,
            self.p95,
            self.p99,
            self.max,
            self.per_second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of("x", 1, samples, Duration::from_secs(1));
        assert_eq!((s.p50, s.p95, s.p99, s.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(s.per_second, 100.0);
    }
}
