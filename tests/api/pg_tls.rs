//! Found by a review: libpq was compiled without TLS, so a PostgreSQL that
//! requires it (a managed one, `sslmode=require` in `DATABASE_URL`) could not
//! be reached at all ("sslmode value \"require\" invalid when SSL support is
//! not compiled in"), and one that merely allows it was spoken to in clear.
//! PostgreSQL only; Debian's server has TLS on (a self-signed certificate),
//! which `sslmode=require` accepts (it encrypts without verifying the
//! server; `verify-full` with `sslrootcert` does that).

use diesel::sql_types::Bool;
use diesel::{QueryableByName, RunQueryDsl};
use patron::startup::Application;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sslmode_require_connects_over_tls() {
    crate::helpers::run(sslmode_require_connects_over_tls, Backend::Postgres).await;
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

async fn sslmode_require_connects_over_tls(app: TestApp) {
    let mut config = app.config.clone();
    let separator = if config.database_url.contains('?') {
        '&'
    } else {
        '?'
    };
    config.database_url = format!("{}{separator}sslmode=require", config.database_url);
    let started = Application::build(config)
        .await
        .expect("starts with sslmode=require");
    let ssl = started
        .db
        .run(|conn| {
            Ok(
                diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .get_result::<Ssl>(conn)?,
            )
        })
        .await
        .expect("the connection's TLS state");
    assert!(ssl.ssl, "the connection is not encrypted");
}
