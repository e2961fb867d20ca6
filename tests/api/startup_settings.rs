//! Settings the service refuses at start-up: the real binary stops with a
//! message naming the setting, instead of running with a value that would
//! not do what was meant.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::binary::{command, Server};

/// Starts the binary with `settings` on a fresh database; returns its stderr
/// once it stopped on its own, and fails the test if it kept running.
fn refused_start<V: AsRef<std::ffi::OsStr> + std::fmt::Debug>(settings: &[(&str, V)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("settings.db").display());
    let mut command = command(&url, "warn");
    command.stderr(Stdio::piped());
    for (name, value) in settings {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the server binary runs");
    let started = Instant::now();
    while child.try_wait().expect("its status").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("it started with {settings:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("its output");
    assert!(!out.status.success(), "{settings:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_trusted_proxy_that_is_no_address_stops_the_start() {
    let stderr = refused_start(&[("PATRON_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.0/33")]);
    assert!(
        stderr.contains(
            "PATRON_TRUSTED_PROXIES: \"10.0.0.0/33\" is not an IP address or a CIDR range"
        ),
        "{stderr}"
    );
}

/// The first admin is held to the rules of `POST /users`.
#[test]
fn a_first_admin_that_post_users_would_refuse_stops_the_start() {
    let stderr = refused_start(&[("PATRON_ADMIN_PASSWORD", "x")]);
    assert!(
        stderr.contains("PATRON_ADMIN_PASSWORD must be 10 to 128 characters long"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("\"x\""),
        "the password is printed: {stderr}"
    );
    let stderr = refused_start(&[("PATRON_ADMIN_EMAIL", "not an email")]);
    assert!(
        stderr.contains("PATRON_ADMIN_EMAIL \"not an email\" must be a valid email address"),
        "{stderr}"
    );
}

/// The JWT secret's 32 characters are characters, not bytes, and not blanks;
/// an empty one is refused as well.
#[test]
fn a_jwt_secret_of_few_characters_or_only_whitespace_stops_the_start() {
    // 11 characters in 33 bytes.
    let stderr = refused_start(&[("PATRON_JWT_SECRET", &"密".repeat(11))]);
    assert!(
        stderr.contains("PATRON_JWT_SECRET must be at least 32 characters, got 11"),
        "{stderr}"
    );
    let stderr = refused_start(&[("PATRON_JWT_SECRET", &" ".repeat(40))]);
    assert!(stderr.contains("PATRON_JWT_SECRET is blank"), "{stderr}");
    // Unlike other settings, empty is not unset (README).
    let stderr = refused_start(&[("PATRON_JWT_SECRET", "")]);
    assert!(stderr.contains("PATRON_JWT_SECRET is empty"), "{stderr}");
}

/// Every numeric setting with its range (README's configuration table).
const RANGES: &[(&str, u64, u64)] = &[
    ("PATRON_TOKEN_TTL_SECS", 1, 31_536_000),
    ("PATRON_WORKERS", 1, 256),
    ("PATRON_DB_POOL_SIZE", 1, 500),
    ("PATRON_SQLITE_LOOKUP_THREADS", 0, 64),
    ("PATRON_PG_CARD_READERS", 0, 64),
    ("PATRON_DB_TIMEOUT_SECS", 1, 3600),
    ("PATRON_LOGIN_MAX_FAILURES", 1, 1_000_000),
    ("PATRON_LOGIN_WINDOW_SECS", 1, 86_400),
    ("PATRON_LOGIN_MAX_PER_MIN", 0, 1000),
    ("PATRON_STATS_REFRESH_SECS", 1, 86_400),
    ("PATRON_CHANGES_RETENTION_DAYS", 1, 3650),
    ("PATRON_CHANGES_PURGE_SECS", 1, 86_400),
    ("PATRON_JOB_RETRY_SECS", 1, 3600),
    ("PATRON_WEBHOOK_POLL_MS", 0, 60_000),
    ("PATRON_WEBHOOK_TIMEOUT_SECS", 1, 3600),
    ("PATRON_WEBHOOK_BACKOFF_BASE_MS", 1, 3_600_000),
    ("PATRON_WEBHOOK_BACKOFF_MAX_SECS", 1, 86_400),
    ("PATRON_WEBHOOK_MAX_FAILURES", 1, 1000),
    // At least 3 × PATRON_WEBHOOK_TIMEOUT_SECS (10 by default).
    ("PATRON_WEBHOOK_LEASE_SECS", 30, 86_400),
    ("PATRON_RATE_LIMIT_PER_MIN", 0, 1_000_000),
    ("PATRON_RATE_LIMIT_INTEGRATION_PER_MIN", 0, 1_000_000),
    ("PATRON_IDEMPOTENCY_TTL_SECS", 86_400, 2_592_000),
    ("PATRON_AUTH_CACHE_MS", 0, 60_000),
    ("PATRON_SEGMENT_SPLIT_FROM", 1, 1_000_000_000),
];

/// A value that parses but is too large was accepted, then panicked: at
/// every login (`PATRON_TOKEN_TTL_SECS`, `PATRON_LOGIN_MAX_FAILURES`), or
/// half-way through the start (the pool's allocation, the DB timeout's
/// deadline, the retention subtracted from the clock).
#[test]
fn a_number_above_its_range_stops_the_start_naming_value_and_range() {
    for (name, low, high) in RANGES {
        for value in [(high + 1).to_string(), "99999999999999999999".to_string()] {
            let stderr = refused_start(&[(name, &value)]);
            let expected = format!("{name} must be from {low} to {high}, got {value}");
            assert!(stderr.contains(&expected), "{name}={value}: {stderr}");
        }
    }
}

/// The top of every range works: the service starts, a login gets a token
/// (its expiry a year on) that the API accepts, and a wrong password is
/// counted without an overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_top_of_every_range_the_service_starts_and_logs_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("top.db").display());
    let mut command = command(&url, "warn");
    command.stderr(Stdio::null());
    for (name, _, high) in RANGES {
        command.env(name, high.to_string());
    }
    let server = crate::binary::Server::spawn(command).await;
    let client = reqwest::Client::new();
    let login = |password: &'static str| {
        client
            .post(format!("{}/api/v1/auth/token", server.base))
            .json(&serde_json::json!({"email": crate::binary::ADMIN_EMAIL, "password": password}))
            .send()
    };
    assert_eq!(
        login("wrong-password").await.expect("answered").status(),
        401
    );
    let answer = login(crate::binary::ADMIN_PASSWORD)
        .await
        .expect("answered");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.expect("json");
    let token = body["access_token"].as_str().expect("a token");
    let me = client
        .get(format!("{}/api/v1/customers", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("answered");
    assert_eq!(me.status(), 200);
}

/// 0 (or a negative number, read as 0) kept no change: every purge emptied
/// the feed, integrators' cursors got 410 and webhooks were disabled.
#[test]
fn a_change_retention_of_zero_or_less_stops_the_start() {
    for value in ["0", "-3"] {
        let stderr = refused_start(&[("PATRON_CHANGES_RETENTION_DAYS", value)]);
        let expected = format!("PATRON_CHANGES_RETENTION_DAYS must be from 1 to 3650, got {value}");
        assert!(stderr.contains(&expected), "{value}: {stderr}");
    }
}

/// Zero and other values below a range were rewritten without a word: a
/// webhook timeout of 0 was 1 s, 0 failures 1, a job period of 0 every
/// second, an idempotency TTL under a day a day; 0 login failures locked an
/// email after one failure, right password included. Now each is refused
/// (the settings where 0 means something, "off" or "none", keep it).
#[test]
fn a_number_below_its_range_stops_the_start_naming_value_and_range() {
    for (name, low, high) in RANGES.iter().filter(|(_, low, _)| *low > 0) {
        let value = (low - 1).to_string();
        let stderr = refused_start(&[(name, &value)]);
        let expected = format!("{name} must be from {low} to {high}, got {value}");
        assert!(stderr.contains(&expected), "{name}={value}: {stderr}");
    }
    // The lease's least follows the timeout.
    let stderr = refused_start(&[
        ("PATRON_WEBHOOK_TIMEOUT_SECS", "30"),
        ("PATRON_WEBHOOK_LEASE_SECS", "60"),
    ]);
    assert!(
        stderr.contains("PATRON_WEBHOOK_LEASE_SECS must be from 90 to 86400, got 60 (at least 3 × PATRON_WEBHOOK_TIMEOUT_SECS)"),
        "{stderr}"
    );
}

/// Origins no browser sends (`Origin` has no user info, and no port beyond
/// 65535) were accepted, and the CORS entry could never match.
#[test]
fn a_cors_origin_that_can_never_match_stops_the_start() {
    for (origin, why) in [
        ("https://a.com:99999", "is not a URL (invalid port number)"),
        ("https://user@a.com", "has user info"),
    ] {
        let stderr = refused_start(&[(
            "PATRON_CORS_ORIGINS",
            &format!("https://ok.example.com, {origin}"),
        )]);
        let expected = format!("PATRON_CORS_ORIGINS: {origin:?} {why}");
        assert!(stderr.contains(&expected), "{origin}: {stderr}");
    }
}

/// An empty SQLite path gave "no such table: users" (migrations ran on one
/// private database, the user count on another); a missing directory gave
/// "Unable to open the database file" after 5 s, naming neither the path
/// nor the cause.
#[test]
fn an_sqlite_path_that_cannot_work_stops_the_start_at_once_naming_it() {
    // In memory, as SQLite's URIs name it too (a review: it got past the
    // check and stopped on "no such table: users").
    for url in [
        "sqlite://",
        "sqlite:",
        "sqlite::memory:",
        "sqlite:file::memory:",
        "sqlite:file:x.db?mode=memory",
    ] {
        let stderr = refused_start(&[("DATABASE_URL", url)]);
        assert!(
            stderr.contains("DATABASE_URL names no SQLite file"),
            "{url}: {stderr}"
        );
    }
    // Empty is no default either: a URL lost in a deploy template.
    let stderr = refused_start(&[("DATABASE_URL", "")]);
    assert!(stderr.contains("DATABASE_URL is empty"), "{stderr}");
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-dir").join("p.db");
    let started = Instant::now();
    let stderr = refused_start(&[("DATABASE_URL", &format!("sqlite://{}", missing.display()))]);
    assert!(
        stderr.contains(&format!(
            "cannot open the SQLite database {}: the directory {} does not exist",
            missing.display(),
            dir.path().join("no-such-dir").display()
        )),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let stderr = refused_start(&[(
        "DATABASE_URL",
        &format!("sqlite://{}", dir.path().display()),
    )]);
    assert!(
        stderr.contains(&format!(
            "cannot open the SQLite database {}: it is a directory",
            dir.path().display()
        )),
        "{stderr}"
    );
}

/// libpq quotes the part of a URL it cannot read, here the password.
#[test]
fn a_postgres_url_it_cannot_read_is_refused_without_its_password() {
    let stderr = refused_start(&[
        ("DATABASE_URL", "postgres://patron:SeC%ZZ@127.0.0.1:5432/db"),
        ("PATRON_DB_TIMEOUT_SECS", "1"),
    ]);
    assert!(stderr.contains("cannot open the database: "), "{stderr}");
    assert!(stderr.contains("***"), "{stderr}");
    assert!(!stderr.contains("SeC"), "the password is printed: {stderr}");
}

#[test]
fn a_webhook_network_that_is_no_address_stops_the_start() {
    let stderr = refused_start(&[(
        "PATRON_WEBHOOK_ALLOWED_NETWORKS",
        "10.0.0.0/8, erp.internal",
    )]);
    assert!(
        stderr.contains(
            "PATRON_WEBHOOK_ALLOWED_NETWORKS: \"erp.internal\" is not an IP address or a CIDR range"
        ),
        "{stderr}"
    );
}

/// `RUST_LOG` is read as every other setting: not UTF-8, it stops the start
/// (env_logger took it for unset).
#[test]
fn a_log_filter_that_is_not_utf8_stops_the_start() {
    use std::os::unix::ffi::OsStrExt;
    let stderr = refused_start(&[(
        "RUST_LOG",
        std::ffi::OsStr::from_bytes(b"info,patron=d\xe9bug"),
    )]);
    assert!(stderr.contains("RUST_LOG is not valid UTF-8"), "{stderr}");
}

/// `patron | true` on a new database: stdout is closed, and printing the
/// start-up lines panicked after the first admin was created, so its
/// generated password was never shown (a review). They go to stderr then,
/// and the server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_sends_the_start_up_lines_to_stderr() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("closed.db").display());
    let mut command = command(&url, "warn");
    command.env_remove("PATRON_ADMIN_PASSWORD");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    command.stdout(Stdio::from(writer)).stderr(Stdio::piped());
    let mut server = Server::spawn(command).await;
    assert!(server.terminate().success());
    let mut stderr = String::new();
    server
        .take_stderr()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("its stderr");
    assert!(
        stderr.contains("First admin created: admin@example.com / "),
        "{stderr}"
    );
}
