//! `GET /metrics` in Prometheus text format: request counts and latency
//! histograms by route pattern and status (actix-web-prom), the database
//! pool: size, idle connections, and how long requests wait for a
//! connection, the other waits that ran out (the turn to write, a report
//! slot), and on PostgreSQL how many card reads shared a statement.

use std::sync::LazyLock;

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::db::DbPool;

/// Seconds a database call waited for a pooled connection, from the call:
/// its wait for a thread included (observed by `Db::run` and `Db::lookup`).
pub static POOL_WAIT: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::with_opts(
        HistogramOpts::new(
            "patron_db_pool_wait_seconds",
            "Time spent waiting for a database connection",
        )
        .buckets(vec![
            0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
        ]),
    )
    .unwrap_or_else(|_| {
        Histogram::with_opts(HistogramOpts::new("patron_db_pool_wait_fallback", "unused"))
            .unwrap_or_else(|e| panic!("{e}"))
    })
});

/// Checkouts that timed out (the request got a 503).
pub static POOL_TIMEOUTS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "patron_db_pool_timeouts_total",
        "Connection checkouts that timed out",
    )
});

/// Waits for something other than a pooled connection that ran out (the
/// request got a 503 "database is busy"), by what was waited for: `write`
/// (the turn to write: SQLite's one writer, a grouped write no group took),
/// `report` (a report slot), `card_read` (PostgreSQL's card-read queue was
/// full). Without it, those 503s showed nowhere but in the status counts.
pub static QUEUE_TIMEOUTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "patron_db_queue_timeouts_total",
            "Waits for the turn to write, a report slot or the card-read queue that ran out",
        ),
        &["queue"],
    )
    .unwrap_or_else(|e| panic!("patron_db_queue_timeouts_total: {e}"))
});

/// The queues `QUEUE_TIMEOUTS` counts, each shown from the first scrape.
pub const QUEUES: [&str; 3] = ["write", "report", "card_read"];

/// Counts a wait on `queue` (one of `QUEUES`) that ran out.
pub fn queue_timed_out(queue: &str) {
    QUEUE_TIMEOUTS.with_label_values(&[queue]).inc();
}

/// Request latency bounds, in seconds: a card read takes well under a
/// millisecond and the targets are 2–5 ms p99, so the library's default
/// (5 ms to 10 s) put every read in its first bucket; reports wait up to
/// 30 s for a slot and a CSV export runs for minutes.
const LATENCY_BUCKETS: [f64; 17] = [
    0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 120.0,
];

/// Card reads queued to share a statement (PostgreSQL, `db::card_reads`).
pub static CARD_READS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "patron_db_card_reads_total",
        "Card reads queued to share a statement (PostgreSQL)",
    )
});

/// The statements those reads took: reads ÷ statements is the batch size.
pub static CARD_READ_STATEMENTS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "patron_db_card_read_statements_total",
        "Statements that read the queued cards (PostgreSQL)",
    )
});

/// A counter with a constant, valid name: `with_opts` fails only on an
/// invalid name, a bug that shows at the first scrape of any test.
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Reads the pool's state at each scrape.
struct PoolCollector {
    pool: DbPool,
    size: IntGauge,
    idle: IntGauge,
    max: IntGauge,
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        [&self.size, &self.idle, &self.max]
            .into_iter()
            .flat_map(|g| g.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let state = self.pool.state();
        self.size.set(i64::from(state.connections));
        self.idle.set(i64::from(state.idle_connections));
        self.max.set(i64::from(self.pool.max_size()));
        [&self.size, &self.idle, &self.max]
            .into_iter()
            .flat_map(|g| g.collect())
            .collect()
    }
}

fn gauge(name: &str, help: &str) -> Result<IntGauge, String> {
    IntGauge::with_opts(Opts::new(name, help)).map_err(|e| e.to_string())
}

/// The metrics middleware (it also answers `GET /metrics`).
pub fn build(pool: &DbPool) -> Result<PrometheusMetrics, String> {
    let registry = Registry::new();
    let pool_collector = PoolCollector {
        pool: pool.clone(),
        size: gauge("patron_db_pool_connections", "Open database connections")?,
        idle: gauge(
            "patron_db_pool_idle_connections",
            "Idle database connections",
        )?,
        max: gauge(
            "patron_db_pool_max_connections",
            "Configured maximum of database connections",
        )?,
    };
    registry
        .register(Box::new(pool_collector))
        .map_err(|e| e.to_string())?;
    registry
        .register(Box::new(POOL_WAIT.clone()))
        .map_err(|e| e.to_string())?;
    for counter in [&*POOL_TIMEOUTS, &*CARD_READS, &*CARD_READ_STATEMENTS] {
        registry
            .register(Box::new(counter.clone()))
            .map_err(|e| e.to_string())?;
    }
    for queue in QUEUES {
        QUEUE_TIMEOUTS.with_label_values(&[queue]);
    }
    registry
        .register(Box::new(QUEUE_TIMEOUTS.clone()))
        .map_err(|e| e.to_string())?;
    PrometheusMetricsBuilder::new("patron")
        .registry(registry)
        .buckets(&LATENCY_BUCKETS)
        .endpoint("/metrics")
        // A request no route matched is labelled with this, not its path:
        // every made-up path was a series of its own, without limit.
        .mask_unmatched_patterns("unmatched")
        .build()
        .map_err(|e| e.to_string())
}
