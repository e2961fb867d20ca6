//! The list's sorts by last contact, last purchase and lifetime revenue step
//! along an index instead of sorting every card for each page. The dates sort
//! by an expression (a missing date as the earliest instant), and an index
//! serves it only while the list's expression and the index's are the same
//! text: this pins that on both engines, in both directions, on a first page
//! and on a page after a cursor.

use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use patron::db::customer_list::{LAST_CONTACT_KEY, LAST_PURCHASE_KEY};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    the_sorts_without_a_column_index_of_their_own_use_an_expression_index,
    the_referral_filter_uses_the_partial_index_of_referred_cards,
    a_segment_rule_on_the_referrer_uses_the_partial_index,
);

#[derive(QueryableByName)]
struct SqliteStep {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgStep {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: String,
}

/// A value bound to a planned query's `$1`, `$2`, ...: bound as the served
/// query binds it (a literal can let a partial index match where the
/// served query's parameter would not).
pub enum Bind {
    Int(i64),
    Text(&'static str),
}

/// The plan of `sql` on the test's database, one step per line.
fn plan(app: &TestApp, sql: &str) -> String {
    plan_bound(app, sql, &[], &["enable_seqscan", "enable_sort"])
}

/// The plan of `sql`, `binds` bound to its `$1`, `$2`, ... (`?` on SQLite)
/// and, on PostgreSQL, the planner settings `pg_off` turned off: a test
/// database is too small for PostgreSQL to prefer an index to reading the
/// table or to a sort; with them off it still reads the table, or sorts,
/// when no index serves the query, which is what the tests look for.
pub fn plan_bound(app: &TestApp, sql: &str, binds: &[Bind], pg_off: &[&str]) -> String {
    let lines: Vec<String> = match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.strip_prefix("sqlite://").unwrap();
            let mut conn = crate::helpers::open_sqlite(path);
            let sql = (1..=binds.len())
                .rev()
                .fold(sql.to_string(), |sql, n| sql.replace(&format!("${n}"), "?"));
            let mut query =
                diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).into_boxed::<Sqlite>();
            for b in binds {
                query = match b {
                    Bind::Int(v) => query.bind::<BigInt, _>(*v),
                    Bind::Text(v) => query.bind::<Text, _>(*v),
                };
            }
            query
                .load::<SqliteStep>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|s| s.detail)
                .collect()
        }
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&app.database_url).unwrap();
            for setting in pg_off {
                diesel::sql_query(format!("SET {setting} = off"))
                    .execute(&mut conn)
                    .unwrap();
            }
            let mut query = diesel::sql_query(format!("EXPLAIN {sql}")).into_boxed::<Pg>();
            for b in binds {
                query = match b {
                    Bind::Int(v) => query.bind::<BigInt, _>(*v),
                    Bind::Text(v) => query.bind::<Text, _>(*v),
                };
            }
            query
                .load::<PgStep>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|s| s.plan)
                .collect()
        }
    };
    lines.join("\n")
}

async fn the_sorts_without_a_column_index_of_their_own_use_an_expression_index(app: TestApp) {
    let sorts = [
        (
            LAST_CONTACT_KEY,
            "customers_last_contact_sort",
            "'2026-01-01 00:00:00'",
        ),
        (
            LAST_PURCHASE_KEY,
            "customers_last_purchase_sort",
            "'2026-01-01 00:00:00'",
        ),
        (
            "customers.lifetime_revenue_cents",
            "customers_lifetime_revenue",
            "1000",
        ),
    ];
    for (key, index, cursor) in sorts {
        for (dir, op) in [("ASC", ">"), ("DESC", "<")] {
            // The shape of `db::customer_list::page`: live cards, keyset
            // condition on (key, id), ordered by both, a page and one more.
            let first = format!(
                "SELECT customers.id FROM customers WHERE customers.archived_at IS NULL \
                 ORDER BY {key} {dir}, customers.id {dir} LIMIT 51"
            );
            let later = format!(
                "SELECT customers.id FROM customers WHERE customers.archived_at IS NULL \
                 AND {key} {op}= {cursor} AND ({key} {op} {cursor} OR ({key} = {cursor} \
                 AND customers.id {op} 7)) ORDER BY {key} {dir}, customers.id {dir} LIMIT 51"
            );
            for sql in [first, later] {
                let plan = plan(&app, &sql);
                assert!(plan.contains(index), "{key} {dir}: {plan}");
                assert!(
                    !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
                    "{key} {dir} sorts: {plan}"
                );
            }
        }
    }
}

/// `source_customer_id` reads the partial index of the referred cards
/// (`customers_source`, `WHERE source_customer_id IS NOT NULL`), in id
/// order, instead of every card: the filter's `=` implies the index's
/// condition on both engines.
async fn the_referral_filter_uses_the_partial_index_of_referred_cards(app: TestApp) {
    let filter = "customers.archived_at IS NULL AND customers.source_customer_id = 5";
    for (dir, op) in [("ASC", ">"), ("DESC", "<")] {
        let first = format!(
            "SELECT customers.id FROM customers WHERE {filter} \
             ORDER BY customers.id {dir} LIMIT 51"
        );
        let later = format!(
            "SELECT customers.id FROM customers WHERE {filter} AND customers.id {op} 7 \
             ORDER BY customers.id {dir} LIMIT 51"
        );
        for sql in [first, later] {
            let plan = plan(&app, &sql);
            assert!(plan.contains("customers_source"), "{dir}: {plan}");
            assert!(
                !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
                "{dir} sorts: {plan}"
            );
        }
    }
}

/// A segment rule's `source_customer_id` `eq` (the text
/// `db::segments::tests::a_referrer_test_keeps_the_partial_index` pins)
/// reads `customers_source` too: for the count, the preview's first
/// members and the member list.
async fn a_segment_rule_on_the_referrer_uses_the_partial_index(app: TestApp) {
    let rule = "(customers.source_customer_id IS NOT NULL AND customers.source_customer_id = 5)";
    let live = format!("customers.archived_at IS NULL AND {rule}");
    for sql in [
        format!(
            "SELECT COUNT(*) FROM customers WHERE customers.id > -9223372036854775808 \
             AND customers.id <= 9223372036854775807 AND {live}"
        ),
        format!(
            "SELECT customers.id FROM customers WHERE {live} ORDER BY customers.id + 0 LIMIT 50"
        ),
        format!(
            "SELECT customers.id FROM customers WHERE {live} ORDER BY customers.id ASC LIMIT 51"
        ),
        format!(
            "SELECT customers.id FROM customers WHERE {live} AND customers.id > 7 \
             ORDER BY customers.id ASC LIMIT 51"
        ),
    ] {
        let plan = plan(&app, &sql);
        assert!(plan.contains("customers_source"), "{sql}: {plan}");
    }
}
