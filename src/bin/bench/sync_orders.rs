//! `bench sync`, its orders phase: `POST /transactions/bulk` after the
//! customer import, as an ERP's order sync sends it. The orders go to the
//! first 1 % of the cards (at least one), so each of those cards gathers
//! many (100 each with the defaults): the figures refreshed at the end of
//! every batch (purchase count, revenue, CPR stage) are those of cards with
//! long histories. Then the same orders again (all `unchanged`), then
//! corrections (every amount changed: the per-item path) for a tenth of the
//! batches.

use std::time::{Duration, Instant};

use crate::latency::Summary;
use crate::BenchResult;

/// One batch of orders `start..start + n` over `cards` cards, each amount
/// raised by `bump` cents.
fn body(start: u32, n: u32, cards: u32, bump: u32) -> String {
    let items: Vec<serde_json::Value> = (start..start + n)
        .map(|i| {
            let product = ["Tea", "Cups", "Gift set", "Pot"][(i % 4) as usize];
            serde_json::json!({
                "external_id": format!("SO-{i:08}"),
                "customer_external_id": format!("ERP-{:07}", i % cards),
                "amount_cents": 1_000 + (i % 97) * 350 + bump,
                "cost_cents": 600 + (i % 97) * 200,
                "product": product,
                "occurred_at": format!("2026-{:02}-{:02}T10:00:00Z", 1 + i % 10, 1 + i % 28),
            })
        })
        .collect();
    serde_json::json!({ "items": items }).to_string()
}

/// Sends the batches of `orders` one after the other; every item must get
/// `expect`. Returns each batch's time.
fn send(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    batches: impl Iterator<Item = (u32, String)>,
    expect: &str,
) -> BenchResult<Vec<Duration>> {
    let mut times = Vec::new();
    for (b, body) in batches {
        let t = Instant::now();
        let resp = runtime
            .block_on(
                http.post(format!("{base}/api/v1/transactions/bulk"))
                    .bearer_auth(token)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send(),
            )
            .map_err(|e| format!("orders {b}: {e}"))?;
        let status = resp.status().as_u16();
        let text = runtime.block_on(resp.text()).map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        let results: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("orders {b}: {status} {e}"))?;
        let all_as_expected = results["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|i| i["status"] == expect));
        if status != 200 || !all_as_expected {
            return Err(format!(
                "orders {b}: {status}, not all {expect}: {}",
                &text[..text.len().min(300)]
            ));
        }
    }
    Ok(times)
}

fn report(what: &str, items: u32, times: Vec<Duration>, wall: Duration) {
    let summary = Summary::of("batch", 1, times, wall);
    println!(
        "{what}: {items} orders, {:.2} s, {:.0} items/s; per batch p50 {:.0} ms, max {:.0} ms.",
        wall.as_secs_f64(),
        f64::from(items) / wall.as_secs_f64(),
        summary.p50,
        summary.max
    );
}

/// The orders phase (see the module comment) on a database that holds the
/// cards `ERP-0000000` … of the import.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    customers: u32,
    orders: u32,
    batch: u32,
) -> BenchResult<()> {
    if orders == 0 {
        return Ok(());
    }
    let cards = (customers / 100).max(1);
    let count = orders.div_ceil(batch);
    let size = |b: u32| batch.min(orders - b * batch);
    println!(
        "### Order sync: {orders} orders over {cards} cards in batches of {batch} (`POST /transactions/bulk`)"
    );
    println!();
    for (what, bump, every, expect) in [
        ("New orders", 0, 1, "created"),
        ("The same again (all `unchanged`)", 0, 1, "unchanged"),
        (
            "Corrections, every 10th batch (all `updated`)",
            1,
            10,
            "updated",
        ),
    ] {
        let chosen = (0..count).filter(|b| b % every == 0);
        let items: u32 = chosen.clone().map(size).sum();
        let bodies = chosen.map(|b| (b, body(b * batch, size(b), cards, bump)));
        let started = Instant::now();
        let times = send(runtime, http, base, token, bodies, expect)?;
        report(what, items, times, started.elapsed());
        println!();
    }
    Ok(())
}
