//! Patron's benchmarks: a data generator and measurements through the real
//! HTTP stack. Run them with `bench/run` (see docs/BENCHMARKS.md); this
//! binary is the engine behind that script.
//!
//! ```text
//! bench seed     --database-url URL --customers N --activity M [--seed S] [--fresh]
//! bench activity --database-url URL [--requests K] [--clients 1,4] [--seed S]
//! bench pyramid  --database-url URL [--requests K]
//! bench serve    --database-url URL [--bind 127.0.0.1:8080]
//! bench probe    --database-url URL
//! bench http     --database-url URL [--duration 10] [--connections 64] [--soak-minutes M]
//! bench ceiling  [--bind 127.0.0.1:18200] [--workers N]
//! ```
//!
//! `seed` fills a fresh database with a realistic, reproducible data set
//! (same seed, same rows, on either backend); `activity` measures the
//! timeline and the due follow-ups against it; `serve` runs the app on a
//! seeded database and prints a token, for external load tools (wrk, oha);
//! `probe` exits 0 when the database answers.

mod args;
mod ceiling;
mod client;
mod gen;
mod http;
mod latency;
mod oha;
mod procstat;
mod pyramid;
mod reports;
mod scenarios;
mod seed;
mod server;
mod soak;
mod sync;
mod sync_orders;

use std::process::ExitCode;

use args::Args;

/// Every error of the bench is reported as a message; nothing panics.
pub type BenchResult<T> = Result<T, String>;

const USAGE: &str = "usage:
  bench seed     --database-url URL --customers N --activity M [--seed S] [--fresh]
  bench activity --database-url URL [--requests K] [--clients 1,4] [--seed S]
  bench pyramid  --database-url URL [--requests K]
  bench serve    --database-url URL [--bind ADDR]
  bench probe    --database-url URL
  bench sync     --database-url URL [--customers 100000] [--batch 1000] [--readers 1] [--streams 1] [--orders N]
  bench sync     --database-url URL --export-only
  bench http     --database-url URL [--patron target/release/patron] [--oha target/tools/bin/oha]
                 [--port 18200] [--duration 10] [--connections 64] [--workers N]
                 [--soak-minutes M] [--soak-sample-secs 10]
  bench ceiling  [--bind 127.0.0.1:18200] [--workers N]

URLs: sqlite://PATH or postgres://user:pass@host:port/db
  --fresh   delete the SQLite file / drop and recreate the PostgreSQL database first
  seed also takes --interaction-share F (default 0.6) and --wallets (wallet sizes for 40 %)";

fn main() -> ExitCode {
    // The suites that run Patron in this process (pyramid, sync) show its
    // warnings on stderr: a failing start-up job is otherwise invisible.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> BenchResult<()> {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let args = Args::parse(argv)?;
    match command.as_str() {
        "seed" => seed::run(&args),
        "activity" => scenarios::activity(&args),
        "pyramid" => pyramid::run(&args),
        "serve" => server::serve(&args),
        "probe" => seed::probe(&args),
        "sync" => sync::run(&args),
        "http" => http::run(&args),
        "ceiling" => ceiling::run(&args),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}
