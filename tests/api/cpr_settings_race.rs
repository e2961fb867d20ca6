//! A purchase under way while `PUT /settings/cpr` (or `/settings/loyalty`)
//! saves new thresholds. The purchase read the settings without a lock:
//! having read the old ones, it could commit after the PUT's recompute had
//! passed its card (its purchase not yet visible to the recompute, which
//! found nothing to move), leaving a stage (a type) of the old thresholds
//! until the hourly job. The purchase now keeps the settings (a shared
//! advisory lock) until it commits, so the PUT's save waits for it and the
//! recompute sees its purchase; on a new database too, where no settings
//! row exists (a `FOR SHARE` on that row locked nothing there). The test
//! holds the purchase after it read the settings (a trigger on its write
//! waiting for an advisory lock the test holds), and lets it go once the
//! PUT waits for it, or after 3 s (it did not). PostgreSQL only: SQLite's
//! writers run one at a time.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::cpr_window::buy;
use crate::helpers::{Backend, TestApp};
use crate::settings::{default_cpr, put, set_cpr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_under_way_is_recomputed_under_the_new_thresholds() {
    crate::helpers::run(
        |app| purchase_under_way(app, Saved::Before),
        Backend::Postgres,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_under_way_on_a_new_database_is_recomputed_under_the_new_thresholds() {
    crate::helpers::run(
        |app| purchase_under_way(app, Saved::Never),
        Backend::Postgres,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_under_way_gets_the_new_loyalty_thresholds() {
    crate::helpers::run(loyalty_purchase_under_way, Backend::Postgres).await;
}

/// Whether the CPR settings were saved before the race.
#[derive(Clone, Copy, PartialEq)]
enum Saved {
    Before,
    /// Never: the defaults, no settings row.
    Never,
}

/// Held by the test while the purchase waits.
const HOLD: i64 = 0x6370_7273;

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Lock waits matching `condition` in the test's own database.
fn waiting(conn: &mut PgConnection, condition: &str) -> i64 {
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE {condition} AND NOT l.granted AND a.datname = current_database()"
    ))
    .get_result::<N>(conn)
    .expect("a count")
    .n
}

/// Holds the purchase at its write `on` (`UPDATE ON customers`) of a row
/// matching `when` (a trigger), and returns the watcher and the holder's
/// connections.
fn hold(app: &TestApp, on: &str, when: &str) -> (PgConnection, PgConnection) {
    let mut watcher = PgConnection::establish(&app.database_url).unwrap();
    watcher
        .batch_execute(&format!(
            "CREATE FUNCTION hold_the_purchase() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NULL; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER hold_the_purchase AFTER {on} FOR EACH ROW \
             WHEN ({when}) EXECUTE FUNCTION hold_the_purchase();"
        ))
        .unwrap();
    let mut holder = PgConnection::establish(&app.database_url).unwrap();
    holder
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({HOLD});"))
        .unwrap();
    (watcher, holder)
}

/// Runs `purchase` and, once it is held, `change`; lets the purchase go
/// when something else waits (the PUT, for it) or after 3 s.
async fn race(
    mut watcher: PgConnection,
    mut holder: PgConnection,
    purchase: impl std::future::Future<Output = ()>,
    change: impl std::future::Future<Output = ()>,
) {
    let held_here = format!("l.locktype = 'advisory' AND l.objid = {HOLD}");
    let change_meanwhile = async {
        let held = Instant::now();
        while waiting(&mut watcher, &held_here) == 0 {
            assert!(held.elapsed() < Duration::from_secs(30), "never held");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let release = async {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3)
                && waiting(&mut watcher, &format!("NOT ({held_here})")) == 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            holder.batch_execute("COMMIT").unwrap();
        };
        tokio::join!(change, release);
    };
    tokio::join!(purchase, change_meanwhile);
}

async fn purchase_under_way(app: TestApp, saved: Saved) {
    let admin = app.admin_token().await;
    // No wallet: the stage follows purchases. A first purchase out of the
    // window (6 months saved; 12, the default, never saved), with tenure
    // enough for retention: `conversion` under any threshold.
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    let mut before = default_cpr();
    if saved == Saved::Before {
        buy(&app, &admin, c, 500, 200).await;
        before["window_months"] = json!(6);
        set_cpr(&app, &admin, before.clone()).await;
    } else {
        buy(&app, &admin, c, 500, 400).await;
        let r = app.get("/api/v1/settings/cpr", &admin).await;
        let etag = r.header("etag").unwrap_or_default();
        assert!(etag.starts_with("\"0."), "never saved: {etag} {}", r.text);
    }

    let (watcher, holder) = hold(
        &app,
        "UPDATE ON customers",
        &format!(
            "NEW.id = {c} AND NEW.cpr_revenue_window_cents = 100 \
             AND OLD.cpr_revenue_window_cents <> 100"
        ),
    );
    // The second purchase: `penetration` under 4 purchases for retention,
    // `retention` under 2.
    let mut two = before.clone();
    two["retention_min_purchases"] = json!(2);
    race(watcher, holder, buy(&app, &admin, c, 100, 0), async {
        set_cpr(&app, &admin, two).await;
    })
    .await;

    let r = app.get(&format!("/api/v1/customers/{c}/cpr"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["stage"], "retention",
        "two purchases under retention_min_purchases = 2: {}",
        r.text
    );
}

async fn loyalty_purchase_under_way(app: TestApp) {
    let admin = app.admin_token().await;
    // Satisfied (attitude), no wallet: the type follows the purchases in
    // the window. Loyalty settings never saved (defaults: 2 purchases).
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Loyal"}))
        .await
        .id();
    app.execute_sql(&format!(
        "UPDATE customers SET satisfaction_overall = 5 WHERE id = {c}"
    ));
    buy(&app, &admin, c, 500, 10).await;
    let r = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(r.body["loyalty_type"], "latent", "{}", r.text);

    // The second purchase moves the card to `high` under 2 purchases, held
    // at its event; the PUT asks for 3: `latent` again.
    let (watcher, holder) = hold(
        &app,
        "INSERT ON customer_events",
        &format!(
            "NEW.customer_id = {c} AND NEW.kind = 'loyalty_changed' AND NEW.to_value = 'high'"
        ),
    );
    race(watcher, holder, buy(&app, &admin, c, 100, 0), async {
        let r = put(
            &app,
            "/api/v1/settings/loyalty",
            &admin,
            None,
            &json!({"attitude_min_satisfaction": 4.0, "window_months": 12,
                            "repeat_min_purchases": 3, "share_of_wallet_min": 0.5}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    })
    .await;

    let r = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(
        r.body["loyalty_type"], "latent",
        "two purchases under repeat_min_purchases = 3: {}",
        r.text
    );
}
