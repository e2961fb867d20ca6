//! `bench pyramid`: issue #4's targets on a seeded database (1M customers,
//! 10M transactions): the tier recompute, the CPR recompute and segment
//! rules, through the real HTTP stack.
//!
//! The tier and CPR results are first put back to their defaults (what a
//! freshly loaded database has), so the first recompute changes nearly
//! every customer and the second changes nothing; a reused database gives
//! the same figures as a fresh one. The app's start-up job runs a CPR
//! recompute too: it is waited for (and its time reported) before the
//! results are reset again and measured.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use patron::db::{self, tiers, Db, DbConn};
use patron::domain::tiers::TierSettings;
use serde_json::{json, Value};

use crate::args::Args;
use crate::client::Client;
use crate::latency::Summary;
use crate::scenarios::settle;
use crate::server::{Running, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::BenchResult;

/// Requests per rule before measuring (fills the caches).
const WARM_UP: usize = 5;
/// Segments this bench creates are named with this prefix (and removed by
/// the next run's reset).
const PREFIX: &str = "bench: ";

/// The measured segment rules: three conditions each, from very selective
/// to broad.
fn rules() -> Vec<(&'static str, Value)> {
    vec![
        (
            "selective: Hangzhou, important, no contact for 90 days",
            json!({"all": [
                {"field": "region", "op": "eq", "value": "Hangzhou"},
                {"field": "tier", "op": "eq", "value": "important"},
                {"field": "last_contact_at", "op": "lt", "value": "-90d"}
            ]}),
        ),
        (
            "rare: important, in conversion, Xiamen",
            json!({"all": [
                {"field": "tier", "op": "eq", "value": "important"},
                {"field": "cpr_stage", "op": "eq", "value": "conversion"},
                {"field": "region", "op": "eq", "value": "Xiamen"}
            ]}),
        ),
        (
            "medium: penetration, share < 0.5, tagged vip",
            json!({"all": [
                {"field": "cpr_stage", "op": "eq", "value": "penetration"},
                {"field": "share_of_wallet", "op": "lt", "value": 0.5},
                {"field": "tags", "op": "contains", "value": "vip"}
            ]}),
        ),
        (
            "medium: Shanghai or Beijing, not small, lifetime profit ≥ 10,000",
            json!({"all": [
                {"any": [
                    {"field": "region", "op": "eq", "value": "Shanghai"},
                    {"field": "region", "op": "eq", "value": "Beijing"}
                ]},
                {"not": {"field": "tier", "op": "eq", "value": "small"}},
                {"field": "lifetime_profit_cents", "op": "gte", "value": 1_000_000}
            ]}),
        ),
        (
            "broad: ≥ 2 purchases, revenue in 12 months, ordinary/won/key",
            json!({"all": [
                {"field": "purchase_count", "op": "gte", "value": 2},
                {"field": "revenue_12m_cents", "op": "gt", "value": 0},
                {"field": "funnel_stage", "op": "in", "value": ["ordinary", "won", "key"]}
            ]}),
        ),
    ]
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

fn number(conn: &mut DbConn, sql: &str) -> BenchResult<i64> {
    diesel::sql_query(sql)
        .get_result::<Number>(conn)
        .map(|r| r.n.unwrap_or(0))
        .map_err(|e| format!("{sql}: {e}"))
}

/// Puts tiers (and, with `cpr`, CPR stages) back to their defaults and
/// removes their events and this bench's segments. Returns the seconds.
fn reset(conn: &mut DbConn, cpr: bool) -> BenchResult<f64> {
    let start = Instant::now();
    let mut sql = String::from(
        "DELETE FROM customer_events WHERE kind = 'tier_changed';
         DELETE FROM customer_tiers;
         UPDATE customers SET tier_profit_cents = 0 WHERE tier_profit_cents <> 0;",
    );
    if cpr {
        sql.push_str(
            "DELETE FROM customer_events WHERE kind = 'cpr_stage_changed';
             UPDATE customers SET cpr_stage = 'not_started', cpr_since = NULL, \
               share_of_wallet = NULL, cpr_revenue_window_cents = 0, \
               cpr_pinned = FALSE, cpr_pin_reason = NULL \
             WHERE cpr_stage <> 'not_started' OR cpr_revenue_window_cents <> 0 \
               OR share_of_wallet IS NOT NULL OR cpr_pinned;",
        );
    }
    sql.push_str(&format!(
        "DELETE FROM segments WHERE name LIKE '{PREFIX}%' AND kind = 'dynamic';"
    ));
    // The start-up recompute the bench waits for runs only when no round
    // is recent (`scenarios::forget_rounds`).
    sql.push_str("DELETE FROM job_rounds;");
    db::write_tx(conn, |c| c.batch_execute(&sql)).map_err(|e| format!("reset: {e}"))?;
    // The mass update leaves dead rows; autovacuum would clean them on a
    // live server before long.
    if let DbConn::Postgresql(_) = conn {
        // One statement per call: VACUUM cannot run inside a transaction.
        for table in ["customers", "customer_events"] {
            conn.batch_execute(&format!("VACUUM ANALYZE {table}"))
                .map_err(|e| format!("vacuum: {e}"))?;
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Waits for the start-up job's CPR recompute, which follows a reset: it is
/// done when no customer with a purchase is left `not_started` (it walks the
/// ids in order).
fn wait_for_startup(conn: &mut DbConn) -> BenchResult<Duration> {
    let start = Instant::now();
    // The recompute walks the ids in order: the first card still pending
    // moves on while it works. A job that failed (its warning goes to
    // stderr, e.g. "database is locked") never moves it again.
    let mut first_pending = -1;
    let mut moved_at = Instant::now();
    loop {
        let pending = number(
            conn,
            "SELECT COALESCE(MIN(id), 0) AS n FROM (SELECT id FROM customers \
             WHERE cpr_stage = 'not_started' AND purchase_count > 0 ORDER BY id LIMIT 1) x",
        )?;
        if pending == 0 {
            break;
        }
        if pending != first_pending {
            first_pending = pending;
            moved_at = Instant::now();
        } else if moved_at.elapsed() > Duration::from_secs(300) {
            return Err(format!(
                "the start-up CPR recompute made no progress for 5 minutes (still at customer \
                 {pending}); did the job fail? (its warning is above)"
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    settle(conn)?;
    Ok(start.elapsed())
}

fn json_of(resp: &crate::client::Response, what: &str) -> BenchResult<Value> {
    if !(200..300).contains(&resp.status) {
        return Err(format!(
            "{what}: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ));
    }
    serde_json::from_slice(&resp.body).map_err(|e| format!("{what}: {e}"))
}

/// One timed POST; returns (seconds, response body).
fn timed_post(
    client: &mut Client,
    path: &str,
    body: &str,
    token: &str,
) -> BenchResult<(f64, Value)> {
    let start = Instant::now();
    let resp = client.send_json("POST", path, body, token)?;
    let secs = start.elapsed().as_secs_f64();
    Ok((secs, json_of(&resp, path)?))
}

/// `n` timed requests after `WARM_UP`; `send` returns the response body.
fn sample(
    name: &str,
    n: usize,
    mut send: impl FnMut() -> BenchResult<Value>,
) -> BenchResult<(Summary, Value)> {
    let mut last = Value::Null;
    for _ in 0..WARM_UP {
        last = send()?;
    }
    let mut samples = Vec::with_capacity(n);
    let wall = Instant::now();
    for _ in 0..n {
        let start = Instant::now();
        last = send()?;
        samples.push(start.elapsed());
    }
    Ok((Summary::of(name, 1, samples, wall.elapsed()), last))
}

struct Recompute {
    what: &'static str,
    secs: f64,
    detail: String,
}

pub fn run(args: &Args) -> BenchResult<()> {
    let url = args.string("database-url")?;
    let requests: usize = args.number("requests", 50)?;
    let backend = if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let db = Db::connect(&url, 1)?;
    let mut pooled = db.pool().get().map_err(|e| e.to_string())?;
    let conn: &mut DbConn = &mut pooled;
    let customers = number(conn, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM customers")?;
    let transactions = number(
        conn,
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM transactions",
    )?;
    let wallets = number(
        conn,
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM customers WHERE wallet_size_cents IS NOT NULL",
    )?;
    let buyers = number(
        conn,
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM customers WHERE purchase_count > 0",
    )?;

    eprintln!("resetting tiers and CPR stages …");
    reset(conn, true)?;
    eprintln!("starting Patron on {backend} (its start-up job recomputes CPR) …");
    let running = Running::start(&url, "127.0.0.1:0")?;
    let startup = wait_for_startup(conn)?;
    eprintln!("start-up jobs done after {:.1} s", startup.as_secs_f64());
    let token = running.login(ADMIN_EMAIL, ADMIN_PASSWORD)?;
    let reset_secs = reset(conn, true)?;
    // Connect after the reset: actix answers 408 to a connection that
    // sends nothing for 5 s.
    let mut client = Client::connect(running.addr)?;
    let mut recomputes = Vec::new();
    for (what, path) in [
        ("tier recompute, first run", "/api/v1/tiers/recompute"),
        ("tier recompute, second run", "/api/v1/tiers/recompute"),
    ] {
        eprint!("  {what} … ");
        let (secs, body) = timed_post(&mut client, path, "", &token)?;
        eprintln!("{secs:.2} s");
        recomputes.push(Recompute {
            what,
            secs,
            detail: format!(
                "{} customers ranked, {} tiers changed",
                body["customers"], body["changed"]
            ),
        });
    }
    for what in ["CPR recompute, first run", "CPR recompute, second run"] {
        eprint!("  {what} … ");
        let (secs, body) = timed_post(&mut client, "/api/v1/cpr/recompute", "", &token)?;
        eprintln!("{secs:.2} s");
        recomputes.push(Recompute {
            what,
            secs,
            detail: format!("{} stages changed", body["changed"]),
        });
    }
    let (pyramid, body) = sample("GET /tiers", requests.min(20), || {
        json_of(&client.get("/api/v1/tiers", &token)?, "GET /tiers")
    })?;
    let tiers_view = body["tiers"].clone();
    let pareto = body["pareto_top20_share"].clone();

    // The function behind the endpoint, without HTTP nor the pyramid totals.
    reset(conn, false)?;
    let settings = TierSettings::default();
    for what in [
        "`tiers::recompute` alone, first run",
        "`tiers::recompute` alone, second run",
    ] {
        let start = Instant::now();
        // The window move the endpoint makes first (without its CPR follow-up).
        let now = db::now();
        db::stats::refresh_windows(conn, now).map_err(|e| format!("window move: {e}"))?;
        let done =
            tiers::recompute(conn, &settings, now).map_err(|e| format!("tiers::recompute: {e}"))?;
        let secs = start.elapsed().as_secs_f64();
        eprintln!("  {what}: {secs:.2} s");
        recomputes.push(Recompute {
            what,
            secs,
            detail: format!("{} tiers changed", done.changed),
        });
    }

    // The recomputes rewrote a fifth of the cards' tiers and most CPR
    // stages: statistics taken before them describe another database. A
    // live PostgreSQL has autovacuum for this (which would otherwise run in
    // the middle of the measurements); Patron re-analyzes a SQLite
    // database itself after such a recompute (`db::statistics`), so there
    // this only repeats it unbounded. Timed and reported.
    let start = Instant::now();
    conn.batch_execute(match conn {
        DbConn::Postgresql(_) => "VACUUM ANALYZE customers",
        DbConn::Sqlite(_) => "ANALYZE customers",
    })
    .map_err(|e| format!("analyze: {e}"))?;
    let analyze_secs = start.elapsed().as_secs_f64();
    eprintln!("  analyze customers before the segment rules: {analyze_secs:.1} s");

    let mut client = Client::connect(running.addr)?;
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    for (name, rule) in rules() {
        let body = json!({ "rule": rule }).to_string();
        eprint!("  preview {name} … ");
        let (summary, last) = sample(&format!("preview: {name}"), requests, || {
            json_of(
                &client.send_json("POST", "/api/v1/segments/preview", &body, &token)?,
                "preview",
            )
        })?;
        eprintln!("p50 {:.1} ms, p95 {:.1} ms", summary.p50, summary.p95);
        rows.push(summary);
        counts.push((name, last["count"].clone()));

        let create =
            json!({"name": format!("{PREFIX}{name}"), "kind": "dynamic", "rule": rule}).to_string();
        let created = json_of(
            &client.send_json("POST", "/api/v1/segments", &create, &token)?,
            "create segment",
        )?;
        let id = created["id"]
            .as_i64()
            .ok_or_else(|| format!("create segment: no id in {created}"))?;
        let path = format!("/api/v1/segments/{id}/members");
        eprint!("  members {name} … ");
        let (summary, _) = sample(&format!("members, first page: {name}"), requests, || {
            json_of(&client.get(&path, &token)?, "members")
        })?;
        eprintln!("p50 {:.1} ms, p95 {:.1} ms", summary.p50, summary.p95);
        rows.push(summary);
    }
    let (workers, pool_size) = (running.workers, running.pool_size);
    drop(client);
    running.stop();

    println!("### Pyramid, CPR and segments on {backend}");
    println!();
    println!(
        "{customers} customers ({buyers} with purchases, {wallets} with a wallet size), \
         {transactions} transactions. Patron in-process ({workers} HTTP workers, pool of \
         {pool_size}), one keep-alive client on the same machine. Tier and CPR results were \
         reset to their defaults first ({reset_secs:.1} s), so the first run changes nearly \
         every customer and the second changes none. The app's start-up jobs (12-month window \
         refresh and a CPR recompute from the defaults) took {:.1} s before the measurements. \
         The customers were analyzed after the recomputes, before the segment rules \
         ({analyze_secs:.1} s).",
        startup.as_secs_f64()
    );
    println!();
    println!("| recompute | seconds | result |");
    println!("|---|---:|---|");
    for r in &recomputes {
        println!("| {} | {:.2} | {} |", r.what, r.secs, r.detail);
    }
    println!();
    println!(
        "Pyramid after the recompute: {}; top 20 % share of profit {pareto}.",
        tiers_view
            .as_array()
            .map(|a| a
                .iter()
                .map(|t| format!("{} {}", t["tier"].as_str().unwrap_or("?"), t["customers"]))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    println!();
    println!(
        "Segment rules ({requests} requests each after {WARM_UP} of warm-up; the preview \
         counts and sums the members and returns the first 50):"
    );
    println!();
    println!("| rule | members |");
    println!("|---|---:|");
    for (name, count) in &counts {
        println!("| {name} | {count} |");
    }
    println!();
    println!("{}", Summary::HEADER);
    println!("{}", pyramid.row());
    for r in &rows {
        println!("{}", r.row());
    }
    Ok(())
}
