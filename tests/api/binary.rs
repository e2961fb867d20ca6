//! The real `patron` binary as a child process, for the tests that need what
//! only a process has: SIGKILL (crash safety) and its own stderr (the log).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "binary-test-password-1";
const JWT_SECRET: &str = "binary-test-secret-binary-test-secret-binary";

pub struct Server {
    child: Child,
    pub base: String,
}

/// The binary, configured for `database_url`, not yet started.
pub fn command(database_url: &str, rust_log: &str) -> Command {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_patron"));
    // The server's settings are the test's alone: a `PATRON_*` exported in
    // the shell that runs the suite (`PATRON_SQLITE_LOCKING=shared` from the
    // backup advice, a low login limit) made tests fail for reasons outside
    // the code. (libpq's `PG*` stay: the in-process tests connect with them
    // too, and a password may come from there.)
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PATRON_") {
            command.env_remove(&key);
        }
    }
    command
        .env("DATABASE_URL", database_url)
        .env("PATRON_BIND", format!("127.0.0.1:{port}"))
        .env("PATRON_JWT_SECRET", JWT_SECRET)
        .env("PATRON_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("PATRON_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PATRON_WORKERS", "2")
        // Webhook receivers of the tests listen on loopback.
        .env("PATRON_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8, ::1/128")
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null());
    command
}

/// The address `command` (from [`command`]) will listen on.
pub fn bind_of(command: &Command) -> String {
    command
        .get_envs()
        .find(|(k, _)| *k == "PATRON_BIND")
        .and_then(|(_, v)| v)
        .map(|v| v.to_string_lossy().to_string())
        .expect("PATRON_BIND")
}

impl Server {
    /// Starts the binary on a free port and waits until `/readyz` answers 200.
    pub async fn start(database_url: &str, rust_log: &str, stderr: Stdio) -> Server {
        let mut command = command(database_url, rust_log);
        command.stderr(stderr);
        Server::spawn(command).await
    }

    /// Starts `command` (from [`command`]) and waits until it is ready.
    pub async fn spawn(mut command: Command) -> Server {
        let bind = bind_of(&command);
        let child = command.spawn().expect("the server binary starts");
        let server = Server {
            child,
            base: format!("http://{bind}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            assert!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A token of the first admin.
    pub async fn admin_token(&self, client: &reqwest::Client) -> String {
        let r = client
            .post(format!("{}/api/v1/auth/token", self.base))
            .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("login");
        let body: serde_json::Value = r.json().await.expect("login body");
        body["access_token"].as_str().expect("a token").to_string()
    }

    /// SIGKILL (std's `kill` on Unix): no shutdown hook runs.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// SIGTERM, as a service manager stops it, and waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.send_term();
        self.exit_within(Duration::from_secs(30))
            .expect("the server did not stop")
    }

    /// SIGTERM, without waiting.
    pub fn send_term(&self) {
        self.send_signal("TERM");
    }

    /// The signal `name` (`TERM`, `INT`, `QUIT`), without waiting. Sent by
    /// a system call, not `kill(1)`: container images without procps have
    /// none (a review: the suite needs nothing the README does not list).
    pub fn send_signal(&self, name: &str) {
        use rustix::process::{kill_process, Pid, Signal};
        let signal = match name {
            "TERM" => Signal::TERM,
            "INT" => Signal::INT,
            "QUIT" => Signal::QUIT,
            other => panic!("no signal {other} in these tests"),
        };
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(Pid::from_raw)
            .expect("the child's pid");
        kill_process(pid, signal).unwrap_or_else(|e| panic!("kill -{name}: {e}"));
    }

    /// The exit status, if the process exits within `bound`.
    pub fn exit_within(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its stderr, when it was started with `Stdio::piped()`.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
