//! The only place that reads the environment (see the README's table).

use std::env;
use std::fmt::Display;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;

use ipnet::IpNet;
use rand::distributions::{Alphanumeric, DistString};

use crate::db::{Backend, SqliteLocking};

/// `PATRON_ADMIN_EMAIL` when it is not set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: String,
    pub jwt_secret: String,
    /// True when no secret was configured: tokens die with the process.
    pub jwt_secret_generated: bool,
    pub admin_email: String,
    /// None: generate one when the first admin is created, and print it.
    pub admin_password: Option<String>,
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client (`http::client_address`);
    /// empty: the TCP peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    pub token_ttl_secs: i64,
    pub workers: usize,
    pub pool_size: u32,
    /// Threads of SQLite's lookup lane (`db::lookups`); 0: none.
    pub sqlite_lookup_threads: usize,
    /// Card reads in one statement at most at once on PostgreSQL
    /// (`db::card_reads`); 0: each card in a statement of its own.
    pub pg_card_readers: usize,
    /// How long a request waits for a database connection before its 503.
    pub db_timeout_secs: u64,
    /// Failed logins allowed per email from one client address in
    /// `login_window_secs` (×20 per email from all, ×4 per client address).
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    /// Successful logins allowed per email (×4 per client address) in a
    /// minute; 0: unlimited.
    pub login_max_per_min: u32,
    /// How often the 12-month window figures are moved forward.
    pub stats_refresh_secs: u64,
    /// Days the change feed keeps a change; older cursors answer 410.
    pub changes_retention_days: i64,
    /// How often changes older than the retention are purged.
    pub changes_purge_secs: u64,
    /// After a scheduled job failed (e.g. the database was locked or down),
    /// the next try comes this soon instead of a whole period later.
    pub job_retry_secs: u64,
    /// How often the webhook worker looks for work; 0: this process runs no
    /// delivery worker.
    pub webhook_poll_ms: u64,
    /// Time a receiver has to answer one delivery.
    pub webhook_timeout_secs: u64,
    /// First retry delay; it doubles with each consecutive failure.
    pub webhook_backoff_base_ms: u64,
    /// The retry delay never grows beyond this.
    pub webhook_backoff_max_secs: u64,
    /// Consecutive failures after which a subscription is disabled.
    pub webhook_max_failures: i64,
    /// How long a process owns a subscription's delivery once it claimed it.
    pub webhook_lease_secs: u64,
    /// Private networks webhooks may deliver to besides public addresses
    /// (`domain::webhooks::address_allowed`); empty: public addresses only.
    pub webhook_allowed_networks: Vec<IpNet>,
    /// Requests per minute per user (0: unlimited).
    pub rate_limit_per_min: u32,
    /// Requests per minute per user with the `integration` role (0: unlimited).
    pub rate_limit_integration_per_min: u32,
    /// How long idempotency keys (and their stored responses) are kept.
    pub idempotency_ttl_secs: u64,
    /// How long an authenticated request's user check is remembered (0: off).
    /// Changes made through this process void it at once.
    pub auth_cache_ms: u64,
    /// From this many customer ids on, a segment preview on SQLite counts its
    /// members in parallel id ranges (PostgreSQL parallelizes by itself).
    pub segment_split_from: i64,
    /// Whether other processes may open the SQLite file while Patron runs.
    pub sqlite_locking: SqliteLocking,
}

impl Config {
    /// Every number read here has a range (README's configuration table):
    /// a value outside it stops the start, naming the variable, the value
    /// and the range (`ranged`).
    pub fn from_env() -> Result<Config, String> {
        let (jwt_secret, jwt_secret_generated) = jwt_secret(raw("PATRON_JWT_SECRET")?)?;
        let database_url = database_url(raw("DATABASE_URL")?)?;
        let workers = ranged("PATRON_WORKERS", default_workers(), 1..=MAX_WORKERS)?;
        // 0 was read as 1 s: the receiver had a second, whatever was meant.
        let webhook_timeout_secs = ranged("PATRON_WEBHOOK_TIMEOUT_SECS", 10, 1..=3600)?;
        Ok(Config {
            pool_size: ranged(
                "PATRON_DB_POOL_SIZE",
                default_pool_size(&database_url, workers),
                1..=500,
            )?,
            sqlite_lookup_threads: ranged(
                "PATRON_SQLITE_LOOKUP_THREADS",
                default_lookup_threads(workers),
                0..=64,
            )?,
            // As few as the lane's threads: fewer readers, larger batches.
            pg_card_readers: ranged(
                "PATRON_PG_CARD_READERS",
                default_lookup_threads(workers),
                0..=64,
            )?,
            database_url,
            bind: var("PATRON_BIND", "127.0.0.1:8080")?,
            jwt_secret,
            jwt_secret_generated,
            admin_email: var("PATRON_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)?,
            admin_password: raw("PATRON_ADMIN_PASSWORD")?.filter(|p| !p.is_empty()),
            cors_origins: cors_origins(&var("PATRON_CORS_ORIGINS", "")?)?,
            trusted_proxies: networks(
                "PATRON_TRUSTED_PROXIES",
                &var("PATRON_TRUSTED_PROXIES", "")?,
            )?,
            // Up to a year: the expiry is the clock plus this.
            token_ttl_secs: ranged("PATRON_TOKEN_TTL_SECS", 3600, 1..=YEAR_SECS)?,
            workers,
            // Up to an hour: the pool's deadline is the clock plus this.
            db_timeout_secs: ranged("PATRON_DB_TIMEOUT_SECS", 5, 1..=3600)?,
            // The throttle cannot be turned off: 0 failures locked an email
            // after its first one, right password included, and a window of
            // 0 s let every guess through. (The rate limits' 0 is "unlimited".)
            // Up to a million: scripts/proof's fuzzer sets 100,000.
            login_max_failures: ranged("PATRON_LOGIN_MAX_FAILURES", 5, 1..=1_000_000)?,
            login_window_secs: ranged("PATRON_LOGIN_WINDOW_SECS", 300, 1..=DAY_SECS)?,
            // Each login is an Argon2 check; 0 (unlimited) as for the rate
            // limits. Up to 1,000: each counted login's instant is kept.
            login_max_per_min: ranged("PATRON_LOGIN_MAX_PER_MIN", 30, 0..=1000)?,
            // Periods and delays: 0 was read as 1 s.
            stats_refresh_secs: ranged("PATRON_STATS_REFRESH_SECS", 3600, 1..=DAY_SECS)?,
            // 0 kept nothing: every purge emptied the feed (cursors 410, webhooks
            // disabled); it reads like "keep forever", which there is not.
            changes_retention_days: ranged("PATRON_CHANGES_RETENTION_DAYS", 30, 1..=3650)?,
            changes_purge_secs: ranged("PATRON_CHANGES_PURGE_SECS", 3600, 1..=DAY_SECS)?,
            job_retry_secs: ranged("PATRON_JOB_RETRY_SECS", 60, 1..=3600)?,
            // 0: this process runs no delivery worker.
            webhook_poll_ms: ranged("PATRON_WEBHOOK_POLL_MS", 1000, 0..=60_000)?,
            webhook_timeout_secs,
            // 0 was read as 1 (ms, failure).
            webhook_backoff_base_ms: ranged("PATRON_WEBHOOK_BACKOFF_BASE_MS", 1000, 1..=3_600_000)?,
            webhook_backoff_max_secs: ranged(
                "PATRON_WEBHOOK_BACKOFF_MAX_SECS",
                3600,
                1..=DAY_SECS,
            )?,
            webhook_max_failures: ranged("PATRON_WEBHOOK_MAX_FAILURES", 10, 1..=1000)?,
            webhook_lease_secs: webhook_lease_secs(webhook_timeout_secs)?,
            webhook_allowed_networks: networks(
                "PATRON_WEBHOOK_ALLOWED_NETWORKS",
                &var("PATRON_WEBHOOK_ALLOWED_NETWORKS", "")?,
            )?,
            rate_limit_per_min: ranged("PATRON_RATE_LIMIT_PER_MIN", 1200, 0..=1_000_000)?,
            rate_limit_integration_per_min: ranged(
                "PATRON_RATE_LIMIT_INTEGRATION_PER_MIN",
                12000,
                0..=1_000_000,
            )?,
            // Less than a day was raised to a day without a word.
            idempotency_ttl_secs: ranged(
                "PATRON_IDEMPOTENCY_TTL_SECS",
                DAY_SECS,
                DAY_SECS..=30 * DAY_SECS,
            )?,
            auth_cache_ms: ranged("PATRON_AUTH_CACHE_MS", 1000, 0..=60_000)?,
            segment_split_from: ranged(
                "PATRON_SEGMENT_SPLIT_FROM",
                SEGMENT_SPLIT_FROM,
                1..=1_000_000_000,
            )?,
            sqlite_locking: sqlite_locking(&var("PATRON_SQLITE_LOCKING", "exclusive")?)?,
        })
    }

    /// A configuration for tests and tools: everything explicit, nothing read.
    pub fn for_database(database_url: &str) -> Config {
        Config {
            database_url: database_url.to_string(),
            bind: "127.0.0.1:0".into(),
            jwt_secret: random_string(48),
            jwt_secret_generated: false,
            admin_email: "admin@example.com".into(),
            admin_password: Some(random_string(20)),
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            token_ttl_secs: 3600,
            workers: 1,
            pool_size: 4,
            sqlite_lookup_threads: default_lookup_threads(1),
            pg_card_readers: default_lookup_threads(1),
            db_timeout_secs: 5,
            login_max_failures: 5,
            login_window_secs: 300,
            // Tests log in far more often than people; the limit's own test
            // sets it.
            login_max_per_min: 0,
            stats_refresh_secs: 3600,
            changes_retention_days: 30,
            changes_purge_secs: 3600,
            job_retry_secs: 60,
            webhook_poll_ms: 1000,
            webhook_timeout_secs: 10,
            webhook_backoff_base_ms: 1000,
            webhook_backoff_max_secs: 3600,
            webhook_max_failures: 10,
            webhook_lease_secs: 60,
            // As in production: public addresses only.
            webhook_allowed_networks: Vec::new(),
            // Tests are never throttled unless they ask for it.
            rate_limit_per_min: 0,
            rate_limit_integration_per_min: 0,
            idempotency_ttl_secs: 86_400,
            // As in production: the revocation tests run through the cache.
            auth_cache_ms: 1000,
            segment_split_from: SEGMENT_SPLIT_FROM,
            sqlite_locking: SqliteLocking::Exclusive,
        }
    }
}

/// Below this many ids one query counts a segment as fast as any split.
const SEGMENT_SPLIT_FROM: i64 = 100_000;
const DAY_SECS: u64 = 86_400;
const YEAR_SECS: i64 = 365 * 86_400;
/// HTTP worker threads at most (and the default on a machine with more cores).
const MAX_WORKERS: usize = 256;

/// The variable's value as set (empty included), `None` when unset. A value
/// that is not UTF-8 stops the start, naming the variable: read as unset,
/// it gave the default without a word (a bind address or a secret with a
/// stray Latin-1 byte).
pub(crate) fn raw(name: &str) -> Result<Option<String>, String> {
    match env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(_)) => Err(format!(
            "{name} is not valid UTF-8; set it in UTF-8 or unset it"
        )),
    }
}

pub(crate) fn var(name: &str, default: &str) -> Result<String, String> {
    Ok(raw(name)?
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string()))
}

/// A whole number in `range`, `default` when unset (or empty). A value
/// that parses but cannot work (no worker, a token that has expired when
/// issued) or that overflows where it is used (a lifetime added to the
/// clock, a pool allocated up front: a panic at the first login, an abort
/// at start) is refused at start, with the variable, the value and the
/// range, like a non-number.
fn ranged<T>(name: &str, default: T, range: RangeInclusive<T>) -> Result<T, String>
where
    T: FromStr + PartialOrd + Display,
{
    match raw(name)? {
        Some(v) if !v.is_empty() => in_range(name, &v, &range),
        _ => Ok(default),
    }
}

fn in_range<T>(name: &str, value: &str, range: &RangeInclusive<T>) -> Result<T, String>
where
    T: FromStr + PartialOrd + Display,
{
    let refuse = || {
        format!(
            "{name} must be from {} to {}, got {value}",
            range.start(),
            range.end()
        )
    };
    match value.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        Ok(_) => Err(refuse()),
        // A number all the same: too large for its type, or negative.
        Err(_) if is_whole_number(value) => Err(refuse()),
        Err(_) => Err(format!(
            "{name} must be a whole number from {} to {}, got {value:?}",
            range.start(),
            range.end()
        )),
    }
}

fn is_whole_number(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `PATRON_WEBHOOK_LEASE_SECS`: the lease outlives the longest single
/// delivery several times over, at least 3 × the timeout; unset, 60 s or
/// that. A shorter one was raised to it without a word.
fn webhook_lease_secs(timeout_secs: u64) -> Result<u64, String> {
    let least = timeout_secs.saturating_mul(3);
    ranged("PATRON_WEBHOOK_LEASE_SECS", least.max(60), least..=DAY_SECS)
        .map_err(|e| format!("{e} (at least 3 × PATRON_WEBHOOK_TIMEOUT_SECS)"))
}

/// `PATRON_CORS_ORIGINS`: origins as a browser sends them
/// (`https://crm.example.com`, `http://localhost:5173`). Anything else was
/// a panic of the CORS layer when the server started (`*`, not a URL) or an
/// origin that never matched (a trailing `/`, a path, a port beyond 65535,
/// user info, which no `Origin` header carries). An accepted entry is kept
/// in the form browsers send and the CORS layer compares byte for byte:
/// the host in lower case (IDNA), a default port dropped.
fn cors_origins(value: &str) -> Result<Vec<String>, String> {
    let refuse = |origin: &str, why: &str| {
        Err(format!(
            "PATRON_CORS_ORIGINS: {origin:?} {why}; list origins like https://crm.example.com, comma-separated"
        ))
    };
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if origin == "*" {
            return refuse(origin, "is not supported (any origin)");
        }
        let url = match url::Url::parse(origin) {
            Ok(url) => url,
            Err(e) => return refuse(origin, &format!("is not a URL ({e})")),
        };
        // What follows `scheme://`: the host and port, nothing else.
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        if !matches!(url.scheme(), "http" | "https") || authority.is_none() {
            return refuse(origin, "is not an http(s) origin");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse(
                origin,
                "has user info (user@), which no Origin header carries",
            );
        }
        if authority.is_some_and(|a| a.contains(['/', '\\', '?', '#'])) {
            return refuse(
                origin,
                "has a path (an origin is scheme://host[:port], no trailing /)",
            );
        }
        origins.push(url.origin().ascii_serialization());
    }
    Ok(origins)
}

/// `DATABASE_URL`, or the SQLite file `patron.db` when unset. Empty (or
/// blank) is refused, as for `PATRON_JWT_SECRET`: a deploy template whose
/// PostgreSQL URL was lost on the way (`DATABASE_URL=${PG_URL}`, unset)
/// gave each replica a SQLite file of its own, with a first admin and data
/// of its own, and no error (a review).
fn database_url(value: Option<String>) -> Result<String, String> {
    match value {
        None => Ok("sqlite://patron.db".into()),
        Some(s) if s.trim().is_empty() => Err(
            "DATABASE_URL is empty; set sqlite://PATH or postgres://…, or unset it for sqlite://patron.db"
                .into(),
        ),
        Some(s) => Ok(s),
    }
}

/// `PATRON_JWT_SECRET`, or a random one (true: generated) when unset. At
/// least 32 characters, counted as characters: by bytes, eleven CJK
/// characters passed. Whitespace alone is refused, however long: it is a
/// templating slip, not a key.
fn jwt_secret(value: Option<String>) -> Result<(String, bool), String> {
    match value {
        None => Ok((random_string(48), true)),
        // Empty is refused too, unlike every other setting where it means
        // unset: a secret meant to be set and lost on the way (an empty
        // variable in a deploy template) would otherwise become a random
        // one, and every token would die with the process.
        Some(s) if s.is_empty() => {
            Err("PATRON_JWT_SECRET is empty; set at least 32 characters, or unset it for a random secret per start".into())
        }
        Some(s) if s.trim().is_empty() => {
            Err("PATRON_JWT_SECRET is blank (only whitespace); set at least 32 characters".into())
        }
        Some(s) if s.chars().count() < 32 => Err(format!(
            "PATRON_JWT_SECRET must be at least 32 characters, got {}",
            s.chars().count()
        )),
        Some(s) => Ok((s, false)),
    }
}

/// `PATRON_TRUSTED_PROXIES`, `PATRON_WEBHOOK_ALLOWED_NETWORKS`: addresses
/// (`10.0.0.5`, `2001:db8::7`) and CIDR ranges (`10.0.0.0/8`). A typo here
/// would silently leave the login throttle keyed by the proxy's address,
/// trust the wrong hop, or refuse every delivery to the ERP: refused.
fn networks(name: &str, value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map(ipv4_as_itself)
                .map_err(|_| {
                    format!(
                        "{name}: {entry:?} is not an IP address or a CIDR range; list them like 10.0.0.5, 10.1.0.0/16, comma-separated"
                    )
                })
        })
        .collect()
}

/// An IPv4-mapped range (`::ffff:10.0.0.5`, `::ffff:0:0/96`) as the IPv4
/// range it maps: a peer on such an address is read as its IPv4 address,
/// which the mapped form never matched (a trusted proxy written so was
/// silently ignored: a review).
fn ipv4_as_itself(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .network()
            .to_ipv4_mapped()
            .and_then(|v4| ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(net, IpNet::V4),
        other => other,
    }
}

fn sqlite_locking(value: &str) -> Result<SqliteLocking, String> {
    match value {
        "exclusive" => Ok(SqliteLocking::Exclusive),
        "shared" => Ok(SqliteLocking::Shared),
        other => Err(format!(
            "PATRON_SQLITE_LOCKING must be exclusive or shared, got {other:?}"
        )),
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(MAX_WORKERS)
}

/// Connections per process when `PATRON_DB_POOL_SIZE` is not set.
///
/// PostgreSQL: 10, because a query there waits on the network and the server's
/// own processes. SQLite runs every query on the calling thread, so a connection
/// in use is a busy core: one per HTTP worker plus one (for a job, an export or
/// a writer waiting its turn) reads fastest, and each further connection only adds
/// its page cache (up to 2 MB) and a blocking thread. On 2 cores, 64 connections
/// of card reads: 26,900/s with 10, 32,600/s with 3; 256 connections peaked at
/// 76 MB RSS with 10, 60 MB with 3 (docs/BENCHMARKS.md, #7 session 14).
pub fn default_pool_size(database_url: &str, workers: usize) -> u32 {
    match Backend::of_url(database_url) {
        Some(Backend::Sqlite) => u32::try_from(workers.max(1) + 1).unwrap_or(u32::MAX),
        _ => 10,
    }
}

/// Threads of SQLite's lookup lane when `PATRON_SQLITE_LOOKUP_THREADS` is
/// not set: one per two workers, at least one and at most two. A lookup is
/// CPU in this process; the other cores serve HTTP. On 2 cores one thread
/// read cards 8–20 % faster than two (docs/BENCHMARKS.md, #7 session 24);
/// more than two were not measured, and idle lane threads bring back the
/// wake-up per call the lane exists to avoid.
pub fn default_lookup_threads(workers: usize) -> usize {
    (workers / 2).clamp(1, 2)
}

pub fn random_string(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

#[cfg(test)]
mod tests {
    use super::{
        cors_origins, database_url, default_lookup_threads, default_pool_size, in_range,
        jwt_secret, networks, ranged, sqlite_locking, webhook_lease_secs,
    };
    use ipnet::IpNet;

    fn trusted_proxies(value: &str) -> Result<Vec<IpNet>, String> {
        networks("PATRON_TRUSTED_PROXIES", value)
    }
    use crate::db::SqliteLocking;

    #[test]
    fn cors_origins_are_origins_or_a_config_error() {
        assert_eq!(
            cors_origins(" https://crm.example.com, http://localhost:5173 ,"),
            Ok(vec![
                "https://crm.example.com".to_string(),
                "http://localhost:5173".to_string()
            ])
        );
        assert_eq!(cors_origins(""), Ok(vec![]));
        // As browsers send them, which the CORS layer compares byte for byte.
        assert_eq!(
            cors_origins("https://CRM.Example.com:443,http://[::1]:8080,https://bücher.de"),
            Ok(vec![
                "https://crm.example.com".to_string(),
                "http://[::1]:8080".to_string(),
                "https://xn--bcher-kva.de".to_string(),
            ])
        );
        for bad in [
            "*",
            "not a url",
            "crm.example.com",
            "https://crm.example.com/",
            "https://a.com/app",
            "https://a.com?x=1",
            "https://a.com#top",
            "https://a.com/.",
            "ftp://a.com",
            "https:a.com",
            // Never in an Origin header: a port beyond 65535, user info.
            "https://a.com:99999",
            "https://user@a.com",
            "https://user:secret@a.com",
        ] {
            let error = cors_origins(bad).err().unwrap_or_default();
            assert!(error.starts_with("PATRON_CORS_ORIGINS"), "{bad}: {error}");
        }
    }

    #[test]
    fn an_empty_database_url_is_refused_not_the_default() {
        assert_eq!(database_url(None), Ok("sqlite://patron.db".into()));
        let pg = "postgres://p:p@db:5432/patron".to_string();
        assert_eq!(database_url(Some(pg.clone())), Ok(pg));
        for empty in ["", "  ", "\t"] {
            let error = database_url(Some(empty.into())).err().unwrap_or_default();
            assert!(
                error.starts_with("DATABASE_URL is empty"),
                "{empty:?}: {error}"
            );
        }
    }

    #[test]
    fn the_jwt_secret_has_32_characters_not_bytes_and_is_not_blank() {
        let generated = jwt_secret(None).unwrap_or_default();
        assert!(generated.1 && generated.0.chars().count() >= 32);
        let secret = "k".repeat(32);
        assert_eq!(jwt_secret(Some(secret.clone())), Ok((secret, false)));
        let cjk = "密".repeat(32);
        assert_eq!(jwt_secret(Some(cjk.clone())), Ok((cjk, false)));
        // 33 bytes, 11 characters: passed when bytes were counted.
        assert_eq!(
            jwt_secret(Some("密".repeat(11))),
            Err("PATRON_JWT_SECRET must be at least 32 characters, got 11".into())
        );
        assert_eq!(
            jwt_secret(Some("k".repeat(31))),
            Err("PATRON_JWT_SECRET must be at least 32 characters, got 31".into())
        );
        assert_eq!(
            jwt_secret(Some(String::new())),
            Err("PATRON_JWT_SECRET is empty; set at least 32 characters, or unset it for a random secret per start".into())
        );
        for blank in [" ".repeat(40), "\t\n \u{3000}".repeat(12)] {
            let error = jwt_secret(Some(blank.clone())).err().unwrap_or_default();
            assert!(
                error.starts_with("PATRON_JWT_SECRET is blank"),
                "{blank:?}: {error}"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges_or_a_config_error() {
        let parsed = trusted_proxies(" 10.0.0.5, 10.1.0.0/16 ,2001:db8::/32,::1,")
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert_eq!(
            parsed,
            ["10.0.0.5/32", "10.1.0.0/16", "2001:db8::/32", "::1/128"]
        );
        assert_eq!(trusted_proxies(""), Ok(vec![]));
        for bad in [
            "10.0.0.0/33",
            "proxy.internal",
            "10.0.0",
            "*",
            "10.0.0.1:80",
        ] {
            let error = trusted_proxies(&format!("10.0.0.1,{bad}"))
                .err()
                .unwrap_or_default();
            assert!(
                error.starts_with(&format!("PATRON_TRUSTED_PROXIES: {bad:?} ")),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn webhook_allowed_networks_are_addresses_or_ranges_or_a_config_error() {
        let name = "PATRON_WEBHOOK_ALLOWED_NETWORKS";
        let parsed = networks(name, "10.0.0.0/8, 192.168.7.20,fd00::/8 ,")
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert_eq!(parsed, ["10.0.0.0/8", "192.168.7.20/32", "fd00::/8"]);
        assert_eq!(networks(name, ""), Ok(vec![]));
        let mapped = networks(
            name,
            "::ffff:10.0.0.5, ::ffff:0:0/96, ::ffff:192.168.0.0/112",
        )
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
        assert_eq!(mapped, ["10.0.0.5/32", "0.0.0.0/0", "192.168.0.0/16"]);
        for bad in ["10.0.0.0/33", "erp.internal", "10/8", "*", "[::1]"] {
            let error = networks(name, &format!("10.0.0.0/8,{bad}"))
                .err()
                .unwrap_or_default();
            assert_eq!(
                error,
                format!("{name}: {bad:?} is not an IP address or a CIDR range; list them like 10.0.0.5, 10.1.0.0/16, comma-separated")
            );
        }
    }

    #[test]
    fn sqlite_locking_is_exclusive_or_shared() {
        assert_eq!(sqlite_locking("exclusive"), Ok(SqliteLocking::Exclusive));
        assert_eq!(sqlite_locking("shared"), Ok(SqliteLocking::Shared));
        let error = sqlite_locking("Shared").err().unwrap_or_default();
        assert!(error.contains("PATRON_SQLITE_LOCKING"), "{error}");
    }

    #[test]
    fn numbers_outside_their_range_are_refused_with_name_value_and_range() {
        let name = "PATRON_TEST_RANGE";
        let range = 1..=3600_u64;
        assert_eq!(in_range(name, "1", &range), Ok(1));
        assert_eq!(in_range(name, "3600", &range), Ok(3600));
        assert_eq!(in_range(name, "+12", &range), Ok(12));
        for (value, expected) in [
            ("0", "PATRON_TEST_RANGE must be from 1 to 3600, got 0"),
            ("3601", "PATRON_TEST_RANGE must be from 1 to 3600, got 3601"),
            // Numbers too, though a u64 cannot hold them.
            ("-1", "PATRON_TEST_RANGE must be from 1 to 3600, got -1"),
            (
                "18446744073709551616",
                "PATRON_TEST_RANGE must be from 1 to 3600, got 18446744073709551616",
            ),
            (
                "ten",
                "PATRON_TEST_RANGE must be a whole number from 1 to 3600, got \"ten\"",
            ),
            (
                "1.5",
                "PATRON_TEST_RANGE must be a whole number from 1 to 3600, got \"1.5\"",
            ),
            (
                "-",
                "PATRON_TEST_RANGE must be a whole number from 1 to 3600, got \"-\"",
            ),
            (
                " 5",
                "PATRON_TEST_RANGE must be a whole number from 1 to 3600, got \" 5\"",
            ),
        ] {
            assert_eq!(
                in_range(name, value, &range),
                Err(expected.into()),
                "{value}"
            );
        }
        // Signed settings: a negative number is a number out of range.
        assert_eq!(
            in_range(name, "-3", &(0..=3650_i64)),
            Err::<i64, _>("PATRON_TEST_RANGE must be from 0 to 3650, got -3".into())
        );
    }

    #[test]
    fn the_webhook_lease_is_at_least_three_timeouts_never_raised_silently() {
        // No other test reads this variable.
        let name = "PATRON_WEBHOOK_LEASE_SECS";
        std::env::remove_var(name);
        assert_eq!(webhook_lease_secs(10), Ok(60));
        assert_eq!(webhook_lease_secs(30), Ok(90));
        std::env::set_var(name, "90");
        assert_eq!(webhook_lease_secs(30), Ok(90));
        std::env::set_var(name, "60");
        assert_eq!(
            webhook_lease_secs(30),
            Err(format!(
                "{name} must be from 90 to 86400, got 60 (at least 3 × PATRON_WEBHOOK_TIMEOUT_SECS)"
            ))
        );
        std::env::remove_var(name);
    }

    #[test]
    fn unset_or_empty_is_the_default() {
        // A name no test sets.
        let name = "PATRON_TEST_RANGED_UNSET";
        assert_eq!(ranged::<u32>(name, 7, 1..=3), Ok(7));
        std::env::set_var(name, "");
        assert_eq!(ranged::<u32>(name, 7, 1..=3), Ok(7));
        std::env::set_var(name, "4");
        assert_eq!(
            ranged::<u32>(name, 7, 1..=3),
            Err(format!("{name} must be from 1 to 3, got 4"))
        );
        std::env::remove_var(name);
    }

    #[test]
    fn a_value_that_is_not_utf8_is_refused_not_defaulted() {
        use std::os::unix::ffi::OsStrExt;
        // A name no other test sets.
        let name = "PATRON_TEST_NOT_UTF8";
        std::env::set_var(name, std::ffi::OsStr::from_bytes(b"caf\xe9"));
        let refused = format!("{name} is not valid UTF-8; set it in UTF-8 or unset it");
        assert_eq!(ranged::<u32>(name, 7, 1..=3), Err(refused.clone()));
        assert_eq!(super::var(name, "x"), Err(refused));
        std::env::remove_var(name);
        assert_eq!(super::var(name, "x"), Ok("x".into()));
    }

    #[test]
    fn sqlite_pools_one_connection_per_worker_plus_one_and_postgres_ten() {
        assert_eq!(default_pool_size("sqlite://patron.db", 2), 3);
        assert_eq!(default_pool_size("sqlite:///data/p.db", 8), 9);
        assert_eq!(default_pool_size("sqlite://patron.db", 0), 2);
        assert_eq!(default_pool_size("postgres://u:p@h/db", 2), 10);
        assert_eq!(default_pool_size("postgresql://u:p@h/db", 16), 10);
    }

    #[test]
    fn sqlite_looks_up_on_one_thread_per_two_workers_one_to_two() {
        assert_eq!(default_lookup_threads(0), 1);
        assert_eq!(default_lookup_threads(1), 1);
        assert_eq!(default_lookup_threads(2), 1);
        assert_eq!(default_lookup_threads(3), 1);
        assert_eq!(default_lookup_threads(4), 2);
        assert_eq!(default_lookup_threads(16), 2);
    }
}
