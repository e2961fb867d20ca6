#![allow(dead_code)]
//! Starts the real application (real database, real JWT) on a free port and
//! talks HTTP to it. Every test runs once on SQLite and once on PostgreSQL.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};
use patron::config::Config;
use patron::startup::Application;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares tests that run on both backends: for each `name`, the async fn
/// `name(app: TestApp)` runs as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    // Each test run with the configuration changed by `$tweak`, a function
    // of the calling module.
    (configured by $tweak:ident; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::helpers::run_configured(super::$name, $crate::helpers::Backend::Sqlite, super::$tweak).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::helpers::run_configured(super::$name, $crate::helpers::Backend::Postgres, super::$tweak).await;
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::helpers::run(super::$name, $crate::helpers::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::helpers::run(super::$name, $crate::helpers::Backend::Postgres).await;
                }
            }
        )*
    };
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub admin_email: String,
    pub admin_password: String,
    pub backend: Backend,
    pub database_url: String,
    /// The configuration the app started with (another instance reuses it).
    pub config: Config,
}

/// Another Patron instance on the test's database, as when scaling out.
pub struct OtherApp {
    pub address: String,
    handle: actix_web::dev::ServerHandle,
    background: patron::startup::Background,
}

impl OtherApp {
    /// Stops the server, then its webhook worker and recompute job as a
    /// graceful stop does: a delivery under way may finish (8 s at most,
    /// then it is cancelled), and its lease is released.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.background.stop(true).await;
    }

    /// As `stop`, with an immediate stop's wait (a delivery still under way
    /// after 200 ms is cancelled, its lease left to expire).
    pub async fn stop_now(self) {
        self.handle.stop(false).await;
        self.background.stop(false).await;
    }
}

/// A response, with the body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

/// The ids of a list page's items, the page checked to be a 200.
pub fn ids_of(r: &Resp) -> Vec<i64> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }

    /// The version in the ETag (`"7.1c2d3e4f"`: version 7 and the body's
    /// digest); panics on a tag of another shape.
    pub fn etag_version(&self) -> Option<i64> {
        let tag = self.header("etag")?;
        let opaque = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        let (version, digest) = opaque
            .and_then(|t| t.split_once('.'))
            .unwrap_or_else(|| panic!("ETag {tag} is not \"<version>.<digest>\""));
        assert_eq!(digest.len(), 8, "{tag}");
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
        Some(version.parse().expect("a version"))
    }

    /// Asserts a problem+json response with this status, returns the body.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.text
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "not a problem document: {}",
            self.text
        );
        assert_eq!(self.body["status"], json!(status));
        assert!(self.body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/")));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }

    /// The fields named in a validation problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        fields.dedup();
        fields
    }

    /// Each (field, code) of a validation problem's `errors`, in the order
    /// served (by field).
    pub fn error_codes(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["field"].as_str().unwrap_or_default().to_string(),
                    e["code"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The code of the error naming `field`; panics when none does.
    pub fn code_of(&self, field: &str) -> String {
        self.error_codes()
            .into_iter()
            .find(|(f, _)| f == field)
            .map(|(_, code)| code)
            .unwrap_or_else(|| panic!("no error for {field}: {}", self.text))
    }

    pub fn id(&self) -> i64 {
        self.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs one test on one backend: a fresh database, a fresh server, and the
/// clean-up afterwards.
pub async fn run<F, Fut>(test: F, backend: Backend)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_configured(test, backend, |_| {}).await
}

/// `run` with a configuration changed by `tweak` (e.g. rate limits).
pub async fn run_configured<F, Fut>(test: F, backend: Backend, tweak: fn(&mut Config))
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let _ = env_logger::builder().is_test(true).try_init();
    let (database_url, pg_admin) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!(
                "patron-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            (
                format!("sqlite://{}", dir.join("patron.db").display()),
                None,
            )
        }
        Backend::Postgres => match postgres_admin_url() {
            Some(admin) => {
                let name = format!(
                    "patron_test_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                );
                let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("PATRON_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}")
                });
                crate::pg_template::create_copy(&mut conn, &admin, &name);
                (with_database(&admin, &name), Some((admin, name)))
            }
            None => return,
        },
    };

    // Dropped last: after the server stops, or while a failed test unwinds.
    let _cleanup = Cleanup {
        postgres: pg_admin,
        sqlite_dir: database_url
            .strip_prefix("sqlite://")
            .and_then(|path| std::path::Path::new(path).parent())
            .map(std::path::Path::to_path_buf),
    };
    let mut config = Config::for_database(&database_url);
    config.pool_size = 3;
    // The webhook worker runs only in instances a test starts for it.
    config.webhook_poll_ms = 0;
    // The tests' receivers listen on loopback, which production refuses by
    // default (`PATRON_WEBHOOK_ALLOWED_NETWORKS`); tests of that rule clear it.
    config.webhook_allowed_networks = vec![
        "127.0.0.0/8".parse().expect("a network"),
        "::1/128".parse().expect("a network"),
    ];
    // Every SQLite segment preview counts in parallel parts, as at 100,000
    // customers and more in production, so every preview test checks them.
    config.segment_split_from = 1;
    tweak(&mut config);
    let app_config = config.clone();
    let admin_email = config.admin_email.clone();
    let admin_password = config.admin_password.clone().unwrap_or_default();
    let app = Application::build(config).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.server();
    let handle = server.handle();
    tokio::spawn(server);

    let test_app = TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        admin_email,
        admin_password,
        backend,
        database_url: database_url.clone(),
        config: app_config,
    };
    test(test_app).await;

    handle.stop(true).await;
}

/// Removes a test's database when the test ends, also when it fails: a
/// failed test tells what went wrong in its message, and leftovers would
/// only pile up on the server.
struct Cleanup {
    /// (admin URL, database name)
    postgres: Option<(String, String)>,
    sqlite_dir: Option<std::path::PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            // FORCE cannot end an autovacuum worker (the role has no
            // pg_signal_backend), so a drop can fail for a moment: retry.
            for _ in 0..10 {
                let dropped = PgConnection::establish(admin).is_ok_and(|mut conn| {
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .is_ok()
                });
                if dropped {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Takes SQLite's write lock on the file at `path` from a thread of its
/// own, as another process's long write would; returns once it is held,
/// with what releases it (the COMMIT, waited for).
pub fn hold_sqlite_write_lock(path: &str) -> Box<dyn FnOnce() + Send> {
    use diesel::connection::SimpleConnection;
    let path = path.to_string();
    let (locked, held) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut conn = open_sqlite(&path);
        conn.batch_execute("BEGIN IMMEDIATE")
            .expect("the write lock");
        locked.send(()).expect("the test waits");
        let _ = released.recv();
        conn.batch_execute("COMMIT").expect("the commit");
    });
    held.recv().expect("the lock is held");
    Box::new(move || {
        drop(release);
        holder.join().expect("the holder");
    })
}

/// A connection of the test's own to an app's SQLite file, waiting for locks
/// as the app's connections do: without the wait a read failed with
/// "database is locked" whenever an app's connection was closing (the last
/// one to close checkpoints the file) or its start-up jobs were writing.
pub fn open_sqlite(path: &str) -> diesel::SqliteConnection {
    use diesel::connection::SimpleConnection;
    let mut conn = diesel::SqliteConnection::establish(path)
        .unwrap_or_else(|e| panic!("open the SQLite file {path}: {e}"));
    conn.batch_execute("PRAGMA busy_timeout = 5000;")
        .unwrap_or_else(|e| panic!("busy timeout: {e}"));
    conn
}

/// The PostgreSQL URL for tests, or None (and a note) when not configured.
/// With PATRON_TEST_REQUIRE_POSTGRES=1 (CI) a missing URL fails the test.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("PATRON_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("PATRON_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PATRON_TEST_REQUIRE_POSTGRES=1 but PATRON_TEST_POSTGRES_URL is not set");
            }
            eprintln!("PostgreSQL SKIPPED: PATRON_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// An empty PostgreSQL database of a test's own (the binary migrates it),
/// dropped with the value; `None` without PostgreSQL (a failure in CI, see
/// `postgres_admin_url`).
pub struct EmptyPgDatabase {
    server: PgConnection,
    name: String,
    pub url: String,
}

impl EmptyPgDatabase {
    pub fn create(tag: &str) -> Option<EmptyPgDatabase> {
        let admin = postgres_admin_url()?;
        let name = format!("patron_{tag}_{}", std::process::id());
        let mut server = PgConnection::establish(&admin).expect("PostgreSQL reachable");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut server)
            .expect("drop");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut server)
            .expect("create");
        let url = with_database(&admin, &name);
        Some(EmptyPgDatabase { server, name, url })
    }
}

impl Drop for EmptyPgDatabase {
    fn drop(&mut self) {
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut self.server);
    }
}

pub use patron::db::with_database;

impl TestApp {
    /// Makes every DELETE on `table` fail (a trigger) until `allow_deletes`:
    /// how a test makes a purge job fail for a while.
    pub fn refuse_deletes(&self, table: &str) {
        self.execute_sql(&match self.backend {
            Backend::Sqlite => format!(
                "CREATE TRIGGER refuse_deletes BEFORE DELETE ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            ),
            Backend::Postgres => format!(
                "CREATE FUNCTION refuse_deletes() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER refuse_deletes BEFORE DELETE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION refuse_deletes();"
            ),
        });
    }

    /// Undoes `refuse_deletes(table)`.
    pub fn allow_deletes(&self, table: &str) {
        self.execute_sql(&match self.backend {
            Backend::Sqlite => "DROP TRIGGER refuse_deletes;".to_string(),
            Backend::Postgres => {
                format!("DROP TRIGGER refuse_deletes ON {table}; DROP FUNCTION refuse_deletes();")
            }
        });
    }

    /// Runs SQL (one or more statements) straight on the test database, for
    /// what no endpoint can do: letting time pass for a row, making a
    /// statement fail.
    pub fn execute_sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        match self.backend {
            Backend::Sqlite => {
                let path = self.database_url.strip_prefix("sqlite://").unwrap();
                open_sqlite(path).batch_execute(sql).unwrap();
            }
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.database_url).unwrap();
                conn.batch_execute(sql).unwrap();
            }
        }
    }

    /// Starts another instance on the same database and JWT secret, with
    /// `tweak` applied to the configuration.
    pub async fn start_another(&self, tweak: impl FnOnce(&mut Config)) -> OtherApp {
        let mut config = self.config.clone();
        tweak(&mut config);
        let app = Application::build(config)
            .await
            .expect("the other app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (server, background) = app.server_and_background();
        let handle = server.handle();
        tokio::spawn(server);
        OtherApp {
            address,
            handle,
            background,
        }
    }

    /// The same request against another instance.
    pub async fn get_at(&self, address: &str, path: &str, token: &str) -> Resp {
        self.send(
            self.client
                .get(format!("{address}{path}"))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn post_at(&self, address: &str, path: &str, token: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .post(format!("{address}{path}"))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let response = req.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    fn authed(&self, req: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        if token.is_empty() {
            req
        } else {
            req.bearer_auth(token)
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(self.authed(self.client.get(self.url(path)), token))
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(
            self.authed(self.client.post(self.url(path)), token)
                .json(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(
            self.authed(self.client.patch(self.url(path)), token)
                .json(body),
        )
        .await
    }

    pub async fn patch_if_match(&self, path: &str, token: &str, etag: &str, body: &Value) -> Resp {
        self.send(
            self.authed(self.client.patch(self.url(path)), token)
                .header("If-Match", etag)
                .json(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(self.authed(self.client.delete(self.url(path)), token))
            .await
    }

    /// A raw body with a chosen content type.
    pub async fn post_raw(&self, path: &str, token: &str, content_type: &str, body: &str) -> Resp {
        self.send(
            self.authed(self.client.post(self.url(path)), token)
                .header("Content-Type", content_type)
                .body(body.to_string()),
        )
        .await
    }

    /// A POST of raw bytes (a body in another charset, say).
    pub async fn post_bytes(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        self.send(
            self.authed(self.client.post(self.url(path)), token)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auth/token",
            "",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let r = self.login(email, password).await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.token(&self.admin_email.clone(), &self.admin_password.clone())
            .await
    }

    /// Creates a user with `role` and returns (id, token).
    pub async fn user_with_role(&self, role: &str) -> (i64, String) {
        let admin = self.admin_token().await;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let email = format!("{role}{n}@example.com");
        let password = "a long test password";
        let r = self
            .post("/api/v1/users", &admin, &json!({"email": email, "name": format!("{role} {n}"), "role": role, "password": password}))
            .await;
        assert_eq!(r.status, 201, "user creation failed: {}", r.text);
        (r.id(), self.token(&email, password).await)
    }

    /// Creates a customer (as `token`) and returns the response.
    /// A `Db` of its own on the test's database, opened on a blocking thread
    /// as the server opens its own.
    pub async fn open_db(&self, pool_size: u32, timeout_secs: u64) -> patron::db::Db {
        let (url, locking) = (self.database_url.clone(), self.config.sqlite_locking);
        tokio::task::spawn_blocking(move || {
            patron::db::Db::connect_with_timeout(&url, pool_size, timeout_secs, locking)
        })
        .await
        .expect("the blocking open")
        .expect("the database")
    }

    /// Runs `hold` in a write transaction of another connection (a row
    /// lock on PostgreSQL, the writer on SQLite), sends `requests` once it
    /// has run, and commits 400 ms later: the requests meet it where they
    /// write and wait. Returns what `requests` gave.
    pub async fn while_held<T>(
        &self,
        hold: impl FnOnce(&mut patron::db::DbConn) -> diesel::QueryResult<()> + Send + 'static,
        requests: impl std::future::Future<Output = T>,
    ) -> T {
        use std::sync::mpsc;
        let db = self.open_db(1, 10).await;
        let (held, is_held) = mpsc::channel();
        let (release, to_release) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut conn = db.pool().get().expect("a connection");
            patron::db::write_tx(&mut conn, |conn| {
                hold(conn)?;
                held.send(()).expect("the test waits");
                to_release.recv().expect("the test releases");
                Ok::<_, diesel::result::Error>(())
            })
            .expect("the other writer")
        });
        tokio::task::spawn_blocking(move || is_held.recv().expect("held"))
            .await
            .expect("the wait");
        let release_later = async {
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            release.send(()).expect("the holder waits");
        };
        let (out, ()) = futures_util::future::join(requests, release_later).await;
        holder.join().expect("no panic");
        out
    }

    /// Changes user `id` (`set`, SQL) in a transaction that holds the writer
    /// (SQLite) or the tables a write of the user's role touches (PostgreSQL:
    /// reads go on, writes and row locks wait) while `request` is sent: the
    /// request waits for it where it writes, after its token was checked.
    pub async fn user_changed_while_waiting(
        &self,
        id: i64,
        set: &'static str,
        request: impl std::future::Future<Output = Resp>,
    ) -> Resp {
        use diesel::RunQueryDsl;
        let lock_tables = self.backend == Backend::Postgres;
        let hold = move |conn: &mut patron::db::DbConn| {
            if lock_tables {
                diesel::sql_query(
                    "LOCK TABLE users, customers, transactions, webhooks, settings \
                     IN EXCLUSIVE MODE",
                )
                .execute(conn)?;
            }
            diesel::sql_query(format!("UPDATE users SET {set} WHERE id = {id}")).execute(conn)?;
            Ok(())
        };
        self.while_held(hold, request).await
    }

    pub async fn create_customer(&self, token: &str, body: Value) -> Resp {
        let r = self.post("/api/v1/customers", token, &body).await;
        assert_eq!(r.status, 201, "customer creation failed: {}", r.text);
        r
    }
}

/// Takes a connection of `db`'s pool (its only one, in the tests that use
/// this) and keeps it until the guard drops.
/// A connection of `db`'s pool that has run `sql` (a `BEGIN` and a lock it
/// keeps until the connection is dropped or rolled back).
pub async fn hold_locked(db: &patron::db::Db, sql: &'static str) -> patron::db::PooledConn {
    use diesel::connection::SimpleConnection;
    let mut holder = hold_a_connection(db).await;
    tokio::task::spawn_blocking(move || {
        holder.batch_execute(sql).expect("the lock");
        holder
    })
    .await
    .expect("the blocking lock")
}

/// Holds SQLite's write lock from a connection of its own for `held_for`,
/// as another process's long write would; returns once it is held. Join the
/// handle to wait for its COMMIT.
pub async fn hold_the_sqlite_write(
    app: &TestApp,
    held_for: std::time::Duration,
) -> std::thread::JoinHandle<()> {
    let db = app.open_db(1, 10).await;
    held_in_a_thread(held_for, move || {
        let conn = db.pool().get().expect("a connection");
        let lock = "BEGIN IMMEDIATE; UPDATE customers SET notes = notes;";
        (Box::new(conn), lock.to_string())
    })
    .await
}

/// Holds card `c` from a connection of its own for `held_for`, as a long
/// write of another process would (SQLite: the database's write lock;
/// PostgreSQL: the card's row); returns once it is held.
pub async fn hold_the_card(
    app: &TestApp,
    c: i64,
    held_for: std::time::Duration,
) -> std::thread::JoinHandle<()> {
    use diesel::Connection;
    if app.backend == Backend::Sqlite {
        return hold_the_sqlite_write(app, held_for).await;
    }
    let url = app.database_url.clone();
    let lock = format!("BEGIN; SELECT id FROM customers WHERE id = {c} FOR UPDATE");
    held_in_a_thread(held_for, move || {
        let conn = diesel::PgConnection::establish(&url).expect("a connection");
        (Box::new(conn), lock)
    })
    .await
}

type Holder = Box<dyn diesel::connection::SimpleConnection + Send>;

/// Runs the `BEGIN …` that `open` gives on the connection it opens, on a
/// thread of its own, and commits `held_for` later; returns once the
/// statements ran.
async fn held_in_a_thread(
    held_for: std::time::Duration,
    open: impl FnOnce() -> (Holder, String) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (held, is_held) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let (mut conn, sql) = open();
        conn.batch_execute(&sql).expect("the lock");
        held.send(()).expect("the test waits");
        std::thread::sleep(held_for);
        conn.batch_execute("COMMIT").expect("the commit");
    });
    tokio::task::spawn_blocking(move || is_held.recv().expect("held"))
        .await
        .expect("the wait");
    holder
}

pub async fn hold_a_connection(db: &patron::db::Db) -> patron::db::PooledConn {
    let pool = db.pool().clone();
    tokio::task::spawn_blocking(move || pool.get())
        .await
        .expect("the blocking checkout")
        .expect("a connection of the pool")
}
