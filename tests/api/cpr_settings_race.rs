//! A purchase under way while `PUT /settings/cpr` saves new thresholds. The
//! purchase read the CPR settings without a lock: having read the old ones,
//! it could commit after the PUT's recompute had passed its card (its
//! purchase not yet visible to the recompute, which found nothing to move),
//! leaving a stage of the old thresholds until the hourly job. The purchase
//! now keeps the settings (`FOR SHARE`) until it commits, so the PUT's save
//! waits for it and the recompute sees its purchase. The test holds the
//! purchase after it read the settings (a trigger on its window update
//! waiting for an advisory lock the test holds), and lets it go once the
//! PUT waits for it, or after 3 s (it did not). PostgreSQL only: SQLite's
//! writers run one at a time.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::settings::{default_cpr, set_cpr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_under_way_is_recomputed_under_the_new_thresholds() {
    crate::helpers::run(purchase_under_way, Backend::Postgres).await;
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

async fn buy(app: &TestApp, token: &str, c: i64, amount: i64, days_ago: i64) {
    let at = (Utc::now() - chrono::Duration::days(days_ago)).format("%Y-%m-%dT%H:%M:%SZ");
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            token,
            &json!({"amount_cents": amount, "cost_cents": 0, "product": "Ginseng tea",
                    "occurred_at": at.to_string()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn purchase_under_way(app: TestApp) {
    let admin = app.admin_token().await;
    // No wallet: the stage follows purchases. A first purchase 200 days ago
    // (tenure enough for retention), out of a 6-month window: `conversion`
    // under any threshold.
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    buy(&app, &admin, c, 500, 200).await;
    let mut six = default_cpr();
    six["window_months"] = json!(6);
    set_cpr(&app, &admin, six.clone()).await;

    let mut watcher = PgConnection::establish(&app.database_url).unwrap();
    watcher
        .batch_execute(&format!(
            "CREATE FUNCTION hold_the_purchase() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NULL; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER hold_the_purchase AFTER UPDATE ON customers FOR EACH ROW \
             WHEN (NEW.id = {c} AND NEW.cpr_revenue_window_cents = 100 \
                   AND OLD.cpr_revenue_window_cents <> 100) \
             EXECUTE FUNCTION hold_the_purchase();"
        ))
        .unwrap();
    let mut holder = PgConnection::establish(&app.database_url).unwrap();
    holder
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({HOLD});"))
        .unwrap();

    // The second purchase: `penetration` under 4 purchases for retention,
    // `retention` under 2.
    let purchase = buy(&app, &admin, c, 100, 0);
    let change_meanwhile = async {
        let held = Instant::now();
        while waiting(&mut watcher, "l.locktype = 'advisory'") == 0 {
            assert!(held.elapsed() < Duration::from_secs(30), "never held");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut two = six.clone();
        two["retention_min_purchases"] = json!(2);
        let release = async {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3)
                && waiting(&mut watcher, "l.locktype <> 'advisory'") == 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            holder.batch_execute("COMMIT").unwrap();
        };
        tokio::join!(set_cpr(&app, &admin, two), release);
    };
    tokio::join!(purchase, change_meanwhile);

    let r = app.get(&format!("/api/v1/customers/{c}/cpr"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["stage"], "retention",
        "two purchases under retention_min_purchases = 2: {}",
        r.text
    );
}
