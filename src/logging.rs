//! The process's log (the access log among it) on stderr.
//!
//! Every request writes an access-log line. Written straight to stderr that is
//! a system call per request on the worker thread that serves it, under the
//! logger's lock: ~10 % of a card read's CPU (docs/BENCHMARKS.md, session 21).
//! When stderr is a file or a pipe (a service manager, a container), the lines
//! are copied into a 64 KiB buffer instead, written out when it fills and by a
//! flusher thread every 100 ms, so a busy server makes one system call per
//! few hundred lines and an idle one shows its lines within 0.1 s. (A channel
//! to a writer thread, tracing-appender's design, was tried first: at 10,000
//! requests/s it woke the writer for nearly every line, a context switch in
//! place of the write it saved; same section.) On a terminal the lines are
//! written directly, in colour: a developer's console has no load to speak of.
//!
//! Nothing is dropped: a full buffer is written by the request that fills it.
//! Lines still buffered are written when the `Guard` drops (at shutdown); a
//! SIGKILL loses at most the last 100 ms of them.

use std::io::{BufWriter, IsTerminal, Stderr, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

const BUFFER_BYTES: usize = 64 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(100);

type Shared = Arc<Mutex<BufWriter<Stderr>>>;

/// Set when the flusher has stopped: later lines (a thread outliving the
/// server) are written through instead of waiting for a flush that will not
/// come.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Keeps the log's flusher thread; dropping it writes out the lines still
/// buffered. Hold it until the server has stopped.
#[must_use = "dropping the guard stops the log's flusher"]
pub struct Guard {
    flusher: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.flusher.take() {
            drop(stop);
            let _ = thread.join();
            STOPPED.store(true, Ordering::Release);
        }
    }
}

/// The filter when `RUST_LOG` is unset or empty: the metrics middleware's
/// per-request warnings stay out.
const DEFAULT_FILTER: &str = "info,actix_web_prom=error";

/// Sets up `log` from `RUST_LOG` (default: `DEFAULT_FILTER`). Read as every
/// other setting is (`config::var`): an empty value (a deploy template's)
/// is the default, not env_logger's "errors only", which hid the access log
/// and the start-up warnings; a value that is not UTF-8 stops the start.
pub fn init() -> Result<Guard, String> {
    let filter = crate::config::var("RUST_LOG", DEFAULT_FILTER)?;
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&filter);
    if let Some(style) = crate::config::raw("RUST_LOG_STYLE")? {
        builder.parse_write_style(&style);
    }
    if std::io::stderr().is_terminal() {
        builder.init();
        return Ok(Guard { flusher: None });
    }
    let shared: Shared = Arc::new(Mutex::new(BufWriter::with_capacity(
        BUFFER_BYTES,
        std::io::stderr(),
    )));
    let (stop, stopped) = mpsc::channel::<()>();
    let flusher = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("patron-log".into())
            .spawn(move || flush_until_stopped(&shared, &stopped))
    };
    let Ok(thread) = flusher else {
        // Without the thread nothing would flush: write every line directly.
        builder.init();
        return Ok(Guard { flusher: None });
    };
    // A panic's message goes to stderr directly: the lines before it first.
    // `try_lock`: the panicking thread may be the one holding the buffer.
    let previous = std::panic::take_hook();
    let buffered = shared.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut buffer) = buffered.try_lock() {
            let _ = buffer.flush();
        }
        previous(info);
    }));
    builder
        .write_style(env_logger::WriteStyle::Never)
        .target(env_logger::Target::Pipe(Box::new(Lines(shared))))
        .init();
    Ok(Guard {
        flusher: Some((stop, thread)),
    })
}

fn flush_until_stopped(shared: &Shared, stopped: &mpsc::Receiver<()>) {
    loop {
        let last = !matches!(
            stopped.recv_timeout(FLUSH_EVERY),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let _ = lock(shared).flush();
        if last {
            return;
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, BufWriter<Stderr>> {
    // A panic while a line was copied leaves at worst a torn line.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// env_logger's target: copies each line into the shared buffer. Its
/// `flush`, which env_logger calls after every line, leaves the flushing to
/// the flusher thread while there is one.
struct Lines(Shared);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if STOPPED.load(Ordering::Acquire) {
            return lock(&self.0).flush();
        }
        Ok(())
    }
}
