//! Work the service does on its own schedule, inside the process.

use std::time::Duration;

use crate::config::Config;
use crate::db::{self, stats, Db};

/// Starts the periodic jobs: moving the 12-month window of the derived
/// figures (once at start, then every `stats_refresh_secs`).
pub fn spawn(db: Db, config: &Config) {
    let every = Duration::from_secs(config.stats_refresh_secs.max(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            let result = db
                .run(|conn| Ok(stats::refresh_windows(conn, db::now())?))
                .await;
            match result {
                Ok(n) => log::debug!("moved the 12-month window of {n} customers"),
                Err(e) => log::warn!("window refresh failed: {e}"),
            }
        }
    });
}
