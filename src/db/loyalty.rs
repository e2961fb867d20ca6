//! Keeping every customer's loyalty type current, in set-based SQL that
//! mirrors `domain::loyalty::loyalty_type` (a test checks the two agree),
//! and the grouped counts of `/analytics/loyalty`.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
#[cfg(test)]
use diesel::sql_types::Text;
use diesel::sql_types::{BigInt, Nullable};

use super::schema::customers;
use super::stats::{literal, window_start_months};
use super::DbConn;
use crate::domain::loyalty::LoyaltySettings;

pub const LOYALTY_CHANGED: &str = "loyalty_changed";

/// Customers recomputed per transaction when recomputing everyone.
const CHUNK: i64 = 50_000;

/// A float literal that both engines read as the same double.
fn float(v: f64) -> String {
    format!("CAST('{v:?}' AS DOUBLE PRECISION)")
}

/// Transactions of the `customers` row in the window starting at `start`.
fn purchases_sql(start: NaiveDateTime) -> String {
    format!(
        "(SELECT COUNT(*) FROM transactions t WHERE t.customer_id = customers.id AND t.occurred_at >= {})",
        literal(start)
    )
}

/// The type expression over the `customers` row, given the expression of
/// its purchases in the window.
fn type_sql(s: &LoyaltySettings, purchases: &str) -> String {
    let behaviour = format!(
        "({purchases} >= {k} AND (share_of_wallet IS NULL OR share_of_wallet >= {share}))",
        k = s.repeat_min_purchases,
        share = float(s.share_of_wallet_min),
    );
    format!(
        "(CASE WHEN satisfaction_overall IS NULL THEN 'unknown' \
          WHEN satisfaction_overall >= {att} THEN (CASE WHEN {behaviour} THEN 'high' ELSE 'latent' END) \
          ELSE (CASE WHEN {behaviour} THEN 'inertial' ELSE 'none' END) END)",
        att = float(s.attitude_min_satisfaction),
    )
}

/// Recomputes the type of the customers in `scope` (an SQL condition over
/// `customers` holding only integers), recording each change as an event.
fn refresh_scope(
    conn: &mut DbConn,
    scope: &str,
    s: &LoyaltySettings,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let expr = type_sql(s, &purchases_sql(window_start_months(now, s.window_months)));
    let at = literal(now);
    conn.batch_execute(&format!(
        "INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) \
           SELECT id, '{LOYALTY_CHANGED}', loyalty_type, {expr}, {at} FROM customers \
           WHERE ({scope}) AND loyalty_type <> {expr};
         UPDATE customers SET loyalty_type = {expr} WHERE ({scope}) AND loyalty_type <> {expr};"
    ))?;
    super::changes::record_stage_events(
        conn,
        &format!(
            "e.at = {at} AND e.kind = '{LOYALTY_CHANGED}' \
             AND e.customer_id IN (SELECT id FROM customers WHERE {scope})"
        ),
    )
}

/// One customer, inside the caller's write transaction.
pub fn refresh(
    conn: &mut DbConn,
    customer_id: i64,
    s: &LoyaltySettings,
    now: NaiveDateTime,
) -> QueryResult<()> {
    refresh_scope(conn, &format!("id = {customer_id}"), s, now)
}

/// One customer under the stored settings (after a response or a
/// transaction write), inside the caller's write transaction.
pub fn refresh_current(
    conn: &mut DbConn,
    customer_id: i64,
    now: NaiveDateTime,
) -> Result<(), crate::error::ApiError> {
    let (settings, _) = super::settings::get::<LoyaltySettings>(conn, super::settings::LOYALTY)?;
    Ok(refresh(conn, customer_id, &settings, now)?)
}

/// Many customers under the stored settings (a bulk write), inside the
/// caller's write transaction.
pub fn refresh_ids_current(
    conn: &mut DbConn,
    ids: &[i64],
    now: NaiveDateTime,
) -> Result<(), crate::error::ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let (settings, _) = super::settings::get::<LoyaltySettings>(conn, super::settings::LOYALTY)?;
    // Only integers go into the text.
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    Ok(refresh_scope(
        conn,
        &format!("id IN ({})", list.join(",")),
        &settings,
        now,
    )?)
}

/// Every customer, in id-range chunks of short transactions. Returns the
/// number of type changes.
pub fn refresh_all(conn: &mut DbConn, s: &LoyaltySettings, now: NaiveDateTime) -> QueryResult<i64> {
    let max_id = super::customers::last_id(conn)?;
    let before = count_changes(conn, now)?;
    let mut low = 0;
    while low <= max_id {
        let scope = format!("id > {low} AND id <= {}", low + CHUNK);
        super::write_tx(conn, |conn| refresh_scope(conn, &scope, s, now))?;
        low += CHUNK;
    }
    Ok(count_changes(conn, now)? - before)
}

fn count_changes(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<i64> {
    use super::schema::customer_events as e;
    e::table
        .filter(e::kind.eq(LOYALTY_CHANGED))
        .filter(e::at.eq(now))
        .count()
        .get_result(conn)
}

/// Active customers per loyalty type.
pub fn per_type(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    customers::table
        .filter(customers::archived_at.is_null())
        .group_by(customers::loyalty_type)
        .select((customers::loyalty_type, diesel::dsl::count_star()))
        .load(conn)
}

#[derive(QueryableByName, Debug)]
pub struct LevelRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub level: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
    #[diesel(sql_type = BigInt)]
    pub repeat_customers: i64,
}

/// The level (1–5) the overall satisfaction rounds to (halves up), as
/// `domain::surveys::level`; NULL without satisfaction.
pub const LEVEL_SQL: &str = "CAST(CASE WHEN satisfaction_overall IS NULL THEN NULL \
    WHEN satisfaction_overall < 1.5 THEN 1 WHEN satisfaction_overall < 2.5 THEN 2 \
    WHEN satisfaction_overall < 3.5 THEN 3 WHEN satisfaction_overall < 4.5 THEN 4 ELSE 5 END AS BIGINT)";

/// Active customers per satisfaction level (NULL: no satisfaction data),
/// and how many of them bought at least `repeat_min_purchases` times in
/// the window.
pub fn per_level(
    conn: &mut DbConn,
    s: &LoyaltySettings,
    now: NaiveDateTime,
) -> QueryResult<Vec<LevelRow>> {
    let purchases = purchases_sql(window_start_months(now, s.window_months));
    diesel::sql_query(format!(
        "SELECT level, COUNT(*) AS customers, \
           CAST(COALESCE(SUM(CASE WHEN purchases >= {k} THEN 1 ELSE 0 END), 0) AS BIGINT) AS repeat_customers \
         FROM (SELECT {LEVEL_SQL} AS level, {purchases} AS purchases FROM customers \
               WHERE archived_at IS NULL) x GROUP BY level",
        k = s.repeat_min_purchases,
    ))
    .load(conn)
}

#[cfg(test)]
#[derive(QueryableByName)]
struct TypeRow {
    #[diesel(sql_type = Text)]
    kind: String,
}

/// The type SQL gives for these inputs (for the agreement test).
#[cfg(test)]
fn sql_type_of(
    conn: &mut DbConn,
    s: &LoyaltySettings,
    i: &crate::domain::loyalty::LoyaltyInputs,
) -> QueryResult<String> {
    let opt = |v: Option<f64>| v.map(float).unwrap_or_else(|| "NULL".into());
    let expr = type_sql(s, &i.purchases_in_window.to_string());
    let sql = format!(
        "SELECT {expr} AS kind FROM (SELECT {sat} AS satisfaction_overall, {share} AS share_of_wallet) customers",
        sat = opt(i.satisfaction_overall),
        share = opt(i.share_of_wallet),
    );
    diesel::sql_query(sql)
        .get_result::<TypeRow>(conn)
        .map(|r| r.kind)
}

#[cfg(test)]
mod tests {
    //! The SQL must give the type `domain::loyalty::loyalty_type` gives, at every boundary.
    use super::*;
    use crate::domain::loyalty::{loyalty_type, LoyaltyInputs};
    use diesel::Connection;

    #[test]
    fn sql_type_matches_the_domain_rule() {
        let mut c = DbConn::Sqlite(
            diesel::SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}")),
        );
        let s = LoyaltySettings::default();
        for sat in [None, Some(1.0), Some(3.99), Some(4.0), Some(5.0)] {
            for purchases in [0_i64, 1, 2, 3] {
                for share in [None, Some(0.0), Some(0.4999), Some(0.5), Some(1.0)] {
                    let i = LoyaltyInputs {
                        satisfaction_overall: sat,
                        purchases_in_window: purchases,
                        share_of_wallet: share,
                    };
                    let got = sql_type_of(&mut c, &s, &i).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(got, loyalty_type(&i, &s).as_str(), "{i:?}");
                }
            }
        }
    }
}
