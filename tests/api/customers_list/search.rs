//! The list's text search (`q`), which PostgreSQL answers through a trigram
//! index: whatever way a card is written (create, change, bulk upsert, CSV
//! import, archive), a term finds it by its new text and no longer by its
//! old; quotes and query-language words are plain text; a term that many
//! cards hold still pages like any list; and on PostgreSQL the index is there
//! and answers the list's LIKE.

use serde_json::json;

use super::{create, enc, list, CUSTOMERS};
use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

const FINAL_SIGMA_MIGRATION: [&str; 2] = [
    include_str!("../../../migrations/sqlite/2026-12-08-000000_search_text_final_sigma/up.sql"),
    include_str!("../../../migrations/postgres/2026-12-08-000000_search_text_final_sigma/up.sql"),
];

backend_tests!(
    a_term_finds_the_card_however_it_was_written,
    a_term_with_quotes_is_searched_as_written,
    a_common_term_pages_and_a_rare_one_among_many_cards_is_found,
    a_word_final_sigma_is_either_sigma,
);

/// PostgreSQL only: SQLite has no trigram index (docs/BENCHMARKS.md, #7
/// session 23).
mod postgresql_searches_through_the_trigram_index {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        crate::helpers::run(
            super::postgresql_searches_through_the_trigram_index,
            crate::helpers::Backend::Postgres,
        )
        .await;
    }
}

async fn a_term_finds_the_card_however_it_was_written(app: TestApp) {
    let admin = app.admin_token().await;
    let posted = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "Posted Pelican"}),
    )
    .await;
    assert_eq!(list(&app, &admin, "q=pelican").await, vec![posted]);

    // A change: the old name no longer finds it, the new one does.
    let r = app
        .patch(
            &format!("{CUSTOMERS}/{posted}"),
            &admin,
            &json!({"name": "Renamed Rhino", "email": "rhino@zoo.example"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(list(&app, &admin, "q=pelican").await, Vec::<i64>::new());
    assert_eq!(list(&app, &admin, "q=rhino").await, vec![posted]);
    assert_eq!(list(&app, &admin, "q=zoo.example").await, vec![posted]);
    // A change of a field the search does not read leaves it found.
    let r = app
        .patch(
            &format!("{CUSTOMERS}/{posted}"),
            &admin,
            &json!({"region": "Hangzhou"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(list(&app, &admin, "q=rhino").await, vec![posted]);

    // A bulk upsert: created, then renamed by its external_id.
    let bulk = |name: &str| json!({"items": [{"external_id": "ERP-SEARCH-1", "kind": "organization", "name": name}]});
    let r = app
        .post(
            &format!("{CUSTOMERS}/bulk"),
            &admin,
            &bulk("Bulk Bison 批发"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bulked = r.body["items"][0]["id"].as_i64().unwrap();
    assert_eq!(list(&app, &admin, "q=bison").await, vec![bulked]);
    assert_eq!(
        list(&app, &admin, &format!("q={}", enc("bison 批发"))).await,
        vec![bulked]
    );
    let r = app
        .post(&format!("{CUSTOMERS}/bulk"), &admin, &bulk("Bulk Beaver"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(list(&app, &admin, "q=bison").await, Vec::<i64>::new());
    assert_eq!(list(&app, &admin, "q=beaver").await, vec![bulked]);

    // A CSV import.
    let r = app
        .post_raw(
            &format!("{CUSTOMERS}/import"),
            &admin,
            "text/csv",
            "external_id,kind,name,phone\nERP-SEARCH-2,individual,Imported Ibis,0571-8765-4321\n",
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let imported = list(&app, &admin, "q=ibis").await;
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert_eq!(list(&app, &admin, "q=8765-43").await, imported);

    // An archived card is found only with include_archived, by its text.
    let r = app.delete(&format!("{CUSTOMERS}/{posted}"), &admin).await;
    assert!(r.status < 300, "{}", r.text);
    assert_eq!(list(&app, &admin, "q=rhino").await, Vec::<i64>::new());
    assert_eq!(
        list(&app, &admin, "q=rhino&include_archived=true").await,
        vec![posted]
    );
}

async fn a_term_with_quotes_is_searched_as_written(app: TestApp) {
    let admin = app.admin_token().await;
    let quoted = create(
        &app,
        &admin,
        json!({"kind": "organization", "name": "The \"Best\" Shop"}),
    )
    .await;
    let plain = create(
        &app,
        &admin,
        json!({"kind": "organization", "name": "The Best Shop"}),
    )
    .await;
    let cases: &[(&str, Vec<i64>)] = &[
        ("\"best\"", vec![quoted]),
        ("e \"b", vec![quoted]),
        ("\"\"\"", vec![]),
        ("best\" shop", vec![quoted]),
        ("best shop", vec![plain]),
        ("the", vec![quoted, plain]),
        ("AND", vec![]),
        ("NEAR(best shop)", vec![]),
        ("b*", vec![]),
    ];
    for (q, expected) in cases {
        let got = list(&app, &admin, &format!("q={}", enc(q))).await;
        assert_eq!(&got, expected, "q={q:?}");
    }
}

/// 201 cards hold "common", one "zebra": the common term pages in order
/// (PostgreSQL may read the cards in the list's order or ask its index; both
/// must page alike), the rare one finds its card.
async fn a_common_term_pages_and_a_rare_one_among_many_cards_is_found(app: TestApp) {
    let admin = app.admin_token().await;
    let first = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "Common Card First"}),
    )
    .await;
    let series = match app.backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
             SELECT i FROM n"
        }
        Backend::Postgres => "SELECT generate_series(1, 200) AS i",
    };
    app.execute_sql(&format!(
        "INSERT INTO customers (kind, name, owner_id, created_at, updated_at, search_text) \
         SELECT 'individual', 'Common Card ' || s.i, c.owner_id, c.created_at, c.updated_at, \
                'common card ' || s.i FROM ({series}) AS s, customers AS c WHERE c.id = {first}"
    ));
    let zebra = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "Zebra Common Card"}),
    )
    .await;

    let r = app
        .get(&format!("{CUSTOMERS}?q=common&limit=50"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids = crate::helpers::ids_of(&r);
    assert_eq!(ids.len(), 50);
    assert_eq!(ids[0], first);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let next = r.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("{CUSTOMERS}?q=common&limit=50&cursor={}", enc(next)),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page2 = crate::helpers::ids_of(&r);
    assert_eq!(page2.len(), 50);
    assert!(page2[0] > ids[49]);

    assert_eq!(list(&app, &admin, "q=zebra").await, vec![zebra]);
    let one = list(&app, &admin, &format!("q={}", enc("card 199"))).await;
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(
        list(&app, &admin, &format!("q={}", enc("common card 199"))).await,
        one
    );
    assert_eq!(
        list(&app, &admin, &format!("q={}", enc("card 999"))).await,
        Vec::<i64>::new()
    );
}

/// The migration creates the index wherever pg_trgm can be created (with
/// only a notice where it cannot): CI's PostgreSQL has it, so a migration that
/// silently skipped it fails here; and the planner can answer the list's LIKE
/// with it.
async fn postgresql_searches_through_the_trigram_index(app: TestApp) {
    use diesel::sql_types::Text;
    use diesel::{Connection, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = Text)]
        #[diesel(column_name = "QUERY PLAN")]
        plan: String,
    }
    assert_eq!(app.backend, Backend::Postgres);
    let mut conn = diesel::PgConnection::establish(&app.database_url).unwrap();
    // A test database is too small for the planner to prefer any
    // index; with plain index scans off too, the only plan other than
    // reading the table is a bitmap scan of an index that answers the
    // LIKE (a plain scan of any small index did, once).
    for off in ["enable_seqscan", "enable_indexscan", "enable_indexonlyscan"] {
        diesel::sql_query(format!("SET {off} = off"))
            .execute(&mut conn)
            .unwrap();
    }
    let plan: Vec<String> = diesel::sql_query(
        "EXPLAIN SELECT id FROM customers \
         WHERE customers.search_text LIKE '%zebra%' ESCAPE '\\'",
    )
    .load::<Step>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|s| s.plan)
    .collect();
    assert!(
        plan.iter().any(|l| l.contains("customers_search_trigrams")),
        "{plan:#?}"
    );
}

/// Rust lower-cases a word-final Σ to ς, so the term "ΟΔΟΣ" (ς) missed
/// "ΟΔΟΣΤΡΩΜΑ" (σ mid-word) and "οδοσ" missed a stored "οδος"; both sides
/// now fold ς to σ, as segment rules and the user search do, whichever way
/// the card was written. Migration `2026-12-08-000000` folds the text of
/// cards written before.
async fn a_word_final_sigma_is_either_sigma(app: TestApp) {
    let admin = app.admin_token().await;
    let paving = create(
        &app,
        &admin,
        json!({"kind": "organization", "name": "ΟΔΟΣΤΡΩΜΑ ΑΕ"}),
    )
    .await;
    let r = app
        .post(
            &format!("{CUSTOMERS}/bulk"),
            &admin,
            &json!({"items": [{"external_id": "ERP-SIGMA", "kind": "organization", "name": "Οδος Shipping"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let road = r.body["items"][0]["id"].as_i64().unwrap();
    for term in ["ΟΔΟΣ", "οδος", "οδοσ", "Οδοσ"] {
        assert_eq!(
            list(&app, &admin, &format!("q={}", enc(term))).await,
            vec![paving, road],
            "q={term}"
        );
    }
    assert_eq!(
        list(&app, &admin, &format!("q={}", enc("ΑΕ"))).await,
        vec![paving]
    );

    // A card stored before the fold, as Rust lower-cased it.
    app.execute_sql(&format!(
        "UPDATE customers SET search_text = 'οδος shipping' WHERE id = {road};"
    ));
    assert_eq!(
        list(&app, &admin, &format!("q={}", enc("οδοσ s"))).await,
        Vec::<i64>::new()
    );
    app.execute_sql(match app.backend {
        Backend::Sqlite => FINAL_SIGMA_MIGRATION[0],
        Backend::Postgres => FINAL_SIGMA_MIGRATION[1],
    });
    assert_eq!(
        list(&app, &admin, &format!("q={}", enc("οδοσ s"))).await,
        vec![road]
    );
}
