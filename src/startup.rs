//! Builds the application and the HTTP server.

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
}

pub struct Application {
    server: Server,
    port: u16,
    /// Set when this start created the first admin with a generated password.
    pub generated_admin: Option<(String, String)>,
    pub db: Db,
    webhooks: Option<crate::webhook_worker::Running>,
    jobs: crate::jobs::Running,
}

impl Application {
    /// Opens the database (migrating it), creates the first admin if there is
    /// no user, and binds the listener. Signals are `run`'s to handle (tests
    /// drive the server without them).
    pub async fn build(config: Config) -> Result<Application, String> {
        let url = config.database_url.clone();
        let (pool_size, timeout, locking) = (
            config.pool_size,
            config.db_timeout_secs,
            config.sqlite_locking,
        );
        let (lookup_threads, card_readers) = (config.sqlite_lookup_threads, config.pg_card_readers);
        let db = web::block(move || Db::connect_with_timeout(&url, pool_size, timeout, locking))
            .await
            .map_err(|e| e.to_string())??
            .with_lookup_threads(lookup_threads)?
            .with_card_readers(card_readers);
        let generated_admin = crate::auth::bootstrap::first_admin(&db, &config).await?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            jwt: JwtKeys::new(&config.jwt_secret, config.token_ttl_secs),
            throttle: LoginThrottle::new(config.login_max_failures, config.login_window_secs),
            users: crate::auth::user_cache::UserCache::new(std::time::Duration::from_millis(
                config.auth_cache_ms,
            )),
            alive: std::sync::Arc::new(()),
            segment_split_from: config.segment_split_from,
            trusted_proxies: config.trusted_proxies.clone(),
        });
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
        .shutdown_timeout(SHUTDOWN_SECS)
        // actix's own bind, not a `std` listener: `std` listens with a backlog
        // of 128, so a burst of more new connections than that lost SYNs,
        // which clients resend after a second (the 1 s outliers of the
        // 256-connection benchmark, docs/BENCHMARKS.md).
        .backlog(BACKLOG)
        .bind(&config.bind)
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
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
            generated_admin,
            db,
            webhooks,
            jobs,
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

    /// Serves until SIGTERM, SIGINT (Ctrl-C) or SIGQUIT, then stops the HTTP
    /// server, the webhook worker and the recompute job at the same time:
    /// the server finishes the requests under way on SIGTERM (at most
    /// `SHUTDOWN_SECS`; SIGINT and SIGQUIT drop them, as actix does), the
    /// worker finishes its delivery and releases its leases (a restart waited
    /// the old leases out, 60 s, before delivering again), and a CPR or
    /// loyalty recompute ends after the chunk under way (the process could
    /// not exit before the recompute did: minutes at a million cards). One
    /// after the other, the waits could together outlast Docker's 10 s
    /// grace, and the worker kept starting deliveries while the server
    /// drained.
    pub async fn run(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = self.server;
        let (webhooks, jobs) = (self.webhooks, self.jobs);
        tokio::pin!(server);
        let graceful = tokio::select! {
            stopped = &mut server => {
                tokio::join!(stop_webhooks(webhooks), jobs.stop());
                return stopped;
            }
            graceful = stop_signal() => graceful?,
        };
        log::info!(
            "stopping ({})",
            if graceful { "graceful" } else { "immediate" }
        );
        // The server future must be polled for the stop to happen: the
        // handle's answer comes from it.
        let http = async {
            let ((), stopped) = tokio::join!(handle.stop(graceful), &mut server);
            stopped
        };
        let (stopped, (), ()) = tokio::join!(http, stop_webhooks(webhooks), jobs.stop());
        stopped
    }
}

async fn stop_webhooks(webhooks: Option<crate::webhook_worker::Running>) {
    if let Some(webhooks) = webhooks {
        webhooks.stop().await;
    }
}

/// How long a graceful stop lets the requests under way finish: Docker
/// sends SIGKILL 10 s after SIGTERM by default.
const SHUTDOWN_SECS: u64 = 10;

/// Waits for a stop signal: true for a graceful stop (SIGTERM), false for
/// an immediate one (SIGINT, SIGQUIT), as actix's own handling had it.
#[cfg(unix)]
async fn stop_signal() -> std::io::Result<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    Ok(tokio::select! {
        _ = term.recv() => true,
        _ = int.recv() => false,
        _ = quit.recv() => false,
    })
}

#[cfg(not(unix))]
async fn stop_signal() -> std::io::Result<bool> {
    tokio::signal::ctrl_c().await.map(|()| false)
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
