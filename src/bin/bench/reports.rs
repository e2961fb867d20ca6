//! One request at a time, after the load runs: the reports and the list
//! shapes no load scenario covers, timed on the seeded database. At a million
//! cards some took seconds (session 19's audit); listing them here keeps
//! them measured, the way the interaction log joined the load runs after a
//! slow path went unnoticed.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Instant;

use crate::client::Client;
use crate::BenchResult;

/// What is timed; `{owner}` becomes the owner of card 1.
const PATHS: &[(&str, &str)] = &[
    ("CRM questions, all cards", "/api/v1/analytics/overview"),
    (
        "CRM questions, one owner",
        "/api/v1/analytics/overview?owner_id={owner}",
    ),
    ("funnel conversion", "/api/v1/analytics/funnel"),
    ("sales by month", "/api/v1/analytics/sales"),
    ("sales by owner", "/api/v1/analytics/sales?group_by=owner"),
    ("CPR stages", "/api/v1/analytics/cpr"),
    ("Pareto (80/20)", "/api/v1/analytics/pareto"),
    ("loyalty matrix", "/api/v1/analytics/loyalty"),
    ("churn by reason", "/api/v1/analytics/churn"),
    ("tier pyramid", "/api/v1/tiers"),
    (
        "customers at risk, page of 50",
        "/api/v1/churn/at-risk?limit=50",
    ),
    (
        "list sorted by last contact, page of 50",
        "/api/v1/customers?sort=-last_contact_at&limit=50",
    ),
    (
        "list sorted by lifetime revenue, page of 50",
        "/api/v1/customers?sort=-lifetime_revenue_cents&limit=50",
    ),
    (
        "list sorted by purchase count (no index), page of 50",
        "/api/v1/customers?sort=-purchase_count&limit=50",
    ),
    (
        "list filtered by a name nobody has",
        "/api/v1/customers?q=zzzz-nobody&limit=50",
    ),
    (
        "list filtered by owner, page of 50",
        "/api/v1/customers?owner_id={owner}&limit=50",
    ),
];

/// Each path three times on one connection; the fastest and slowest time,
/// as a markdown section. Any status but 200 is an error.
pub fn run(addr: SocketAddr, token: &str, owner: i64) -> BenchResult<String> {
    let mut client = Client::connect(addr)?;
    let mut md = String::from(
        "### Reports and list shapes, one request at a time\n\n\
         | request | path | fastest ms | slowest ms |\n|---|---|---:|---:|\n",
    );
    for (what, path) in PATHS {
        let path = path.replace("{owner}", &owner.to_string());
        let mut times = Vec::with_capacity(3);
        for _ in 0..3 {
            let started = Instant::now();
            let resp = client.get(&path, token)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if resp.status != 200 {
                return Err(format!(
                    "GET {path}: {} {}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                ));
            }
        }
        let fastest = times.iter().copied().fold(f64::INFINITY, f64::min);
        let slowest = times.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(md, "| {what} | `{path}` | {fastest:.1} | {slowest:.1} |");
    }
    Ok(md)
}
