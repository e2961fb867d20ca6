//! `bench activity`: the latency of a customer's timeline and of the due
//! follow-ups, measured through the real HTTP stack against a seeded
//! database.
//!
//! Every scenario is a stream of independent GETs: the cursors of the
//! "next page" scenarios are collected beforehand by walking the pages once
//! (a keyset cursor stays valid), so a scenario runs the same with one
//! client or many.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use patron::db::{Db, DbConn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::args::Args;
use crate::client::Client;
use crate::latency::Summary;
use crate::server::{Running, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::BenchResult;

/// Customers with the most activity, used as whales.
const WHALES: i64 = 10;
/// Timeline pages from this one on count as deep (50 rows a page).
const DEEP_PAGE: usize = 100;
/// At most this many pages are walked per list when collecting cursors.
const MAX_WALK: usize = 400;
/// Requests per scenario before measuring (discarded).
const WARM_UP: usize = 100;

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
}

fn pairs(conn: &mut DbConn, sql: &str) -> BenchResult<Vec<(i64, i64)>> {
    let rows: Vec<Pair> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
        DbConn::Postgresql(c) => diesel::sql_query(sql).load(c),
    }
    .map_err(|e| format!("{sql}: {e}"))?;
    Ok(rows.into_iter().map(|p| (p.a, p.b)).collect())
}

/// What the seeded database holds.
struct Facts {
    customers: i64,
    interactions: i64,
    transactions: i64,
    /// (customer id, interactions + transactions), biggest first.
    whales: Vec<(i64, i64)>,
    sales_users: Vec<i64>,
}

fn facts(conn: &mut DbConn) -> BenchResult<Facts> {
    let counts = pairs(
        conn,
        "SELECT (SELECT COUNT(*) FROM customers) AS a, (SELECT COUNT(*) FROM interactions) AS b",
    )?;
    let more = pairs(
        conn,
        "SELECT (SELECT COUNT(*) FROM transactions) AS a, (SELECT COUNT(*) FROM users) AS b",
    )?;
    let whales = pairs(
        conn,
        &format!(
            "SELECT customer_id AS a, COUNT(*) AS b FROM \
             (SELECT customer_id FROM interactions UNION ALL SELECT customer_id FROM transactions) AS u \
             GROUP BY customer_id ORDER BY b DESC, a LIMIT {WHALES}"
        ),
    )?;
    let sales = pairs(
        conn,
        "SELECT id AS a, CAST(0 AS BIGINT) AS b FROM users WHERE role = 'sales' AND active ORDER BY id",
    )?;
    let (customers, interactions) = counts.first().copied().unwrap_or_default();
    if customers == 0 {
        return Err("the database has no customers: run `bench seed` first".into());
    }
    Ok(Facts {
        customers,
        interactions,
        transactions: more.first().map_or(0, |p| p.0),
        whales,
        sales_users: sales.into_iter().map(|p| p.0).collect(),
    })
}

/// Forgets the recompute rounds earlier runs recorded (`db::job_rounds`), so
/// that the Patron a bench starts next runs its start-up round as on a fresh
/// database: a run less than a period after the last would skip it, and the
/// start-up figures (its time, the idle RSS after it) would measure nothing.
pub fn forget_rounds(conn: &mut DbConn) -> BenchResult<()> {
    conn.batch_execute("DELETE FROM job_rounds")
        .map_err(|e| format!("forgetting the recompute rounds: {e}"))
}

/// Waits for the window refresh the app runs at start-up (`jobs::spawn`)
/// so it does not overlap the measurements: takes the write lock that
/// refresh holds, then lets go.
pub fn settle(conn: &mut DbConn) -> BenchResult<Duration> {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let sql = match conn {
        DbConn::Sqlite(_) => "PRAGMA busy_timeout = 600000; BEGIN IMMEDIATE; COMMIT;",
        DbConn::Postgresql(_) => "BEGIN; LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE; COMMIT;",
    };
    conn.batch_execute(sql)
        .map_err(|e| format!("waiting for the start-up refresh: {e}"))?;
    Ok(start.elapsed())
}

/// How a scenario picks its next request.
enum Pick {
    /// The first timeline page of a uniformly random customer id in 1..=n.
    TimelineAny(i64),
    /// The first timeline page of one of these customers.
    TimelineOf(Vec<i64>),
    /// One of these paths (e.g. pages reached by a cursor).
    Paths(Vec<String>),
}

struct Scenario {
    name: String,
    pick: Pick,
}

impl Scenario {
    fn new(name: impl Into<String>, pick: Pick) -> Scenario {
        Scenario {
            name: name.into(),
            pick,
        }
    }

    fn path(&self, rng: &mut StdRng) -> Option<String> {
        match &self.pick {
            Pick::TimelineAny(n) => {
                (*n >= 1).then(|| format!("/api/v1/customers/{}/timeline", rng.gen_range(1..=*n)))
            }
            Pick::TimelineOf(ids) => (!ids.is_empty()).then(|| {
                format!(
                    "/api/v1/customers/{}/timeline",
                    ids[rng.gen_range(0..ids.len())]
                )
            }),
            Pick::Paths(paths) => {
                (!paths.is_empty()).then(|| paths[rng.gen_range(0..paths.len())].clone())
            }
        }
    }

    fn is_empty(&self) -> bool {
        match &self.pick {
            Pick::TimelineAny(n) => *n < 1,
            Pick::TimelineOf(v) => v.is_empty(),
            Pick::Paths(v) => v.is_empty(),
        }
    }
}

fn get_ok(client: &mut Client, path: &str, token: &str) -> BenchResult<serde_json::Value> {
    let resp = client.get(path, token)?;
    if resp.status != 200 {
        return Err(format!(
            "GET {path}: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ));
    }
    serde_json::from_slice(&resp.body).map_err(|e| format!("GET {path}: bad JSON: {e}"))
}

fn with_cursor(base: &str, cursor: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}cursor={cursor}")
}

/// Walks the pages of `base` (at most `MAX_WALK`) and returns the path of
/// every page after the first, in order.
fn walk(client: &mut Client, base: &str, token: &str) -> BenchResult<Vec<String>> {
    let mut pages = Vec::new();
    let mut path = base.to_string();
    while pages.len() < MAX_WALK {
        let json = get_ok(client, &path, token)?;
        if json["items"].as_array().is_none_or(|a| a.is_empty()) {
            return Err(format!("GET {path}: an empty page"));
        }
        match json["next_cursor"].as_str() {
            Some(cursor) => {
                path = with_cursor(base, cursor);
                pages.push(path.clone());
            }
            None => break,
        }
    }
    Ok(pages)
}

/// Runs `requests` requests of `scenario` split over `clients` connections.
fn measure(
    addr: SocketAddr,
    token: &str,
    scenario: &Scenario,
    clients: usize,
    requests: usize,
    seed: u64,
) -> BenchResult<Summary> {
    let clients = clients.max(1);
    let per_client = requests.div_ceil(clients);
    let start = Instant::now();
    let results: Vec<BenchResult<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(k as u64));
                    let mut client = Client::connect(addr)?;
                    let mut samples = Vec::with_capacity(per_client);
                    for _ in 0..per_client {
                        let Some(path) = scenario.path(&mut rng) else {
                            break;
                        };
                        let t = Instant::now();
                        let resp = client.get(&path, token)?;
                        samples.push(t.elapsed());
                        if resp.status != 200 {
                            return Err(format!(
                                "GET {path}: {} {}",
                                resp.status,
                                String::from_utf8_lossy(&resp.body)
                            ));
                        }
                    }
                    Ok(samples)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    let wall = start.elapsed();
    let mut samples = Vec::with_capacity(requests);
    for r in results {
        samples.extend(r?);
    }
    Ok(Summary::of(&scenario.name, clients, samples, wall))
}

/// The scenarios, with the cursors they need collected by walking the
/// pages once.
fn scenarios(
    client: &mut Client,
    token: &str,
    facts: &Facts,
    due_all: &str,
) -> BenchResult<Vec<Scenario>> {
    let whale_ids: Vec<i64> = facts.whales.iter().map(|w| w.0).collect();
    let (mut shallow, mut deep) = (Vec::new(), Vec::new());
    for id in &whale_ids {
        let pages = walk(client, &format!("/api/v1/customers/{id}/timeline"), token)?;
        // pages[0] is page 2.
        for (k, path) in pages.into_iter().enumerate() {
            let page = k + 2;
            if page <= 10 {
                shallow.push(path);
            } else if page >= DEEP_PAGE {
                deep.push(path);
            }
        }
    }
    let due_pages = walk(client, due_all, token)?;
    let due_depth = due_pages.len() + 1;
    let mut user_firsts = Vec::new();
    let mut user_pages = Vec::new();
    for u in &facts.sales_users {
        let base = format!("{due_all}&user_id={u}");
        user_pages.extend(walk(client, &base, token)?);
        user_firsts.push(base);
    }
    Ok(vec![
        Scenario::new(
            "timeline, first page, random customer",
            Pick::TimelineAny(facts.customers),
        ),
        Scenario::new(
            format!("timeline, first page, whale (top {WHALES})"),
            Pick::TimelineOf(whale_ids),
        ),
        Scenario::new(
            "timeline, whale, next page by cursor (pages 2–10)",
            Pick::Paths(shallow),
        ),
        Scenario::new(
            format!("timeline, whale, deep page by cursor (pages {DEEP_PAGE}–{MAX_WALK})"),
            Pick::Paths(deep),
        ),
        Scenario::new(
            "due follow-ups, all users, first page",
            Pick::Paths(vec![due_all.to_string()]),
        ),
        Scenario::new(
            format!("due follow-ups, all users, next pages (2–{due_depth})"),
            Pick::Paths(due_pages),
        ),
        Scenario::new(
            "due follow-ups, one sales user, first page",
            Pick::Paths(user_firsts),
        ),
        Scenario::new(
            "due follow-ups, one sales user, next pages",
            Pick::Paths(user_pages),
        ),
    ])
}

pub fn activity(args: &Args) -> BenchResult<()> {
    let url = args.string("database-url")?;
    let requests: usize = args.number("requests", 1_000)?;
    let clients: Vec<usize> = args.numbers("clients", &[1, 4])?;
    let seed: u64 = args.number("seed", 42)?;
    let backend = if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };

    let db = Db::connect(&url, 1)?;
    let mut conn = db.pool().get().map_err(|e| e.to_string())?;
    let facts = facts(&mut conn)?;

    eprintln!("starting Patron on {backend} …");
    forget_rounds(&mut conn)?;
    let running = Running::start(&url, "127.0.0.1:0")?;
    let settled = settle(&mut conn)?;
    drop(conn);
    eprintln!(
        "start-up window refresh done after {:.1} s",
        settled.as_secs_f64()
    );
    let token = running.login(ADMIN_EMAIL, ADMIN_PASSWORD)?;

    // The due list as of now: what a rep opens in the morning.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let due_all = format!("/api/v1/interactions?follow_up_before={now}");
    eprintln!("collecting cursors …");
    let list = {
        let mut client = Client::connect(running.addr)?;
        scenarios(&mut client, &token, &facts, &due_all)?
    };

    eprintln!("warming up …");
    for s in list.iter().filter(|s| !s.is_empty()) {
        measure(running.addr, &token, s, 1, WARM_UP, seed)?;
    }
    let mut rows = Vec::new();
    for &c in &clients {
        for s in list.iter().filter(|s| !s.is_empty()) {
            eprint!("  {} × {c} … ", s.name);
            let summary = measure(running.addr, &token, s, c, requests, seed)?;
            eprintln!("p50 {:.2} ms, p99 {:.2} ms", summary.p50, summary.p99);
            rows.push(summary);
        }
    }
    let (workers, pool_size) = (running.workers, running.pool_size);
    running.stop();

    println!("### Activity on {backend}");
    println!();
    println!(
        "{} customers, {} interactions, {} transactions. Whales (customer: interactions + \
         transactions): {}.",
        facts.customers,
        facts.interactions,
        facts.transactions,
        facts
            .whales
            .iter()
            .map(|(id, n)| format!("#{id}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!(
        "Patron in-process ({workers} HTTP workers, pool of {pool_size}); the clients run on the \
         same machine (HTTP/1.1 keep-alive, one connection each); {requests} requests per row \
         after {WARM_UP} of warm-up; pages of 50 (the default). The start-up window refresh \
         finished {:.1} s after start, before the measurements.",
        settled.as_secs_f64()
    );
    println!();
    println!("{}", Summary::HEADER);
    for r in &rows {
        println!("{}", r.row());
    }
    Ok(())
}
