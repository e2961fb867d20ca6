//! Drives load with `oha` (a load generator no one here wrote) and reads
//! its JSON summary.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::BenchResult;

/// One oha run: what to send and how.
pub struct Load<'a> {
    pub url: &'a str,
    /// `url` is a file with one URL a line (oha picks one at random per request).
    pub urls_from_file: bool,
    pub method: &'a str,
    pub token: Option<&'a str>,
    /// A file with one JSON body a line (oha picks one at random per request).
    pub bodies: Option<&'a Path>,
    pub connections: usize,
    pub duration_secs: f64,
    /// Fixed rate (requests/s) instead of as fast as possible.
    pub rate: Option<u32>,
}

/// What oha measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Responses received (any status).
    pub responses: u64,
    /// Responses with a 2xx status.
    pub ok: u64,
    /// Statuses other than 2xx, and transport errors, as `code×count`.
    pub failures: Vec<String>,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Average body size of a response.
    pub bytes_per_response: f64,
}

impl Load<'_> {
    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--no-tui".into(),
            "--output-format".into(),
            "json".into(),
            // Requests still running at the deadline finish and count.
            "-w".into(),
            "-c".into(),
            self.connections.to_string(),
            "-z".into(),
            format!("{}ms", (self.duration_secs * 1000.0).round() as u64),
            "-m".into(),
            self.method.into(),
            "-H".into(),
            "Accept: application/json".into(),
        ];
        if let Some(token) = self.token {
            a.push("-H".into());
            a.push(format!("Authorization: Bearer {token}"));
        }
        if let Some(bodies) = self.bodies {
            a.push("-T".into());
            a.push("application/json".into());
            a.push("-Z".into());
            a.push(bodies.display().to_string());
        }
        if let Some(rate) = self.rate {
            a.push("-q".into());
            a.push(rate.to_string());
            // Latency counted from when a request was due, not when sent
            // (no coordinated omission).
            a.push("--latency-correction".into());
        }
        if self.urls_from_file {
            a.push("--urls-from-file".into());
        }
        a.push(self.url.into());
        a
    }

    /// Runs oha to completion.
    pub fn run(&self, oha: &Path) -> BenchResult<Outcome> {
        let out = Command::new(oha)
            .args(self.args())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", oha.display()))?;
        if !out.status.success() {
            return Err(format!(
                "oha failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        parse(&out.stdout)
    }

    /// Starts oha in the background (for the soak's concurrent loads).
    pub fn spawn(&self, oha: &Path) -> BenchResult<std::process::Child> {
        Command::new(oha)
            .args(self.args())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", oha.display()))
    }
}

/// Waits for a background oha and reads its summary.
pub fn finish(child: std::process::Child) -> BenchResult<Outcome> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for oha: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "oha failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse(&out.stdout)
}

fn parse(stdout: &[u8]) -> BenchResult<Outcome> {
    let json: Value =
        serde_json::from_slice(stdout).map_err(|e| format!("oha's JSON summary: {e}"))?;
    let number = |v: &Value| v.as_f64().unwrap_or(0.0);
    let latency = &json["metrics"]["latency_ms"];
    let mut outcome = Outcome {
        per_second: number(&json["summary"]["requestsPerSec"]),
        p50_ms: number(&latency["p50"]),
        p99_ms: number(&latency["p99"]),
        max_ms: number(&latency["max"]),
        bytes_per_response: number(&json["summary"]["sizePerRequest"]),
        ..Outcome::default()
    };
    if let Some(codes) = json["statusCodeDistribution"].as_object() {
        for (code, n) in codes {
            let n = n.as_u64().unwrap_or(0);
            outcome.responses += n;
            if code.starts_with('2') {
                outcome.ok += n;
            } else {
                outcome.failures.push(format!("{code}×{n}"));
            }
        }
    }
    if let Some(errors) = json["errorDistribution"].as_object() {
        for (error, n) in errors {
            outcome
                .failures
                .push(format!("{error}×{}", n.as_u64().unwrap_or(0)));
        }
    }
    // requestsPerSec counts every response; keep it for successes only.
    if outcome.responses > 0 {
        outcome.per_second *= outcome.ok as f64 / outcome.responses as f64;
    }
    Ok(outcome)
}

/// `oha --version`, for the report.
pub fn version(oha: &Path) -> String {
    Command::new(oha)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "oha (version unknown)".into())
}
