//! `bench ceiling`: the machine's HTTP limit. A minimal actix-web server
//! (same framework, same worker count as Patron) answering every `GET` with
//! a constant JSON body: no routing table, no middleware, no database, no
//! auth. Whatever Patron does per request is measured against this.
//!
//! `GET /bytes/{n}` answers a constant JSON body of `n` bytes instead: the
//! limit for answers as big as a list page, where moving the bytes through
//! loopback and the load generator is a large part of the cost.
//!
//! ```text
//! bench ceiling [--bind 127.0.0.1:18200] [--workers N]
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

use actix_web::web::Bytes;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::args::Args;
use crate::BenchResult;

/// About the size of a small JSON answer (a card is ~1 KB; this is the
/// floor of any answer, not a card).
pub const BODY: &str =
    r#"{"id":1,"name":"ceiling","status":"ok","message":"a constant JSON body"}"#;

pub fn run(args: &Args) -> BenchResult<()> {
    let bind = args.string_or("bind", "127.0.0.1:18200");
    let workers: usize = args.number("workers", default_workers())?;
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new().default_service(web::to(|req: HttpRequest| async move {
                let body = match req.path().strip_prefix("/bytes/").map(str::parse) {
                    Some(Ok(n)) => sized_body(n),
                    _ => Bytes::from_static(BODY.as_bytes()),
                };
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body)
            }))
        })
        .workers(workers)
        .bind(&bind)
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("ceiling listening on {bind} with {workers} workers");
        server.run().await.map_err(|e| e.to_string())
    })
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Bodies above this are refused (answered with `BODY`): a typo must not
/// allocate gigabytes.
const MAX_BYTES: usize = 16 << 20;

thread_local! {
    /// Each worker builds a size's body once; answers share it.
    static SIZED: RefCell<HashMap<usize, Bytes>> = RefCell::new(HashMap::new());
}

/// A JSON document of `n` bytes (or the 10 of `{"pad":""}` if `n` is smaller).
fn sized_body(n: usize) -> Bytes {
    if n > MAX_BYTES {
        return Bytes::from_static(BODY.as_bytes());
    }
    SIZED.with(|cache| {
        cache
            .borrow_mut()
            .entry(n)
            .or_insert_with(|| {
                let pad = n.saturating_sub(r#"{"pad":""}"#.len());
                Bytes::from(format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad)))
            })
            .clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_bodies_are_json_of_the_asked_size() {
        for n in [10, 72, 65_000] {
            let body = sized_body(n);
            assert_eq!(body.len(), n);
            let value: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
            assert!(value["pad"].is_string());
        }
    }
}
