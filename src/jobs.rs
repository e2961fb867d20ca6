//! Work the service does on its own schedule, inside the process.

use std::time::Duration;

use crate::config::Config;
use crate::db::{self, cpr, loyalty, settings, stats, Db};
use crate::domain::cpr::CprSettings;
use crate::domain::loyalty::LoyaltySettings;

/// Starts the periodic jobs: moving the 12-month window of the derived
/// figures and the CPR window (which can move a customer's stage as old
/// purchases leave it), once at start, then every `stats_refresh_secs`.
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
            let result = db
                .run(|conn| {
                    let (s, _) = settings::get::<CprSettings>(conn, settings::CPR)?;
                    Ok(cpr::refresh_all(conn, &s, db::now())?)
                })
                .await;
            match result {
                Ok(n) => log::debug!("CPR recompute: {n} stage changes"),
                Err(e) => log::warn!("CPR recompute failed: {e}"),
            }
            // After the CPR refresh: loyalty reads the share of wallet it sets,
            // and purchases leave the loyalty window as time passes.
            let result = db
                .run(|conn| {
                    let (s, _) = settings::get::<LoyaltySettings>(conn, settings::LOYALTY)?;
                    Ok(loyalty::refresh_all(conn, &s, db::now())?)
                })
                .await;
            match result {
                Ok(n) => log::debug!("loyalty recompute: {n} type changes"),
                Err(e) => log::warn!("loyalty recompute failed: {e}"),
            }
        }
    });
}
