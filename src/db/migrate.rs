//! Embedded migrations, one set per backend, run at start-up.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConn;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub fn run(conn: &mut DbConn) -> Result<(), String> {
    let result = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map(|_| ()),
        DbConn::Postgresql(c) => c.run_pending_migrations(POSTGRES).map(|_| ()),
    };
    result.map_err(|e| format!("migrations failed: {e}"))
}
