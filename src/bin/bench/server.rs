//! The application under test, started in this process on a free port.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use patron::config::Config;
use patron::startup::Application;

use crate::args::Args;
use crate::client::Client;
use crate::BenchResult;

/// The seeded admin (a benchmark database only: the password is public).
pub const ADMIN_EMAIL: &str = "admin@bench.local";
pub const ADMIN_PASSWORD: &str = "bench-admin-password";
/// Every seeded sales user (`sales01@bench.local` …) has this password.
pub const SALES_PASSWORD: &str = "bench-sales-password";

pub struct Running {
    pub addr: SocketAddr,
    pub workers: usize,
    pub pool_size: u32,
    handle: ServerHandle,
    runtime: tokio::runtime::Runtime,
}

impl Running {
    /// Starts Patron on `database_url` with the production defaults for
    /// workers (one per CPU) and pool size (`config::default_pool_size`).
    pub fn start(database_url: &str, bind: &str) -> BenchResult<Running> {
        let mut config = Config::for_database(database_url);
        config.bind = bind.to_string();
        config.admin_email = ADMIN_EMAIL.to_string();
        config.admin_password = Some(ADMIN_PASSWORD.to_string());
        config.workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        config.pool_size = patron::config::default_pool_size(database_url, config.workers);
        let (workers, pool_size) = (config.workers, config.pool_size);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let app = runtime.block_on(Application::build(config))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
        let server = app.server();
        let handle = server.handle();
        runtime.spawn(server);
        Ok(Running {
            addr,
            workers,
            pool_size,
            handle,
            runtime,
        })
    }

    /// Logs in and returns an access token.
    pub fn login(&self, email: &str, password: &str) -> BenchResult<String> {
        let mut client = Client::connect(self.addr)?;
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let resp = client.post_json("/api/v1/auth/token", &body)?;
        if resp.status != 200 {
            return Err(format!(
                "login as {email} failed: {} {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            ));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&resp.body).map_err(|e| format!("login response: {e}"))?;
        json["access_token"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| "login response without access_token".to_string())
    }

    pub fn stop(self) {
        self.runtime.block_on(self.handle.stop(true));
    }
}

/// `bench serve`: Patron on a seeded database, with a token printed for
/// external load tools (`wrk -H "Authorization: Bearer $TOKEN" …`).
pub fn serve(args: &Args) -> BenchResult<()> {
    let url = args.string("database-url")?;
    let bind = args.string_or("bind", "127.0.0.1:8080");
    let running = Running::start(&url, &bind)?;
    let token = running.login(ADMIN_EMAIL, ADMIN_PASSWORD)?;
    println!("Patron (bench) is listening on {bind}");
    println!("TOKEN={token}");
    println!("Press Ctrl-C to stop.");
    running
        .runtime
        .block_on(tokio::signal::ctrl_c())
        .map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
    running.stop();
    Ok(())
}
