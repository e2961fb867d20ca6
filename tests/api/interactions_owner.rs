//! `GET /interactions?owner_id=` lists the contacts on the cards a user owns
//! now: when a manager hands a card to another rep, the follow-ups owed and
//! the open complaints on it come with it. Filtered only by `user_id` (the
//! author), they stayed in the list of the rep who logged them, and the new
//! owner's morning list missed them (an outside review).

use chrono::{Duration, Utc};
use serde_json::json;

use crate::activity_interactions::{customer, interact, interactions_of, iso};
use crate::backend_tests;
use crate::customers_list::plans::{plan_bound, Bind};
use crate::helpers::{ids_of, Backend, TestApp};

backend_tests!(
    a_handed_over_card_brings_its_follow_ups_and_complaints,
    owner_id_is_a_user_id,
    the_owner_lists_do_not_scan_the_history,
);

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    ids_of(
        &app.get(&format!("/api/v1/interactions?{query}"), token)
            .await,
    )
}

async fn a_handed_over_card_brings_its_follow_ups_and_complaints(app: TestApp) {
    let (_, manager) = app.user_with_role("manager").await;
    let (a, rep_a) = app.user_with_role("sales").await;
    let (b, rep_b) = app.user_with_role("sales").await;
    let inherited = customer(&app, &rep_a, "Handed over").await;
    let own = customer(&app, &rep_b, "B's own").await;
    let due = |hours: i64| iso(Utc::now() - Duration::hours(hours));
    let owed = interact(
        &app,
        &rep_a,
        inherited,
        json!({"type": "call", "summary": "Call back about the quote", "follow_up_at": due(3)}),
    )
    .await
    .id();
    let complaint = interact(
        &app,
        &rep_a,
        inherited,
        json!({"type": "complaint", "summary": "Late delivery"}),
    )
    .await
    .id();
    let b_owes = interact(
        &app,
        &rep_b,
        own,
        json!({"type": "visit", "summary": "Bring samples", "follow_up_at": due(1)}),
    )
    .await
    .id();
    let morning = format!("follow_up_before={}", iso(Utc::now()));
    assert_eq!(
        listed(&app, &rep_b, &format!("{morning}&owner_id={b}")).await,
        vec![b_owes]
    );

    // The manager hands rep A's card to rep B.
    let r = app
        .patch(
            &format!("/api/v1/customers/{inherited}"),
            &manager,
            &json!({"owner_id": b}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // B's morning list now holds what is owed on the inherited card, by
    // follow-up date, and pages without loss.
    let mine = format!("{morning}&owner_id={b}");
    assert_eq!(listed(&app, &rep_b, &mine).await, vec![owed, b_owes]);
    let first = app
        .get(&format!("/api/v1/interactions?{mine}&limit=1"), &rep_b)
        .await;
    assert_eq!(ids_of(&first), vec![owed]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(
        listed(&app, &rep_b, &format!("{mine}&limit=1&cursor={cursor}")).await,
        vec![b_owes]
    );
    assert_eq!(
        listed(&app, &rep_b, &format!("complaint_status=open&owner_id={b}")).await,
        vec![complaint]
    );
    // A owns nothing any more; the author filter still names who logged it.
    assert!(listed(&app, &rep_a, &format!("{morning}&owner_id={a}"))
        .await
        .is_empty());
    assert_eq!(
        listed(&app, &rep_a, &format!("{morning}&user_id={a}")).await,
        vec![owed]
    );
    // Filters combine: the card's owner and the contact's author.
    assert_eq!(
        listed(&app, &manager, &format!("owner_id={b}&user_id={a}&sort=id")).await,
        vec![owed, complaint]
    );
    // Once done, a follow-up leaves the new owner's list as any other.
    let r = app
        .patch(
            &format!("{}/{owed}", interactions_of(inherited)),
            &rep_b,
            &json!({"follow_up_done": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(listed(&app, &rep_b, &mine).await, vec![b_owes]);
}

async fn owner_id_is_a_user_id(app: TestApp) {
    let (_, token) = app.user_with_role("sales").await;
    let c = customer(&app, &token, "Queries").await;
    interact(&app, &token, c, json!({"type": "call", "summary": "hello"})).await;
    for query in ["owner_id=me", "owner_id=1.5", "owner_id="] {
        let r = app
            .get(&format!("/api/v1/interactions?{query}"), &token)
            .await;
        r.problem(400);
        // A known parameter with a bad value, not an unknown one.
        assert_ne!(r.code_of("owner_id"), "unknown_field", "{}", r.text);
    }
    // An id no user has lists nothing, as on the other lists.
    assert!(listed(&app, &token, "owner_id=999999").await.is_empty());
    // On a customer's own list the path names the card; the filter still
    // applies (another owner lists none of it).
    let r = app
        .get(&format!("{}?owner_id=999999", interactions_of(c)), &token)
        .await;
    assert!(ids_of(&r).is_empty());
}

/// The plan of `sql` with the owner (7) and the value bound to `$1` and
/// `$2`, as the list binds them, one step a line.
fn plan(app: &TestApp, sql: &str) -> String {
    plan_bound(
        app,
        sql,
        &[Bind::Int(7), Bind::Text("open")],
        &["enable_seqscan"],
    )
}

/// The queries `db::interactions::page` builds for the owner's morning
/// list and open complaints, parameters bound.
async fn the_owner_lists_do_not_scan_the_history(app: TestApp) {
    let owned = "interactions.customer_id IN (SELECT customers.id FROM customers WHERE customers.owner_id = $1)";
    let morning = format!(
        "SELECT interactions.id FROM interactions WHERE {owned} \
         AND interactions.follow_up_at < '2030-01-01 00:00:00' AND interactions.follow_up_done_at IS NULL \
         AND interactions.follow_up_at IS NOT NULL AND $2 = $2 \
         ORDER BY interactions.follow_up_at, interactions.id LIMIT 51"
    );
    let complaints = format!(
        "SELECT interactions.id FROM interactions WHERE {owned} \
         AND interactions.complaint_status = $2 \
         ORDER BY interactions.occurred_at DESC, interactions.id DESC LIMIT 51"
    );
    match app.backend {
        Backend::Sqlite => {
            let p = plan(&app, &morning);
            assert!(p.contains("interactions_customer_follow_up"), "{p}");
            // Card by card (SQLite matches no bound value to a partial
            // index's condition), never the whole table.
            let p = plan(&app, &complaints);
            assert!(p.contains("SEARCH interactions USING INDEX"), "{p}");
            assert!(!p.contains("SCAN interactions"), "{p}");
        }
        Backend::Postgres => {
            // PostgreSQL plans by its statistics: on an empty table any
            // plan is as good, and with sequential scans off any index of
            // the table avoids one. With a few cards owned by 7 among
            // thousands, and a history of 30 contacts a card of which one is
            // owed and one an open complaint, each list must go card by card
            // through its own partial index: not through every open
            // follow-up in time order, nor through each card's history.
            app.execute_sql(
                "INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
                 SELECT g, 'owner' || g || '@x.io', 'Owner', 'sales', 'x', TRUE, now(), now() \
                 FROM generate_series(7, 8) g; \
                 INSERT INTO customers (kind, name, owner_id, created_at, updated_at) \
                 SELECT 'individual', 'card ' || g, CASE WHEN g <= 5 THEN 7 ELSE 8 END, now(), now() \
                 FROM generate_series(1, 3000) g; \
                 INSERT INTO interactions (customer_id, type, occurred_at, user_id, summary, follow_up_at, \
                   complaint_status, created_at, updated_at) \
                 SELECT c.id, 'call', now() - g * interval '1 day', c.owner_id, 'history', \
                   CASE WHEN g = 1 THEN now() END, CASE WHEN g = 2 THEN 'open' END, now(), now() \
                 FROM customers c, generate_series(1, 30) g WHERE c.name LIKE 'card %'; \
                 ANALYZE customers; ANALYZE interactions;",
            );
            let p = plan(&app, &morning);
            assert!(p.contains("interactions_customer_follow_up"), "{p}");
            let p = plan(&app, &complaints);
            assert!(p.contains("interactions_open_complaints"), "{p}");
        }
    }
}
