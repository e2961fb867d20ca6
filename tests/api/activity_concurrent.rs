//! Purchases and interactions of one customer sent at once. On SQLite they
//! are committed in groups (several requests' writes in one transaction, each
//! in a savepoint): one that fails rolls back alone, and the card's figures
//! count every one that was answered 201, once.

use serde_json::json;

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;

backend_tests!(
    concurrent_purchases_and_interactions_of_one_customer_all_count,
    a_first_purchase_and_a_currency_change_at_once_never_mix_currencies,
    a_contact_added_as_the_card_is_archived_goes_before_the_archive_or_not_at_all,
    a_stage_change_is_dated_after_the_write_it_waited_for,
);

/// 12 purchases (the last 3 share an external id: 2 conflict) and 12
/// interactions (4 logged for a user who does not exist: 422), all at once.
async fn concurrent_purchases_and_interactions_of_one_customer_all_count(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    let (_, start) = read_all(&app, &admin, None, "&types=transaction,interaction", 100).await;
    let purchases: Vec<_> = (0..12)
        .map(|i| {
            let external_id = if i < 9 {
                format!("order-{i}")
            } else {
                "order-shared".into()
            };
            json!({"amount_cents": 1_000 * (i + 1), "cost_cents": 0, "product": "Tea",
                   "external_id": external_id})
        })
        .collect();
    let interactions: Vec<_> = (0..12)
        .map(|i| {
            let mut body = json!({"type": "call", "summary": format!("Call {i}")});
            if i % 3 == 0 {
                body["user_id"] = json!(999_999);
            }
            body
        })
        .collect();
    let (purchases_url, interactions_url) = (
        format!("/api/v1/customers/{c}/transactions"),
        format!("/api/v1/customers/{c}/interactions"),
    );
    let sent_purchases = purchases
        .iter()
        .map(|b| app.post(&purchases_url, &admin, b));
    let sent_interactions = interactions
        .iter()
        .map(|b| app.post(&interactions_url, &admin, b));
    let (purchased, logged) = futures_util::future::join(
        futures_util::future::join_all(sent_purchases),
        futures_util::future::join_all(sent_interactions),
    )
    .await;

    let mut revenue = 0;
    let mut conflicts = 0;
    for (i, r) in purchased.iter().enumerate() {
        match r.status {
            201 => revenue += r.body["amount_cents"].as_i64().unwrap_or_default(),
            409 if i >= 9 => conflicts += 1,
            other => panic!("purchase {i} answered {other}: {}", r.text),
        }
    }
    assert_eq!(conflicts, 2);
    let mut refused = 0;
    for (i, r) in logged.iter().enumerate() {
        match r.status {
            201 => assert_eq!(r.body["summary"], format!("Call {i}"), "{}", r.text),
            422 if i % 3 == 0 => {
                assert!(r.text.contains("user_id"), "{}", r.text);
                refused += 1;
            }
            other => panic!("interaction {i} answered {other}: {}", r.text),
        }
    }
    assert_eq!(refused, 4);

    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.status, 200, "{}", card.text);
    assert_eq!(
        card.body["revenue_12m_cents"],
        json!(revenue),
        "{}",
        card.text
    );
    for (path, count) in [("transactions", 10), ("interactions", 8)] {
        let r = app
            .get(&format!("/api/v1/customers/{c}/{path}?limit=100"), &admin)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["items"].as_array().map(Vec::len),
            Some(count),
            "{path}"
        );
    }
    let (changes, _) = read_all(
        &app,
        &admin,
        Some(&start),
        "&types=transaction,interaction",
        100,
    )
    .await;
    let created = |kind: &str| {
        changes
            .iter()
            .filter(|ch| ch["entity_type"] == kind && ch["operation"] == "created")
            .count()
    };
    assert_eq!((created("transaction"), created("interaction")), (10, 8));
}

/// A card's currency may change only while it has no transactions. A first
/// purchase sent as the currency changes read the card before it was locked
/// (PostgreSQL): it was recorded in the old currency while the change went
/// through, and the card was left summing two currencies for good.
async fn a_first_purchase_and_a_currency_change_at_once_never_mix_currencies(app: TestApp) {
    let admin = app.admin_token().await;
    for i in 0..12 {
        let c = app
            .create_customer(
                &admin,
                json!({"kind": "individual", "name": format!("Race {i}")}),
            )
            .await
            .id();
        let (bought, changed) = futures_util::future::join(
            app.post(
                &format!("/api/v1/customers/{c}/transactions"),
                &admin,
                &json!({"amount_cents": 100, "product": "Tea"}),
            ),
            app.patch(
                &format!("/api/v1/customers/{c}"),
                &admin,
                &json!({"currency": "USD"}),
            ),
        )
        .await;
        assert_eq!(bought.status, 201, "{}", bought.text);
        let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
        let currency = card.body["currency"]
            .as_str()
            .expect("a currency")
            .to_string();
        if changed.status == 200 {
            assert_eq!(currency, "USD");
        } else {
            assert_eq!(changed.code_of("currency"), "immutable", "{}", changed.text);
            assert_eq!(currency, "CNY");
        }
        let orders = app
            .get(&format!("/api/v1/customers/{c}/transactions"), &admin)
            .await;
        let items = orders.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", orders.text);
        assert_eq!(
            items[0]["currency"],
            json!(currency),
            "card {c}: {}",
            orders.text
        );
    }
}

/// An archived card takes no writes. A contact sent as the card is archived
/// read the card before it was locked (PostgreSQL) and was added after the
/// archive committed. Now it either commits first (its change precedes the
/// archive's in the feed) or is refused as archived.
async fn a_contact_added_as_the_card_is_archived_goes_before_the_archive_or_not_at_all(
    app: TestApp,
) {
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "&types=customer,contact", 100).await;
    let mut added = Vec::new();
    for i in 0..12 {
        let c = app
            .create_customer(
                &admin,
                json!({"kind": "individual", "name": format!("Leaving {i}")}),
            )
            .await
            .id();
        let (contact, archived) = futures_util::future::join(
            app.post(
                &format!("/api/v1/customers/{c}/contacts"),
                &admin,
                &json!({"name": "Li Lei"}),
            ),
            app.delete(&format!("/api/v1/customers/{c}"), &admin),
        )
        .await;
        assert_eq!(archived.status, 204, "{}", archived.text);
        match contact.status {
            201 => added.push((c, contact.id())),
            409 => assert_eq!(
                contact.code_of("customer_id"),
                "archived",
                "{}",
                contact.text
            ),
            other => panic!("contact answered {other}: {}", contact.text),
        }
    }
    let (changes, _) = read_all(&app, &admin, Some(&start), "&types=customer,contact", 100).await;
    let position = |kind: &str, id: i64, operation: &str| {
        changes.iter().position(|ch| {
            ch["entity_type"] == json!(kind)
                && ch["entity_id"] == json!(id)
                && ch["operation"] == json!(operation)
        })
    };
    for (c, contact) in added {
        let contact_at = position("contact", contact, "created").expect("the contact's change");
        let archive_at = position("customer", c, "deleted").expect("the archive's change");
        assert!(
            contact_at < archive_at,
            "card {c}: contact {contact} added after the archive"
        );
    }
}

/// A purchase that waits for the card (another transaction holds it) moves
/// the CPR stage when it gets the card, and its stage change is dated then:
/// it was dated when the request came in, before the write it waited for,
/// so the card's history showed its stage changes out of order (a review).
async fn a_stage_change_is_dated_after_the_write_it_waited_for(app: TestApp) {
    use std::sync::mpsc;
    use std::time::Duration;
    let admin = app.admin_token().await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "Waiting", "wallet_size_cents": 100_000}),
        )
        .await
        .id();
    let db = app.open_db(1, 10).await;
    let (held, is_held) = mpsc::channel();
    let (release, to_release) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut conn = db.pool().get().expect("a connection");
        patron::db::write_tx(&mut conn, |conn| {
            patron::db::customers::lock(conn, c)?;
            held.send(()).expect("the test waits");
            // Held until the purchase has been sent (and had time to reach
            // the card): a fixed sleep let a slow POST arrive after it.
            to_release.recv().expect("the test releases");
            Ok::<_, diesel::result::Error>(chrono::Utc::now())
        })
        .expect("the other writer")
    });
    tokio::task::spawn_blocking(move || is_held.recv().expect("held"))
        .await
        .expect("the wait");
    let (path, body) = (
        format!("/api/v1/customers/{c}/transactions"),
        json!({"amount_cents": 90_000, "cost_cents": 0, "product": "Tea"}),
    );
    let purchase = app.post(&path, &admin, &body);
    let release_later = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        release.send(()).expect("the holder waits");
    };
    let (r, ()) = futures_util::future::join(purchase, release_later).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let released = holder.join().expect("no panic");
    let history = app
        .get(
            &format!("/api/v1/customers/{c}/history?kind=cpr_stage_changed"),
            &admin,
        )
        .await;
    let changes = history.body["items"].as_array().expect("items");
    assert!(!changes.is_empty(), "{}", history.text);
    for change in changes {
        let at: chrono::DateTime<chrono::Utc> = change["at"]
            .as_str()
            .expect("at")
            .parse()
            .expect("an instant");
        assert!(
            at >= released,
            "dated {at}, the card was free at {released}: {}",
            history.text
        );
    }
}
