//! The process's log (the access log among it) on stderr.
//!
//! Every request writes an access-log line. Written straight to stderr that is
//! a system call on the worker thread that serves the request, under the
//! logger's lock: ~10 % of a card read's CPU (docs/BENCHMARKS.md, session 21).
//! When stderr is a file or a pipe (a service manager, a container), the lines
//! go through a channel to one thread that writes them in batches instead. On
//! a terminal they are written directly, in colour: a developer's console has
//! no load to speak of.

use std::io::IsTerminal;

/// Keeps the log's writer thread; dropping it writes out the lines still
/// queued. Hold it until the server has stopped.
#[must_use = "dropping the guard stops the log writer"]
pub struct Guard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Sets up `log` from `RUST_LOG` (default: `info`).
pub fn init() -> Guard {
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_web_prom=error"),
    );
    if std::io::stderr().is_terminal() {
        builder.init();
        return Guard { _writer: None };
    }
    // Not lossy: when the writer falls 128,000 lines behind, requests wait for
    // it (as they waited for stderr before) rather than lines being dropped.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("patron-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    builder
        .target(env_logger::Target::Pipe(Box::new(writer)))
        .init();
    Guard {
        _writer: Some(guard),
    }
}
