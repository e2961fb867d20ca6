//! Builds the application and the HTTP server.

use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders, ErrorHandlers, Logger};
use actix_web::{guard, http::header, web, App, HttpServer};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::jwt::JwtKeys;
use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::db::Db;
use crate::http;

/// Connections waiting to be accepted (the kernel caps it at
/// `net.core.somaxconn`): actix's default, enough for a burst of a few
/// hundred clients connecting at once.
const BACKLOG: u32 = 1024;

/// Sockets bound to every address `bind` resolves to, not yet listening:
/// taken before the database is opened, so a taken port or a bad
/// `PATRON_BIND` stops the start before it migrates (the image rolled back
/// to then refused the newer schema: a typo became an outage; a review),
/// while a connection is still refused, not left waiting in the backlog,
/// until `listen` (a TCP probe or load balancer took a migrating process
/// for a ready one). An error when none could be bound.
fn bind(bind: &str) -> Result<Vec<socket2::Socket>, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::ToSocketAddrs;
    let fail = |e: std::io::Error| format!("cannot listen on {bind}: {e}");
    let open = |addr: std::net::SocketAddr| -> std::io::Result<Socket> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        Ok(socket)
    };
    let mut opened = Vec::new();
    let mut last = None;
    for addr in bind.to_socket_addrs().map_err(fail)? {
        match open(addr) {
            Ok(socket) => opened.push(socket),
            Err(e) => last = Some(e),
        }
    }
    match (opened.is_empty(), last) {
        (false, _) => Ok(opened),
        (true, Some(e)) => Err(fail(e)),
        (true, None) => Err(format!("cannot listen on {bind}: no address")),
    }
}

/// The bound sockets listening as actix's own `bind` makes them (a backlog
/// of `BACKLOG`: `std`'s 128 lost SYNs in a burst of new connections, which
/// clients resend after a second, the 1 s outliers of the 256-connection
/// benchmark, docs/BENCHMARKS.md).
fn listen(sockets: Vec<socket2::Socket>, bind: &str) -> Result<Vec<std::net::TcpListener>, String> {
    sockets
        .into_iter()
        .map(|socket| {
            socket.listen(BACKLOG as i32)?;
            socket.set_nonblocking(true)?;
            Ok(socket.into())
        })
        .collect::<std::io::Result<_>>()
        .map_err(|e| format!("cannot listen on {bind}: {e}"))
}

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub jwt: JwtKeys,
    pub throttle: LoginThrottle,
    /// The user check of authenticated requests, remembered for a moment.
    pub users: crate::auth::user_cache::UserCache,
    /// Background workers of this application hold a weak reference and
    /// stop once the state is dropped with the server.
    pub alive: std::sync::Arc<()>,
    /// From how many customer ids a SQLite segment preview counts in parallel
    /// parts (`http::segment_totals`).
    pub segment_split_from: i64,
    /// Proxies whose `X-Forwarded-For` is believed (`http::client_address`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Private networks a webhook's URL may name (`http::webhooks`).
    pub webhook_allowed_networks: Vec<ipnet::IpNet>,
    /// Idempotency claims whose settling the database refused so far
    /// (`http::idempotency_settle`).
    pub unsettled: crate::http::idempotency_settle::Unsettled,
}

pub struct Application {
    server: Server,
    port: u16,
    /// Whether this start created the first admin, and how.
    pub first_admin: crate::auth::bootstrap::FirstAdmin,
    pub db: Db,
    webhooks: Option<crate::webhook_worker::Running>,
    jobs: crate::jobs::Running,
    unsettled: crate::http::idempotency_settle::Unsettled,
}

impl Application {
    /// Opens the database (migrating it), binds the listener, then creates the
    /// first admin if there is no user. Signals are `run`'s to handle (tests
    /// drive the server without them).
    pub async fn build(config: Config) -> Result<Application, String> {
        let url = config.database_url.clone();
        let (pool_size, timeout, locking) = (
            config.pool_size,
            config.db_timeout_secs,
            config.sqlite_locking,
        );
        let (lookup_threads, card_readers) = (config.sqlite_lookup_threads, config.pg_card_readers);
        // Bound before the database is opened, and so before it is
        // migrated (`bind`). Before the first admin too: a start that could
        // not listen committed a generated password it never printed, and
        // later starts printed none (an outside review).
        let sockets = bind(&config.bind)?;
        let db = web::block(move || Db::connect_with_timeout(&url, pool_size, timeout, locking))
            .await
            .map_err(|e| e.to_string())??
            .with_lookup_threads(lookup_threads)?
            .with_card_readers(card_readers);
        // Before the first admin: a start that failed here had committed a
        // generated password it never printed.
        let fresh = crate::config::random_string(32);
        let installation = db
            .run(move |conn| crate::db::settings::installation_id(conn, &fresh, crate::db::now()))
            .await
            .map_err(|e| format!("cannot read the installation id: {e}"))?;
        crate::auth::stored_emails::normalize_stored(&db).await?;
        let first_admin = crate::auth::bootstrap::first_admin(&db, &config).await?;
        // Hashed here, off the request path: made at the first login of an
        // unknown email, on that request's worker thread, it held the worker
        // up and took twice a wrong password's time (a review).
        web::block(crate::auth::password::dummy_hash)
            .await
            .map_err(|e| e.to_string())?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            jwt: JwtKeys::new(&config.jwt_secret, config.token_ttl_secs, &installation),
            throttle: LoginThrottle::new(
                config.login_max_failures,
                config.login_window_secs,
                config.login_max_per_min,
            ),
            users: crate::auth::user_cache::UserCache::new(std::time::Duration::from_millis(
                config.auth_cache_ms,
            )),
            alive: std::sync::Arc::new(()),
            segment_split_from: config.segment_split_from,
            trusted_proxies: config.trusted_proxies.clone(),
            webhook_allowed_networks: config.webhook_allowed_networks.clone(),
            unsettled: Default::default(),
        });
        let unsettled = state.unsettled.clone();
        let jobs = crate::jobs::spawn(db.clone(), &config, std::sync::Arc::downgrade(&state.alive));
        let webhooks = crate::webhook_worker::spawn(
            db.clone(),
            &config,
            std::sync::Arc::downgrade(&state.alive),
        );
        let origins = config.cors_origins.clone();
        let metrics = crate::metrics::build(db.pool())?;
        let rate_limits = web::Data::new(http::rate_limit::RateLimits::new(&config));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(rate_limits.clone())
                .app_data(http::path_config())
                .configure(http::routes)
                // Swagger UI's files answer GET only; its own service gave
                // other methods a 404.
                .service(
                    web::resource("/swagger-ui/{_:.*}")
                        .guard(guard::Not(guard::Any(guard::Get()).or(guard::Head())))
                        .to(http::fallback::get_only),
                )
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/openapi.json")),
                )
                .service(
                    web::resource("/openapi.json")
                        .get(http::spec::openapi_json)
                        .default_service(web::to(http::fallback::get_only)),
                )
                .service(web::redirect("/swagger-ui", "/swagger-ui/"))
                .default_service(web::to(http::fallback::unrouted))
                .wrap(from_fn(http::head::as_get))
                .wrap(from_fn(http::conditional::not_modified))
                .wrap(from_fn(http::idempotency::middleware))
                .wrap(from_fn(http::conditional::refuse_on_writes))
                .wrap(from_fn(http::closed_routes::middleware))
                .wrap(from_fn(http::read_only::middleware))
                .wrap(from_fn(http::body::keep_stalled_body))
                .wrap(from_fn(http::rate_limit::middleware))
                .wrap(cors(&origins))
                .wrap(ErrorHandlers::new().default_handler(http::fallback::problem_fallback))
                .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
                .wrap(metrics.clone())
                .wrap(from_fn(http::fallback::known_method))
                // Outside every layer that answers, so that each answer
                // under /api/v1 gets it (429s, 405s, 304s, errors).
                .wrap(from_fn(http::cache_control::private))
                // Outside every layer that answers without reading a body.
                .wrap(from_fn(http::body::close_unread_body))
                .wrap(
                    Logger::new("%{METHOD}xi %U %s %Dms")
                        .custom_request_replace("METHOD", |req| req.method().to_string()),
                )
        })
        .workers(config.workers)
        // Each worker has its own blocking pool; together they hold about as
        // many threads as the pool has connections. More would only wait for
        // one: the default (512 per worker) grew memory by a stack and an
        // allocator arena per thread under load, and a handful of idle threads
        // per worker costs a futex wake-up and a context switch per database
        // call that a busy thread would have taken from the queue (card reads
        // ran ~10 % faster with pool/workers + 1 than with pool + 2;
        // docs/BENCHMARKS.md).
        .worker_max_blocking_threads(config.pool_size as usize / config.workers.max(1) + 1)
        .shutdown_timeout(SHUTDOWN_SECS);
        // Listening only now: the database is migrated and ready.
        for listener in listen(sockets, &config.bind)? {
            server = server
                .listen(listener)
                .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        }
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .ok_or_else(|| format!("cannot listen on {}: no address", config.bind))?;
        // `run` handles them: it stops the HTTP server and the webhook worker
        // at once, within one grace period.
        server = server.disable_signals();
        Ok(Application {
            server: server.run(),
            port,
            first_admin,
            db,
            webhooks,
            jobs,
            unsettled,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server alone (tests): its background workers stop when it is
    /// dropped, without waiting for a delivery under way.
    pub fn server(self) -> Server {
        self.server
    }

    /// The server and its background work, to stop apart (tests): with the
    /// server alone, the webhook worker of a stopped instance still
    /// delivered until the instance's state was dropped, some time later,
    /// and a test that went on at once saw a delivery it did not expect (a
    /// review of a flaky test).
    pub fn server_and_background(self) -> (Server, Background) {
        let background = Background {
            webhooks: self.webhooks,
            jobs: self.jobs,
        };
        (self.server, background)
    }

    /// Serves until SIGTERM, SIGINT (Ctrl-C) or SIGQUIT, then stops the HTTP
    /// server, the webhook worker and the recompute job at the same time.
    /// SIGTERM is graceful: the server finishes the requests under way (at
    /// most `SHUTDOWN_SECS`), the worker finishes its delivery and releases
    /// its leases (a restart waited the old leases out, 60 s, before
    /// delivering again), and a CPR or loyalty recompute ends after the chunk
    /// under way (the process could not exit before the recompute did:
    /// minutes at a million cards); one after the other, the waits could
    /// together outlast Docker's 10 s grace, and the worker kept starting
    /// deliveries while the server drained. SIGINT and SIGQUIT are immediate
    /// (as actix had them): requests are dropped and the worker and job get
    /// `IMMEDIATE_WAIT` to end. A second signal during a graceful stop makes
    /// it immediate: the handlers registered here replace the default action
    /// for good, so a second Ctrl-C did nothing for up to 8 s.
    pub async fn run(self) -> std::io::Result<Stopped> {
        let handle = self.server.handle();
        let server = self.server;
        let (webhooks, jobs) = (self.webhooks, self.jobs);
        let mut signals = Signals::new()?;
        tokio::pin!(server);
        let graceful = tokio::select! {
            stopped = &mut server => {
                let grace = std::time::Duration::from_secs(SHUTDOWN_SECS);
                tokio::join!(
                    stop_webhooks(webhooks, true),
                    stop_jobs(jobs, true),
                    self.unsettled.settle_left(&self.db, grace)
                );
                return stopped.map(|()| Stopped::Drained);
            }
            graceful = signals.next() => graceful,
        };
        // The server future must be polled for the stop to happen: the
        // handle's answer comes from it.
        let stop_began = std::time::Instant::now();
        let (db, unsettled) = (self.db, self.unsettled);
        let http = async {
            let ((), stopped) = tokio::join!(handle.stop(graceful), &mut server);
            // The workers are gone, and the settlings they were retrying
            // with them: the rest of the grace period is theirs.
            if graceful {
                let grace = std::time::Duration::from_secs(SHUTDOWN_SECS);
                let left = grace.saturating_sub(stop_began.elapsed());
                let least = std::time::Duration::from_millis(500);
                unsettled.settle_left(&db, left.max(least)).await;
            }
            stopped
        };
        let stopping = async {
            let (stopped, (), ()) = tokio::join!(
                http,
                stop_webhooks(webhooks, graceful),
                stop_jobs(jobs, graceful)
            );
            stopped
        };
        // An immediate stop settles nothing: said, not dropped without a word.
        let dropped = |unsettled: &crate::http::idempotency_settle::Unsettled| {
            unsettled.log_left("by an immediate stop");
        };
        if !graceful {
            log::info!("stopping (immediate)");
            let stopped = stopping.await;
            dropped(&unsettled);
            return stopped.map(|()| Stopped::Immediately);
        }
        log::info!("stopping (graceful); a second signal makes it immediate");
        tokio::select! {
            stopped = stopping => stopped.map(|()| Stopped::Drained),
            _ = signals.next() => {
                // actix handles one stop command at a time, and the graceful
                // one is under way: a `stop(false)` would wait behind it. The
                // process exits instead (`Stopped::Immediately`), which
                // closes the connections and cuts the deliveries off.
                log::warn!(
                    "a second stop signal: stopping now; requests and webhook deliveries \
                     still under way are cut off"
                );
                dropped(&unsettled);
                Ok(Stopped::Immediately)
            }
        }
    }
}

/// How `Application::run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Everything under way finished, or its wait ended.
    Drained,
    /// Work may still be under way (a recompute chunk, a request's query, a
    /// delivery): the caller should exit the process now, since dropping
    /// the runtime waits for every blocking task to return.
    Immediately,
}

/// An instance's webhook worker and recompute job.
pub struct Background {
    webhooks: Option<crate::webhook_worker::Running>,
    jobs: crate::jobs::Running,
}

impl Background {
    /// Stops both as a graceful stop (`graceful`) or an immediate one does:
    /// the webhook delivery still under way after the wait is cancelled.
    pub async fn stop(self, graceful: bool) {
        tokio::join!(
            stop_webhooks(self.webhooks, graceful),
            stop_jobs(self.jobs, graceful)
        );
    }
}

async fn stop_webhooks(webhooks: Option<crate::webhook_worker::Running>, graceful: bool) {
    if let Some(webhooks) = webhooks {
        webhooks.stop(stop_wait(graceful)).await;
    }
}

async fn stop_jobs(jobs: crate::jobs::Running, graceful: bool) {
    jobs.stop(stop_wait(graceful)).await;
}

/// How long the webhook worker and the recompute job may take to end. On a
/// graceful stop: the delivery under way (its own timeout may be longer) or
/// the recompute chunk under way, under Docker's default grace before
/// SIGKILL (10 s) beside the HTTP server's drain, so that the worker's lease
/// is released first (one not released frees itself anyway). On an
/// immediate one only long enough for an idle worker or job to end cleanly.
fn stop_wait(graceful: bool) -> Duration {
    if graceful {
        Duration::from_secs(8)
    } else {
        IMMEDIATE_WAIT
    }
}

/// An immediate stop's wait for the worker and the job.
const IMMEDIATE_WAIT: Duration = Duration::from_millis(200);

/// How long a graceful stop lets the requests under way finish: Docker
/// sends SIGKILL 10 s after SIGTERM by default, and actix checks the
/// drained workers once a second, so 10 s ran into the SIGKILL (the
/// worker's and the job's 8 s run at the same time).
const SHUTDOWN_SECS: u64 = 8;

/// The stop signals, each handled from the first wait to the exit.
#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// The next stop signal: true for a graceful stop (SIGTERM), false for
    /// an immediate one (SIGINT, SIGQUIT).
    async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.term.recv() => true,
            _ = self.int.recv() => false,
            _ = self.quit.recv() => false,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) -> bool {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        false
    }
}

fn cors(origins: &[String]) -> Cors {
    // The API's methods only (any method let a preflight allow CONNECT and
    // TRACE), HEAD among them as it is served wherever GET is (its preflight
    // was a 400), and every header a script needs, also whether a POST was a
    // replay of an earlier one.
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allow_any_header()
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            // The 401's `error="invalid_token"` tells a frontend to log in
            // again, and the CSV export names its file: unexposed, a
            // browser script read neither (a review).
            header::WWW_AUTHENTICATE,
            header::CONTENT_DISPOSITION,
            header::HeaderName::from_static("idempotent-replayed"),
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
