//! Two instances starting at once on a database that has never been
//! migrated (a first deploy with two replicas, a rolling deploy): both start,
//! and there is one first admin. Without a lock around the migrations the
//! second failed ("relation users already exists", "column ... already
//! exists") and exited; without one around the first admin it could insert
//! a second one and exit on the unique email.

use diesel::{Connection, RunQueryDsl};
use patron::config::Config;
use patron::startup::Application;

use crate::helpers::EmptyPgDatabase;

/// Rounds per engine: the race is not forced, it is made likely.
const ROUNDS: usize = 4;

/// Builds two applications on `url` at once; both must start.
async fn start_two(url: &str) {
    let builds = [Config::for_database(url), Config::for_database(url)].map(|mut config| {
        config.webhook_poll_ms = 0;
        // As two processes may share an SQLite file (by default the first
        // holds it and the second stops, saying so).
        config.sqlite_locking = patron::db::SqliteLocking::Shared;
        tokio::spawn(Application::build(config))
    });
    for build in builds {
        let app = build
            .await
            .expect("the build task")
            .expect("the app starts");
        drop(app);
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

const ADMINS: &str = "SELECT COUNT(*) AS n FROM users WHERE role = 'admin'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_migrate_a_new_database_at_once_sqlite() {
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("race.db").to_string_lossy().to_string();
        start_two(&format!("sqlite://{path}")).await;
        let mut conn = crate::helpers::open_sqlite(&path);
        let admins: Count = diesel::sql_query(ADMINS)
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(admins.n, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_migrate_a_new_database_at_once_postgres() {
    for round in 0..ROUNDS {
        let Some(db) = EmptyPgDatabase::create(&format!("start_race_{round}")) else {
            return;
        };
        start_two(&db.url).await;
        let mut conn = diesel::PgConnection::establish(&db.url).expect("the database");
        let admins: Count = diesel::sql_query(ADMINS)
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(admins.n, 1);
    }
}
