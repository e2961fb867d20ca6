//! Keeping every customer's loyalty type current, in set-based SQL that
//! mirrors `domain::loyalty::loyalty_type` (a test checks the two agree),
//! and the grouped counts of `/analytics/loyalty`.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
#[cfg(test)]
use diesel::sql_types::Text;
use diesel::sql_types::{BigInt, Nullable};

use super::stats::literal;
use super::DbConn;
use crate::domain::loyalty::LoyaltySettings;
use crate::domain::periods::window_start;

pub const LOYALTY_CHANGED: &str = "loyalty_changed";

/// Customers recomputed per transaction when recomputing everyone.
const CHUNK: i64 = 50_000;

/// A float literal that both engines read as the same double.
fn float(v: f64) -> String {
    format!("CAST('{v:?}' AS DOUBLE PRECISION)")
}

/// Purchases (`db::purchase`) of the `customers` row in the window starting
/// at `start`.
fn purchases_sql(start: NaiveDateTime) -> String {
    format!(
        "(SELECT COUNT(*) FROM transactions t WHERE t.customer_id = customers.id AND t.occurred_at >= {} AND {})",
        literal(start),
        super::purchase("t"),
    )
}

/// The type expression over the `customers` row, given the expression of
/// its purchases in the window.
fn type_sql(s: &LoyaltySettings, purchases: &str) -> String {
    let behaviour = format!(
        "(churned_at IS NULL AND {purchases} >= {k} AND (share_of_wallet IS NULL OR share_of_wallet >= {share}))",
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
    let expr = type_sql(s, &purchases_sql(window_start(now, s.window_months)));
    let at = literal(now);
    // The moving cards are locked first: their events and their new types
    // are then written from the same rows (see `row_lock::lock_where`), and
    // the type (a count of purchases per card) is evaluated again for them
    // only, not for the whole scope.
    let moving = super::row_lock::lock_where(
        conn,
        super::row_lock::Locked::Customers,
        &format!("({scope}) AND loyalty_type <> {expr}"),
    )?;
    if moving.is_empty() {
        return Ok(());
    }
    // Only integers go into the text.
    let list: Vec<String> = moving.iter().map(i64::to_string).collect();
    let list = list.join(", ");
    let moving = format!("id IN ({list})");
    conn.batch_execute(&format!(
        "INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) \
           SELECT id, '{LOYALTY_CHANGED}', loyalty_type, {expr}, {at} FROM customers \
           WHERE {moving} AND loyalty_type <> {expr};
         UPDATE customers SET loyalty_type = {expr} WHERE {moving} AND loyalty_type <> {expr};"
    ))?;
    super::changes::record_stage_events(
        conn,
        &format!("e.at = {at} AND e.kind = '{LOYALTY_CHANGED}' AND e.customer_id IN ({list})"),
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
/// transaction write), inside the caller's write transaction. The settings
/// are kept until it commits (`settings::get_kept`), as the CPR ones
/// (`cpr::settings_kept`): read plainly, a write that read the old
/// thresholds could commit after `PUT /settings/loyalty`'s recompute had
/// passed its card, which kept a type of the old thresholds until the
/// hourly job.
pub fn refresh_current(
    conn: &mut DbConn,
    customer_id: i64,
    now: NaiveDateTime,
) -> Result<(), crate::error::ApiError> {
    let (settings, _) =
        super::settings::get_kept::<LoyaltySettings>(conn, super::settings::LOYALTY)?;
    Ok(refresh(conn, customer_id, &settings, now)?)
}

/// Many customers under the stored settings (a bulk write), inside the
/// caller's write transaction; kept as in `refresh_current`.
pub fn refresh_ids_current(
    conn: &mut DbConn,
    ids: &[i64],
    now: NaiveDateTime,
) -> Result<(), crate::error::ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let (settings, _) =
        super::settings::get_kept::<LoyaltySettings>(conn, super::settings::LOYALTY)?;
    // Only integers go into the text.
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    Ok(refresh_scope(
        conn,
        &format!("id IN ({})", list.join(",")),
        &settings,
        now,
    )?)
}

/// Every customer under the stored settings: after a recompute of the CPR
/// stages, which sets the shares of wallet loyalty reads (a type from the
/// old shares would stand until the hourly job). Returns the type changes.
pub fn refresh_all_current(
    conn: &mut DbConn,
    now: NaiveDateTime,
) -> Result<i64, crate::error::ApiError> {
    let (settings, version) =
        super::settings::get::<LoyaltySettings>(conn, super::settings::LOYALTY)?;
    Ok(refresh_all(conn, &settings, version, now)?)
}

/// Every customer, in id-range chunks of short transactions. Returns the
/// number of type changes. `version` is the settings' stored version `s`
/// is: the walk ends early when a newer one is stored meanwhile
/// (`chunks::walk`).
pub fn refresh_all(
    conn: &mut DbConn,
    s: &LoyaltySettings,
    version: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    refresh_all_until(conn, s, version, now, &super::chunks::never).map(|(changed, _)| changed)
}

/// `refresh_all` that ends after the chunk under way once `stop` says so
/// (the hourly job, when the process stops); also how far it got.
pub fn refresh_all_until(
    conn: &mut DbConn,
    s: &LoyaltySettings,
    version: i64,
    now: NaiveDateTime,
    stop: &dyn Fn() -> bool,
) -> QueryResult<(i64, super::chunks::Walk)> {
    let max_id = super::customers::last_id(conn)?;
    let before = count_changes(conn, now)?;
    let under = super::chunks::Under {
        name: super::settings::LOYALTY,
        version,
    };
    // A card a write refreshed after the walk's `now` (`stats_at`) is left
    // as that write judged it, at its own later instant, as the CPR walk
    // leaves it (`cpr::refresh_range`): the walk's older instant still
    // counted a purchase gone out of the window since, and undid the type
    // with an event dated before the one it undid (review).
    let at = literal(now);
    let walk = super::chunks::walk(conn, max_id, CHUNK, under, stop, |conn, low, high| {
        let range =
            format!("id > {low} AND id <= {high} AND (stats_at IS NULL OR stats_at <= {at})");
        refresh_scope(conn, &range, s, now)
    })?;
    Ok((count_changes(conn, now)? - before, walk))
}

fn count_changes(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<i64> {
    use super::schema::customer_events as e;
    e::table
        .filter(e::kind.eq(LOYALTY_CHANGED))
        .filter(e::at.eq(now))
        .count()
        .get_result(conn)
}

/// The level (1–5) the overall satisfaction rounds to (halves up), as
/// `domain::surveys::level`; NULL without satisfaction.
pub const LEVEL_SQL: &str = "CAST(CASE WHEN satisfaction_overall IS NULL THEN NULL \
    WHEN satisfaction_overall < 1.5 THEN 1 WHEN satisfaction_overall < 2.5 THEN 2 \
    WHEN satisfaction_overall < 3.5 THEN 3 WHEN satisfaction_overall < 4.5 THEN 4 ELSE 5 END AS BIGINT)";

#[derive(QueryableByName, Debug)]
struct TypeLevelRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    loyalty_type: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    level: Option<i64>,
    #[diesel(sql_type = BigInt)]
    customers: i64,
}

#[derive(QueryableByName, Debug)]
struct RepeatRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    level: Option<i64>,
    #[diesel(sql_type = BigInt)]
    customers: i64,
}

/// Active customers per satisfaction level (`None`: no satisfaction data).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LevelCount {
    pub level: Option<i64>,
    pub customers: i64,
    /// Of them, those who bought at least `repeat_min_purchases` times in
    /// the loyalty window.
    pub repeat_customers: i64,
}

/// The figures of `/analytics/loyalty`.
#[derive(Debug, Default)]
pub struct Counts {
    /// Active customers per loyalty type (types without customers absent).
    pub per_type: Vec<(String, i64)>,
    /// Levels without customers absent.
    pub per_level: Vec<LevelCount>,
}

/// Two passes, neither of them per card: the cards grouped by type and
/// level, and the window's purchases grouped by buyer, of which only the
/// repeat buyers' cards are read. Counting each card's purchases in the
/// window (an index lookup per card) took 1.2–2.4 s at a million cards.
pub fn counts(conn: &mut DbConn, s: &LoyaltySettings, now: NaiveDateTime) -> QueryResult<Counts> {
    // One snapshot: a card rated between the two reads would otherwise make
    // a level's repeat buyers outnumber its customers.
    super::reports::snapshot(conn, |conn| counts_now(conn, s, now))
}

fn counts_now(conn: &mut DbConn, s: &LoyaltySettings, now: NaiveDateTime) -> QueryResult<Counts> {
    let cards: Vec<TypeLevelRow> = diesel::sql_query(format!(
        "SELECT loyalty_type, {LEVEL_SQL} AS level, COUNT(*) AS customers FROM customers \
         WHERE archived_at IS NULL GROUP BY loyalty_type, {LEVEL_SQL}"
    ))
    .load(conn)?;
    // SQLite takes the join order as written with CROSS JOIN: the repeat
    // buyers first, each card by its key (not every card against them).
    let repeat: Vec<RepeatRow> = diesel::sql_query(format!(
        "SELECT {LEVEL_SQL} AS level, COUNT(*) AS customers \
         FROM (SELECT customer_id FROM transactions WHERE occurred_at >= {start} AND {purchase} \
               GROUP BY customer_id HAVING COUNT(*) >= {k}) r \
         CROSS JOIN customers WHERE customers.id = r.customer_id AND customers.archived_at IS NULL \
           AND customers.churned_at IS NULL \
         GROUP BY {LEVEL_SQL}",
        start = literal(window_start(now, s.window_months)),
        purchase = super::purchase(""),
        k = s.repeat_min_purchases,
    ))
    .load(conn)?;
    let mut out = Counts::default();
    for row in cards {
        match out
            .per_type
            .iter_mut()
            .find(|(t, _)| *t == row.loyalty_type)
        {
            Some((_, n)) => *n += row.customers,
            None => out.per_type.push((row.loyalty_type, row.customers)),
        }
        match out.per_level.iter_mut().find(|l| l.level == row.level) {
            Some(l) => l.customers += row.customers,
            None => out.per_level.push(LevelCount {
                level: row.level,
                customers: row.customers,
                repeat_customers: 0,
            }),
        }
    }
    for row in repeat {
        // Every repeat buyer is an active card of the same snapshot, so its
        // level is listed.
        if let Some(l) = out.per_level.iter_mut().find(|l| l.level == row.level) {
            l.repeat_customers = row.customers;
        }
    }
    Ok(out)
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
    // A bare NULL is text to PostgreSQL, which then cannot compare it.
    let opt = |v: Option<f64>| {
        v.map(float)
            .unwrap_or_else(|| "CAST(NULL AS DOUBLE PRECISION)".into())
    };
    let expr = type_sql(s, &i.purchases_in_window.to_string());
    let sql = format!(
        "SELECT {expr} AS kind FROM (SELECT {sat} AS satisfaction_overall, {share} AS share_of_wallet, \
           {churned} AS churned_at) customers",
        sat = opt(i.satisfaction_overall),
        share = opt(i.share_of_wallet),
        churned = if i.churned {
            literal(chrono::NaiveDateTime::default())
        } else {
            "CAST(NULL AS TIMESTAMP)".into()
        },
    );
    diesel::sql_query(sql)
        .get_result::<TypeRow>(conn)
        .map(|r| r.kind)
}

#[cfg(test)]
mod tests {
    //! The SQL must give the type `domain::loyalty::loyalty_type` gives, at every boundary.
    use super::*;
    use crate::db::testing::db_tests;
    use crate::domain::loyalty::{loyalty_type, LoyaltyInputs};

    db_tests!(
        sql_type_matches_the_domain_rule,
        a_walk_leaves_the_cards_a_later_write_refreshed,
        sql_level_matches_the_domain_rule
    );

    #[derive(QueryableByName)]
    struct Level {
        #[diesel(sql_type = Nullable<BigInt>)]
        level: Option<i64>,
    }

    /// The loyalty report's satisfaction level, at each half: a card at 4.5
    /// (product 4, service 5) is very satisfied, as `domain::surveys::level`.
    fn sql_level_matches_the_domain_rule(c: &mut DbConn) {
        for mean in [1.0, 1.4999, 1.5, 2.4999, 2.5, 3.4999, 3.5, 4.4999, 4.5, 5.0] {
            let row: Level = diesel::sql_query(format!(
                "SELECT {LEVEL_SQL} AS level FROM (SELECT {mean:?} AS satisfaction_overall) s"
            ))
            .get_result(c)
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                row.level,
                Some(crate::domain::surveys::level(mean)),
                "{mean}"
            );
        }
    }

    /// Two cards whose type is not the one their records give: the one a
    /// write refreshed after the walk's `now` is left as that write made
    /// it; a refresh by id (a write's own) moves it.
    fn a_walk_leaves_the_cards_a_later_write_refreshed(c: &mut DbConn) {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default();
        let later = now + chrono::Duration::seconds(30);
        c.batch_execute(crate::db::testing::OWNER)
            .unwrap_or_else(|e| panic!("{e}"));
        c.batch_execute(&format!(
            "INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at, loyalty_type, stats_at) VALUES
               (1, 'individual', 'a', 1, {at}, {at}, 'high', {at}),
               (2, 'individual', 'b', 1, {at}, {at}, 'high', {later});",
            at = literal(now),
            later = literal(later),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let types = |c: &mut DbConn| -> Vec<String> {
            crate::db::schema::customers::table
                .order(crate::db::schema::customers::id)
                .select(crate::db::schema::customers::loyalty_type)
                .load(c)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let s = LoyaltySettings::default();
        assert_eq!(refresh_all(c, &s, 0, now).ok(), Some(1));
        assert_eq!(types(c), ["unknown", "high"]);
        crate::db::write_tx(c, |c| refresh(c, 2, &s, now)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(types(c), ["unknown", "unknown"]);
    }

    fn sql_type_matches_the_domain_rule(c: &mut DbConn) {
        let s = LoyaltySettings::default();
        for sat in [None, Some(1.0), Some(3.99), Some(4.0), Some(5.0)] {
            for purchases in [0_i64, 1, 2, 3] {
                for share in [None, Some(0.0), Some(0.4999), Some(0.5), Some(1.0)] {
                    for churned in [false, true] {
                        let i = LoyaltyInputs {
                            satisfaction_overall: sat,
                            purchases_in_window: purchases,
                            share_of_wallet: share,
                            churned,
                        };
                        let got = sql_type_of(c, &s, &i).unwrap_or_else(|e| panic!("{e}"));
                        assert_eq!(got, loyalty_type(&i, &s).as_str(), "{i:?}");
                    }
                }
            }
        }
    }
}
