//! `bench ceiling`: the machine's HTTP limit. A minimal actix-web server
//! (same framework, same worker count as Patron) answering every `GET` with
//! a constant JSON body: no routing table, no middleware, no database, no
//! auth. Whatever Patron does per request is measured against this.
//!
//! ```text
//! bench ceiling [--bind 127.0.0.1:18200] [--workers N]
//! ```

use actix_web::{web, App, HttpResponse, HttpServer};

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
            App::new().default_service(web::to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(BODY)
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
