//! `bench sync`: bulk-upsert throughput with concurrent card reads, then the
//! CSV export of everything (time and the process's peak RSS during it).
//!
//! ```text
//! bench sync --database-url URL [--customers 100000] [--batch 1000] [--readers 1]
//!            [--streams 1] [--orders N]
//! bench sync --database-url URL --export-only
//! ```
//!
//! `--streams N` sends the batches over N connections at once (batch b on
//! stream b mod N), as an integrator's sync with N workers would.
//! `--orders N` (default: as many as customers; 0: none) then syncs orders
//! for the new cards (`sync_orders`).
//!
//! The database is recreated; Patron runs in this process (so the RSS is
//! the server's plus the bench's small client state, and after an import
//! also what the import left in the allocator). `--export-only` exports the
//! database a previous run left, from a fresh process: the export's own
//! memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::client::Client;
use crate::latency::Summary;
use crate::server::{Running, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::BenchResult;

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Sends `batches` one after the other on one connection and adds the ids
/// each response names to `created` (what the card readers may read: with
/// several streams, ids are not committed in their order). Returns each
/// batch's time.
fn send_batches(
    base: &str,
    token: &str,
    batches: Vec<(usize, String)>,
    created: &RwLock<Vec<i64>>,
) -> BenchResult<Vec<Duration>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(batches.len());
    for (b, body) in batches {
        let t = Instant::now();
        let resp = runtime
            .block_on(
                http.post(format!("{base}/api/v1/customers/bulk"))
                    .bearer_auth(token)
                    .header("Content-Type", "application/json")
                    .header("Idempotency-Key", format!("bench-{b}"))
                    .body(body)
                    .send(),
            )
            .map_err(|e| format!("bulk {b}: {e}"))?;
        let status = resp.status().as_u16();
        let text = runtime.block_on(resp.text()).map_err(|e| e.to_string())?;
        if status != 200 || text.contains("\"status\":\"error\"") {
            return Err(format!(
                "bulk {b}: {status} {}",
                &text[..text.len().min(300)]
            ));
        }
        times.push(t.elapsed());
        let results: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("bulk {b}: {e}"))?;
        let ids = results["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_i64());
        created
            .write()
            .map_err(|_| "created ids poisoned".to_string())?
            .extend(ids);
    }
    Ok(times)
}

/// Resets the peak RSS (Linux: writing 5 to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn batch_body(start: u32, n: u32) -> String {
    let items: Vec<serde_json::Value> = (start..start + n)
        .map(|i| {
            let region = ["Hangzhou", "Shanghai", "Beijing", "Shenzhen"][(i % 4) as usize];
            serde_json::json!({
                "external_id": format!("ERP-{i:07}"),
                "kind": if i % 4 == 0 { "organization" } else { "individual" },
                "name": format!("客户 {i}"),
                "email": format!("c{i}@example.com"),
                "region": region,
                "tags": ["erp"],
            })
        })
        .collect();
    serde_json::json!({ "items": items }).to_string()
}

pub fn run(args: &Args) -> BenchResult<()> {
    if args.flag("export-only") {
        return run_export(args);
    }
    let url = args.string("database-url")?;
    let customers: u32 = args.number("customers", 100_000)?;
    let batch: u32 = args.number("batch", 1000)?;
    let readers: usize = args.number("readers", 1)?;
    let streams: usize = args.number::<usize>("streams", 1)?.max(1);
    let orders: u32 = args.number("orders", customers)?;
    crate::seed::recreate(&url)?;
    let (running, token, runtime, http, base) = start(&url)?;

    // Card readers: GET /customers/{id} on ids already created, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let created: Arc<RwLock<Vec<i64>>> = Arc::default();
    let mut handles = Vec::new();
    for r in 0..readers {
        let (stop, created, token, addr) =
            (stop.clone(), created.clone(), token.clone(), running.addr);
        handles.push(std::thread::spawn(move || -> BenchResult<Vec<Duration>> {
            let mut client = Client::connect(addr)?;
            let mut samples = Vec::new();
            let mut x: i64 = 7 + r as i64;
            while !stop.load(Ordering::Relaxed) {
                x = (x * 1_103_515_245 + 12_345) & 0x7fff_ffff;
                let id = {
                    let ids = created
                        .read()
                        .map_err(|_| "created ids poisoned".to_string())?;
                    if ids.is_empty() {
                        None
                    } else {
                        Some(ids[(x as usize) % ids.len()])
                    }
                };
                let Some(id) = id else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let t = Instant::now();
                let resp = client.get(&format!("/api/v1/customers/{id}"), &token)?;
                samples.push(t.elapsed());
                if resp.status != 200 {
                    return Err(format!("card read {id}: {}", resp.status));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(samples)
        }));
    }

    let bodies: Vec<(usize, String)> = (0..customers.div_ceil(batch))
        .map(|b| {
            (
                b as usize,
                batch_body(b * batch, batch.min(customers - b * batch)),
            )
        })
        .collect();
    // Batch b goes to stream b % streams; each stream sends its batches one
    // after the other, as an integrator's sync worker would.
    let mut per_stream: Vec<Vec<(usize, String)>> = vec![Vec::new(); streams];
    for (b, body) in bodies {
        per_stream[b % streams].push((b, body));
    }
    let started = Instant::now();
    let senders: Vec<_> = per_stream
        .into_iter()
        .map(|mine| {
            let (token, base, created) = (token.clone(), base.clone(), created.clone());
            std::thread::spawn(move || send_batches(&base, &token, mine, &created))
        })
        .collect();
    let mut batch_times = Vec::new();
    for s in senders {
        batch_times.extend(s.join().map_err(|_| "sender panicked".to_string())??);
    }
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut reads = Vec::new();
    for h in handles {
        reads.extend(h.join().map_err(|_| "reader panicked".to_string())??);
    }
    let secs = wall.as_secs_f64();
    println!(
        "### Bulk upsert: {customers} new customers in batches of {batch}, {streams} stream(s)"
    );
    println!();
    println!(
        "Total {secs:.2} s, {:.0} items/s; per batch p50 {:.0} ms, max {:.0} ms.",
        f64::from(customers) / secs,
        Summary::of("batch", 1, batch_times.clone(), wall).p50,
        Summary::of("batch", 1, batch_times, wall).max
    );
    println!();
    println!("Card reads during the import:");
    println!();
    println!("{}", Summary::HEADER);
    println!(
        "{}",
        Summary::of("GET /customers/{id} during bulk", readers, reads, wall).row()
    );
    println!();

    // The same batches again: every item `unchanged`.
    let started = Instant::now();
    for b in 0..customers.div_ceil(batch) {
        let body = batch_body(b * batch, batch.min(customers - b * batch));
        let resp = runtime
            .block_on(
                http.post(format!("{base}/api/v1/customers/bulk"))
                    .bearer_auth(&token)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send(),
            )
            .map_err(|e| format!("re-sync {b}: {e}"))?;
        let _ = runtime.block_on(resp.text());
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Re-sync of the same {customers} (all `unchanged`): {secs:.2} s, {:.0} items/s.",
        f64::from(customers) / secs
    );
    println!();

    crate::sync_orders::run(&runtime, &http, &base, &token, customers, orders, batch)?;

    export(
        &runtime,
        &http,
        &base,
        &token,
        "in the process that ran the import",
    )?;
    running.stop();
    Ok(())
}

/// `bench sync --export-only`: the CSV export of the database a previous
/// `bench sync` left, by a server started afresh in this process, so the
/// peak RSS is the export's and not what the import left behind.
pub fn run_export(args: &Args) -> BenchResult<()> {
    let url = args.string("database-url")?;
    let (running, token, runtime, http, base) = start(&url)?;
    export(&runtime, &http, &base, &token, "fresh process")?;
    running.stop();
    Ok(())
}

/// Patron on `url` in this process, the admin's token and a client for it.
fn start(
    url: &str,
) -> BenchResult<(
    Running,
    String,
    tokio::runtime::Runtime,
    reqwest::Client,
    String,
)> {
    let running = Running::start(url, "127.0.0.1:0")?;
    let token = running.login(ADMIN_EMAIL, ADMIN_PASSWORD)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("http://{}", running.addr);
    Ok((running, token, runtime, reqwest::Client::new(), base))
}

/// Streams `GET /customers/export` to the end; prints its time and this
/// process's RSS before and at its peak during the export.
fn export(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    which: &str,
) -> BenchResult<()> {
    let before = rss_kb().unwrap_or_default();
    reset_peak();
    let started = Instant::now();
    let mut resp = runtime
        .block_on(
            http.get(format!("{base}/api/v1/customers/export"))
                .bearer_auth(token)
                .send(),
        )
        .map_err(|e| format!("export: {e}"))?;
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = runtime.block_on(resp.chunk()).map_err(|e| e.to_string())? {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_rss_kb().unwrap_or_default();
    println!(
        "CSV export of {} rows ({:.1} MB), {which}: {secs:.2} s, {:.0} rows/s; process RSS {} MB before, peak {} MB during.",
        lines.saturating_sub(1),
        bytes as f64 / 1e6,
        lines as f64 / secs,
        before / 1024,
        peak / 1024
    );
    Ok(())
}
