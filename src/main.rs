use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use patron::auth::bootstrap::FirstAdmin;
use patron::config::Config;
use patron::startup::Application;

/// How long the runtime may take to end after a graceful stop before the
/// process exits anyway (see `serve`).
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

const USAGE: &str = "\
usage: patron [serve]       run the service (the default)
       patron openapi       print the OpenAPI spec (YAML) to stdout
       patron reset-admin-password <email>
                            set an active admin's new password, read as
                            one line from stdin, and revoke its tokens
       patron -h | --help   print this help
       patron -V | --version

Settings are environment variables (DATABASE_URL, PATRON_*), each with its
default and range in the Configuration section of README.md.
";

#[actix_web::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["serve"] => match serve().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["openapi"] => match patron::openapi::yaml() {
            Ok(yaml) => print_out(&yaml),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["reset-admin-password", email] => match reset_admin_password(email).await {
            Ok(done) => print_out(&format!("{done}\n")),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["reset-admin-password", ..] => {
            eprint!("error: reset-admin-password takes one argument, the admin's email\n{USAGE}");
            ExitCode::from(2)
        }
        ["-h" | "--help" | "help"] => print_out(USAGE),
        ["-V" | "--version"] => print_out(&format!("patron {}\n", env!("CARGO_PKG_VERSION"))),
        [command, ..] => {
            let known = [
                "serve",
                "openapi",
                "-h",
                "--help",
                "help",
                "-V",
                "--version",
            ];
            let what = if known.contains(command) {
                format!("{command} takes no arguments")
            } else {
                format!("unknown command {command:?}")
            };
            eprint!("error: {what}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Writes `text` to stdout. A reader that went away (`patron openapi |
/// head`) ends the command quietly, as for any tool in a pipe; `print!`
/// panicked on it.
fn print_out(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The start-up lines, on stdout; on stderr (the log) when stdout is a pipe
/// whose reader is gone (`patron | true`): `println!` panicked there, after
/// the first admin was created, and its generated password was never shown
/// (a review).
fn announce(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

async fn serve() -> Result<(), String> {
    let log_guard = patron::logging::init()?;
    let config = Config::from_env()?;
    if config.jwt_secret_generated {
        log::warn!(
            "PATRON_JWT_SECRET is not set: using a random secret; tokens end with this process"
        );
    }
    let bind = config.bind.clone();
    let admin_email = config.admin_email.clone();
    let app = Application::build(config).await?;
    let (base, scope) = base_url(&bind, app.port());
    let mut banner =
        format!("Patron is listening on {base}{scope}\n  Swagger UI: {base}/swagger-ui/\n");
    match &app.first_admin {
        FirstAdmin::Generated { email, password } => {
            banner += &format!("  First admin created: {email} / {password}\n");
            banner += "  (printed once; set PATRON_ADMIN_PASSWORD to choose it)\n";
        }
        FirstAdmin::Chosen { email } => {
            banner += &format!(
            "  Log in with POST {base}/api/v1/auth/token as {email} with PATRON_ADMIN_PASSWORD\n"
        )
        }
        // The database had users already: PATRON_ADMIN_EMAIL named the first
        // admin only, who may since have been renamed or disabled.
        FirstAdmin::Existing => {
            banner += &format!(
                "  Log in with POST {base}/api/v1/auth/token as an existing user (the first admin \
                 was {admin_email} unless PATRON_ADMIN_EMAIL differed then)\n"
            )
        }
    }
    announce(&banner);
    match app.run().await.map_err(|e| e.to_string())? {
        patron::startup::Stopped::Drained => {
            log::info!("Patron stopped");
            // Returning drops the runtime, which waits for every blocking
            // task: one the drain's 8 s cut off (a request's recompute, a
            // query waiting on a lock) held the process up, with the signal
            // handlers still installed, so a second signal did nothing. The
            // runtime gets a moment to end cleanly; then the process exits.
            std::thread::spawn(|| {
                std::thread::sleep(EXIT_GRACE);
                std::process::exit(0)
            });
            Ok(())
        }
        // Returning would drop the runtime, which waits for every blocking
        // task under way (a recompute chunk: seconds): an immediate stop
        // exits now instead. The database rolls back what was not committed.
        patron::startup::Stopped::Immediately => {
            log::info!("Patron stopped (immediate)");
            // `exit` runs no destructor: the log's buffered lines first.
            drop(log_guard);
            std::process::exit(0)
        }
    }
}

/// `patron reset-admin-password <email>`, with the settings `serve` reads
/// (`DATABASE_URL` and the database's). Stop the server first on SQLite: it
/// holds its file (`PATRON_SQLITE_LOCKING`).
async fn reset_admin_password(email: &str) -> Result<String, String> {
    let _log_guard = patron::logging::init()?;
    let config = Config::from_env()?;
    let password = read_password()?;
    patron::auth::reset::reset_admin_password(&config, email, password).await
}

/// One line of stdin, without its line ending. On a terminal a prompt
/// first, on stderr (stdout says what was done); the line shows as typed.
fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("New password (10 to 128 characters, shown as typed): ");
    }
    let mut line = String::new();
    let read = stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the new password from stdin: {e}"))?;
    if read == 0 {
        return Err("no new password on stdin: give it as one line".into());
    }
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

/// The address to print, and what a wildcard bind (`0.0.0.0`, `[::]`, the
/// container's) covers: a browser on Windows cannot open `0.0.0.0`, so the
/// loopback stands for it.
fn base_url(bind: &str, port: u16) -> (String, &'static str) {
    let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
    match host {
        "0.0.0.0" => (format!("http://127.0.0.1:{port}"), " (all IPv4 interfaces)"),
        "[::]" => (format!("http://[::1]:{port}"), " (all interfaces)"),
        _ => (format!("http://{host}:{port}"), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn a_wildcard_bind_prints_the_loopback() {
        assert_eq!(
            base_url("0.0.0.0:8080", 8080),
            ("http://127.0.0.1:8080".into(), " (all IPv4 interfaces)")
        );
        assert_eq!(
            base_url("[::]:9000", 9000),
            ("http://[::1]:9000".into(), " (all interfaces)")
        );
        assert_eq!(
            base_url("127.0.0.1:0", 41234),
            ("http://127.0.0.1:41234".into(), "")
        );
    }
}
