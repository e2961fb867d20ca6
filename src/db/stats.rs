//! The derived figures of a customer card, recomputed from interactions and
//! transactions in the same database transaction as every write that
//! changes them, and refreshed as the 12-month window moves.

use std::sync::LazyLock;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::{money_sum, DbConn};

/// The start of the trailing 12-month window ending at `now`.
pub fn window_start(now: NaiveDateTime) -> NaiveDateTime {
    crate::domain::periods::window_start(now, 12)
}

/// A timestamp literal both backends compare correctly with stored values.
///
/// Clamped to the years 1 to 9999: PostgreSQL reads this format only there
/// (`-1842-01-30 ...` is a 500 "time zone displacement out of range"), and
/// SQLite's text comparison orders only four-digit years. Every literal is a
/// bound of a period (a report's `from`, the period before it, a window
/// start), and a bound outside those years means "since/until forever".
pub fn literal(t: NaiveDateTime) -> String {
    // The format diesel stores in SQLite, so text comparison orders correctly.
    let t = crate::domain::instants::comparable(t);
    format!("'{}'", t.format("%F %T%.f"))
}

/// The card's figures, as SQL. Money sums through `money_sum`: a card's
/// SUM past 2^63 cents failed every later write of its records (SQLite
/// "integer overflow", PostgreSQL "bigint out of range"). The purchase
/// count and dates are of purchases (`db::purchase`), the sums of every
/// transaction.
static FIGURES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
    {LAST_CONTACT},
    purchase_count = (SELECT COUNT(*) FROM transactions t WHERE t.customer_id = customers.id AND {purchase}),
    first_purchase_at = (SELECT MIN(t.occurred_at) FROM transactions t WHERE t.customer_id = customers.id AND {purchase}),
    last_purchase_at = (SELECT MAX(t.occurred_at) FROM transactions t WHERE t.customer_id = customers.id AND {purchase}),
    lifetime_revenue_cents = COALESCE((SELECT {revenue} FROM transactions t WHERE t.customer_id = customers.id), 0),
    lifetime_profit_cents = COALESCE((SELECT {profit} FROM transactions t WHERE t.customer_id = customers.id), 0),
    {OPEN_COMPLAINTS},",
        purchase = super::purchase("t"),
        revenue = money_sum("t.amount_cents"),
        profit = money_sum("t.amount_cents - t.cost_cents"),
    )
});

/// The 12-month figures, each up to its window start (a bound value in
/// `RefreshOne`) and then `WINDOW_END`.
static REVENUE_12M: LazyLock<String> = LazyLock::new(|| {
    format!(
        "revenue_12m_cents = COALESCE((SELECT {} \
         FROM transactions t WHERE t.customer_id = customers.id AND t.occurred_at >= ",
        money_sum("t.amount_cents")
    )
});
static PROFIT_12M: LazyLock<String> = LazyLock::new(|| {
    format!(
        "profit_12m_cents = COALESCE((SELECT {} \
         FROM transactions t WHERE t.customer_id = customers.id AND t.occurred_at >= ",
        money_sum("t.amount_cents - t.cost_cents")
    )
});
const WINDOW_END: &str = "), 0)";

/// After a write of a customer's transactions (an interaction's write runs
/// `refresh_contacts`: it moves none of the figures after the contact
/// ones, and calling this from it halved its throughput): its derived
/// figures, then its CPR figures and stage and its loyalty type under the
/// stored settings, in that order (each reads what the one before wrote).
/// `refresh` alone moves the 12-month revenue to `now`'s window, and an
/// order that had left it between two hourly jobs left the share of wallet,
/// the stage and the loyalty type on the old revenue. Inside the write
/// transaction, after the card's lock (and `now` read after it).
pub fn refresh_card(
    conn: &mut DbConn,
    customer_id: i64,
    now: NaiveDateTime,
) -> Result<(), crate::error::ApiError> {
    refresh(conn, customer_id, now)?;
    super::cpr::refresh_current(conn, customer_id, now)?;
    super::loyalty::refresh_current(conn, customer_id, now)
}

/// Marks the card's figures as computed at `now` (`stats_at`), for a write
/// that refreshes its CPR stage without its other figures (a wallet change,
/// an unpin): a walk of every card that started before `now` then leaves
/// the card (`cpr::refresh_range`), where it re-judged the card at its older
/// instant and undid the write's stage, with an event dated before the one
/// it undid (a review). Never moved back.
pub fn stamp(conn: &mut DbConn, customer_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    use super::schema::customers;
    diesel::update(
        customers::table.find(customer_id).filter(
            customers::stats_at
                .is_null()
                .or(customers::stats_at.lt(now)),
        ),
    )
    .set(customers::stats_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Recomputes the figures a customer's interactions give its card
/// (`last_contact_at`, `open_complaints`): what a contact write changes.
/// Call inside the write transaction, after `customers::lock`. The rest
/// (purchases, the 12-month and CPR windows, loyalty) depends on
/// transactions and time only: `refresh_card` after a contact write read
/// every transaction of the card and both settings for figures the write
/// could not move, and doubled its cost (docs/BENCHMARKS.md, session 47).
/// The windows stay as consistent with each other as before the write: the
/// window move (`refresh_windows`) and the recomputes carry them.
pub fn refresh_contacts(conn: &mut DbConn, customer_id: i64) -> QueryResult<()> {
    let one = RefreshContacts { customer_id };
    super::native!(conn, |c| one.execute(c)).map(|_| ())
}

/// `refresh_contacts`' statement, bound and with a static query id (prepared
/// once per connection, as `RefreshOne`).
#[derive(diesel::query_builder::QueryId)]
struct RefreshContacts {
    customer_id: i64,
}

impl<DB> diesel::query_builder::QueryFragment<DB> for RefreshContacts
where
    DB: diesel::backend::Backend,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql(&CONTACT_FIGURES);
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.customer_id)?;
        Ok(())
    }
}

impl<C> RunQueryDsl<C> for RefreshContacts {}

/// The figures a card's interactions give it, in `FIGURES` and alone.
const LAST_CONTACT: &str = "last_contact_at = (SELECT MAX(i.occurred_at) FROM interactions i WHERE i.customer_id = customers.id)";
const OPEN_COMPLAINTS: &str = "open_complaints = (SELECT COUNT(*) FROM interactions i WHERE i.customer_id = customers.id AND i.type = 'complaint' AND i.complaint_status = 'open')";
static CONTACT_FIGURES: LazyLock<String> =
    LazyLock::new(|| format!("UPDATE customers SET {LAST_CONTACT}, {OPEN_COMPLAINTS} WHERE id = "));

/// Recomputes every derived figure of one customer. Call inside the write
/// transaction, after `customers::lock`.
pub fn refresh(conn: &mut DbConn, customer_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    let one = RefreshOne {
        start: window_start(now),
        now,
        customer_id,
    };
    super::native!(conn, |c| one.execute(c)).map(|_| ())
}

/// `refresh`'s statement, with its values bound and a static query id, so
/// each connection prepares it once. As text with literals it was planned
/// anew by every purchase and interaction: on PostgreSQL its planning took
/// as long as its execution (0.4–1.2 ms each), and SQLite compiled its nine
/// subqueries every time.
#[derive(diesel::query_builder::QueryId)]
struct RefreshOne {
    start: NaiveDateTime,
    now: NaiveDateTime,
    customer_id: i64,
}

impl<DB> diesel::query_builder::QueryFragment<DB> for RefreshOne
where
    DB: diesel::backend::Backend,
    NaiveDateTime: diesel::serialize::ToSql<diesel::sql_types::Timestamp, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Timestamp};
        out.push_sql("UPDATE customers SET ");
        out.push_sql(&FIGURES);
        out.push_sql(" ");
        out.push_sql(&REVENUE_12M);
        out.push_bind_param::<Timestamp, _>(&self.start)?;
        out.push_sql(WINDOW_END);
        out.push_sql(", ");
        out.push_sql(&PROFIT_12M);
        out.push_bind_param::<Timestamp, _>(&self.start)?;
        out.push_sql(WINDOW_END);
        out.push_sql(", stats_at = ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.customer_id)?;
        Ok(())
    }
}

impl<C> RunQueryDsl<C> for RefreshOne {}

/// Recomputes the derived figures of many customers in one statement (the
/// bulk upsert, once per batch), as `refresh` does one. Call inside the write
/// transaction. One grouped pass over the cards' transactions and one over
/// their interactions: a correlated subquery per figure read each card's
/// transactions six times, and a batch of 1,000 orders for 1,000 cards with
/// ~100 orders each spent 351 ms in it on PostgreSQL (docs/BENCHMARKS.md,
/// session 31).
///
/// The same update also sets the CPR window's revenue and share of wallet
/// when that window (`cpr`'s) is 12 months (`cpr::window_from_12m`): two
/// updates of the same 1,000 cards were a third of a PostgreSQL batch each.
pub fn refresh_many(
    conn: &mut DbConn,
    customer_ids: &[i64],
    now: NaiveDateTime,
    cpr: &crate::domain::cpr::CprSettings,
) -> QueryResult<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    // Only integers and our own timestamps go into the text: nothing a client sent.
    let ids: Vec<String> = customer_ids.iter().map(i64::to_string).collect();
    let ids = ids.join(",");
    let (start, at) = (literal(window_start(now)), literal(now));
    let window = super::cpr::window_from_12m(cpr, "x.revenue_12m")
        .map(|set| format!(", {set}"))
        .unwrap_or_default();
    conn.batch_execute(&format!(
        "UPDATE customers SET purchase_count = x.purchases, first_purchase_at = x.first_purchase, \
           last_purchase_at = x.last_purchase, lifetime_revenue_cents = x.revenue, \
           lifetime_profit_cents = x.profit, revenue_12m_cents = x.revenue_12m, \
           profit_12m_cents = x.profit_12m, last_contact_at = x.last_contact, \
           open_complaints = x.open_complaints, stats_at = {at}{window} \
         FROM (SELECT c.id AS id, COALESCE(t.purchases, 0) AS purchases, \
                 t.first_purchase AS first_purchase, t.last_purchase AS last_purchase, \
                 COALESCE(t.revenue, 0) AS revenue, COALESCE(t.profit, 0) AS profit, \
                 COALESCE(t.revenue_12m, 0) AS revenue_12m, COALESCE(t.profit_12m, 0) AS profit_12m, \
                 i.last_contact AS last_contact, COALESCE(i.open_complaints, 0) AS open_complaints \
               FROM customers c \
               LEFT JOIN (SELECT customer_id, COUNT(CASE WHEN {purchase} THEN 1 END) AS purchases, \
                            MIN(CASE WHEN {purchase} THEN occurred_at END) AS first_purchase, \
                            MAX(CASE WHEN {purchase} THEN occurred_at END) AS last_purchase, \
                            {revenue} AS revenue, {profit} AS profit, \
                            {revenue_12m} AS revenue_12m, {profit_12m} AS profit_12m \
                          FROM transactions WHERE customer_id IN ({ids}) GROUP BY customer_id) t \
                 ON t.customer_id = c.id \
               LEFT JOIN (SELECT customer_id, MAX(occurred_at) AS last_contact, \
                            SUM(CASE WHEN type = 'complaint' AND complaint_status = 'open' THEN 1 ELSE 0 END) AS open_complaints \
                          FROM interactions WHERE customer_id IN ({ids}) GROUP BY customer_id) i \
                 ON i.customer_id = c.id \
               WHERE c.id IN ({ids})) x \
         WHERE customers.id = x.id AND customers.id IN ({ids})",
        purchase = super::purchase(""),
        revenue = money_sum("amount_cents"),
        profit = money_sum("amount_cents - cost_cents"),
        revenue_12m = money_sum(&format!(
            "CASE WHEN occurred_at >= {start} THEN amount_cents ELSE 0 END"
        )),
        profit_12m = money_sum(&format!(
            "CASE WHEN occurred_at >= {start} THEN amount_cents - cost_cents ELSE 0 END"
        )),
    ))
}

/// The settings row that remembers when the 12-month window last moved
/// (`{"moved_at": ...}`; internal, not served by the settings API).
pub const WINDOW_MARK: &str = "stats_window";

/// How far before the previous window start an incremental move looks
/// again: a write whose clock read was taken just before a move but which
/// committed after it summed from a slightly older window start.
const OVERLAP_MINUTES: i64 = 10;

#[derive(serde::Serialize, serde::Deserialize)]
struct WindowMark {
    moved_at: NaiveDateTime,
}

/// When the window last moved, if it ever did in this database.
pub fn window_moved_at(conn: &mut DbConn) -> QueryResult<Option<NaiveDateTime>> {
    use super::schema::settings;
    let value: Option<String> = settings::table
        .find(WINDOW_MARK)
        .select(settings::value)
        .first(conn)
        .optional()?;
    // An unreadable mark is treated as none: the next move is a full one.
    Ok(value
        .and_then(|json| serde_json::from_str::<WindowMark>(&json).ok())
        .map(|m| m.moved_at))
}

fn set_window_moved_at(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<()> {
    let json = serde_json::to_string(&WindowMark { moved_at: now })
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    // Two first moves at once (the start-up job and a settings PUT, or two
    // processes): an insert of its own made the second a 409.
    super::settings::set_json(conn, WINDOW_MARK, &json, now)
}

/// Moves the 12-month window to `now`, so that every card's
/// `revenue_12m_cents` / `profit_12m_cents` is exact as of `now`; returns
/// the number of cards rewritten. Every write keeps its customer's figures
/// current, so between two moves a card can only be wrong by the
/// transactions that left the window since the last move: only customers
/// with a transaction in [previous window start − 10 min, new window start)
/// are recomputed (found through `transactions_occurred`). Without a
/// remembered move (a new database, or the clock went back) every customer
/// is recomputed from one grouped scan. Runs in one write transaction with
/// the cards it recomputes locked first (`lock_cards`, `lock_every_window`),
/// so no card write interleaves with it; it writes no card it did not lock.
pub fn refresh_windows(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    super::write_tx(conn, |conn| {
        let overlap = chrono::Duration::minutes(OVERLAP_MINUTES);
        let changed = match window_moved_at(conn)? {
            Some(last) if last <= now => move_window(conn, window_start(last) - overlap, now)?,
            // Moved a moment "later" by a process whose clock runs ahead of
            // this one's: nothing to move (a full recompute locked every card
            // for a clock difference), and the mark is not set back.
            Some(last) if last - now <= overlap => return Ok(0),
            Some(last) => {
                // Every card locked and summed again, on each move from this
                // process while its clock stays behind: say so, it is the
                // operator's to fix (NTP), not a cost to pay silently.
                log::warn!(
                    "the 12-month window was last moved at {last} UTC, {} min ahead of this process's clock ({now} UTC): recomputing every card's window; keep the clocks of the processes sharing this database in sync",
                    (last - now).num_minutes()
                );
                refresh_every_window(conn, now)?
            }
            None => refresh_every_window(conn, now)?,
        };
        set_window_moved_at(conn, now)?;
        Ok(changed)
    })
}

/// Locks the cards `ids` (a query of customer ids) in id order, on
/// PostgreSQL, before their figures are computed. Under READ COMMITTED an
/// UPDATE that waits for a card a concurrent purchase holds re-checks the
/// card's new row but keeps the figures it computed from its own, older
/// snapshot: the purchase's refresh was overwritten with a sum without it,
/// wrong until the card's next write. Locked first, the statement that
/// computes starts after those writers committed, and later ones wait.
/// SQLite's writers run one at a time.
fn lock_cards(conn: &mut DbConn, ids: &str) -> QueryResult<()> {
    if let DbConn::Postgresql(c) = conn {
        diesel::sql_query(format!(
            "SELECT id FROM customers WHERE id IN ({ids}) ORDER BY id FOR NO KEY UPDATE"
        ))
        .execute(c)?;
    }
    Ok(())
}

/// Recomputes the window figures of the customers with a transaction in
/// [`from`, window start at `now`), writing only the cards that change.
fn move_window(conn: &mut DbConn, from: NaiveDateTime, now: NaiveDateTime) -> QueryResult<usize> {
    let start = window_start(now);
    if from >= start {
        return Ok(0);
    }
    let (from, start) = (literal(from), literal(start));
    let moved = format!(
        "SELECT DISTINCT customer_id AS id FROM transactions \
         WHERE occurred_at >= {from} AND occurred_at < {start}"
    );
    lock_cards(conn, &moved)?;
    // One grouped pass over each moved customer's window: a correlated
    // subquery per figure read it four times (60 → 26 ms for 107 customers
    // on PostgreSQL at 10M transactions).
    diesel::sql_query(format!(
        "UPDATE customers SET revenue_12m_cents = w.revenue, profit_12m_cents = w.profit FROM ( \
           SELECT m.id AS id, {revenue} AS revenue, {profit} AS profit \
           FROM ({moved}) m \
           LEFT JOIN transactions t ON t.customer_id = m.id AND t.occurred_at >= {start} \
           GROUP BY m.id) w \
         WHERE customers.id = w.id \
           AND (customers.revenue_12m_cents <> w.revenue OR customers.profit_12m_cents <> w.profit)",
        revenue = money_sum("t.amount_cents"),
        profit = money_sum("t.amount_cents - t.cost_cents"),
    ))
    .execute(conn)
}

/// Every customer's window figures from one grouped scan of the window's
/// transactions; only the rows whose figures differ are written, and only
/// among the cards locked first (`window_locked`). A card outside that set
/// had no figures and no purchase in the window when the locks were taken;
/// a first purchase committed after the scan's snapshot refreshed the card
/// under its own lock, and the write below (a statement of its own, so a
/// newer snapshot) found the card with figures and no sum for it: it was
/// set to 0, wrong until the card's next write.
fn refresh_every_window(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let start = literal(window_start(now));
    let result = lock_every_window(conn, &start).and_then(|()| write_every_window(conn, &start));
    let dropped =
        conn.batch_execute("DROP TABLE IF EXISTS window_calc; DROP TABLE IF EXISTS window_locked");
    let changed = result?;
    dropped?;
    Ok(changed)
}

/// Locks (PostgreSQL) the cards with 12-month figures or a transaction in
/// the window, in id order, and keeps their ids in `window_locked`.
fn lock_every_window(conn: &mut DbConn, start: &str) -> QueryResult<()> {
    let lock = match conn {
        DbConn::Postgresql(_) => "FOR NO KEY UPDATE",
        DbConn::Sqlite(_) => "",
    };
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS window_locked;
         CREATE TEMPORARY TABLE window_locked AS
           SELECT id FROM customers WHERE id IN (
             SELECT id FROM customers WHERE revenue_12m_cents <> 0 OR profit_12m_cents <> 0
             UNION SELECT customer_id FROM transactions WHERE occurred_at >= {start})
           ORDER BY id {lock};
         CREATE INDEX window_locked_id ON window_locked (id);"
    ))
}

fn write_every_window(conn: &mut DbConn, start: &str) -> QueryResult<usize> {
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS window_calc;
         CREATE TEMPORARY TABLE window_calc AS
           SELECT customer_id AS id, {revenue} AS revenue, {profit} AS profit
           FROM transactions WHERE occurred_at >= {start} GROUP BY customer_id;
         CREATE INDEX window_calc_id ON window_calc (id);",
        revenue = money_sum("amount_cents"),
        profit = money_sum("amount_cents - cost_cents"),
    ))?;
    let revenue = "COALESCE((SELECT w.revenue FROM window_calc w WHERE w.id = customers.id), 0)";
    let profit = "COALESCE((SELECT w.profit FROM window_calc w WHERE w.id = customers.id), 0)";
    diesel::sql_query(format!(
        "UPDATE customers SET revenue_12m_cents = {revenue}, profit_12m_cents = {profit} \
         WHERE id IN (SELECT id FROM window_locked) \
           AND (revenue_12m_cents <> {revenue} OR profit_12m_cents <> {profit})"
    ))
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::db_tests;

    db_tests!(
        window_refresh_writes_only_what_moved,
        window_move_recomputes_only_customers_whose_purchases_left,
    );

    #[test]
    fn window_is_twelve_calendar_months() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 3, 31)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap_or_default();
        let start = window_start(now);
        assert_eq!(start.to_string(), "2025-03-31 10:00:00");
    }

    fn window_refresh_writes_only_what_moved(c: &mut DbConn) {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default();
        let old = literal(now - chrono::Duration::days(400));
        let recent = literal(now - chrono::Duration::days(10));
        let at = literal(now);
        c.batch_execute(&format!(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES (1, 'a@x.io', 'A', 'admin', 'x', {at}, {at});
             INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at, revenue_12m_cents, profit_12m_cents) VALUES
               (1, 'individual', 'stale', 1, {at}, {at}, 500, 200),
               (2, 'individual', 'current', 1, {at}, {at}, 70, 30),
               (3, 'individual', 'missing', 1, {at}, {at}, 0, 0);
             INSERT INTO transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, product, created_at, updated_at) VALUES
               (1, {old}, 500, 300, 'CNY', 'p', {at}, {at}),
               (2, {recent}, 70, 40, 'CNY', 'p', {at}, {at}),
               (3, {recent}, 9, 1, 'CNY', 'p', {at}, {at});"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        // 1 left the window, 3 entered it, 2 is already right.
        assert_eq!(refresh_windows(c, now).ok(), Some(2));
        assert_eq!(refresh_windows(c, now).ok(), Some(0));
        // A process whose clock is five minutes behind finds the window
        // moved "later" than its now: nothing to do, the mark stays.
        let behind = now - chrono::Duration::minutes(5);
        assert_eq!(refresh_windows(c, behind).ok(), Some(0));
        assert_eq!(window_moved_at(c).ok(), Some(Some(now)));
        #[derive(QueryableByName)]
        struct Figures {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            revenue_12m_cents: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            profit_12m_cents: i64,
        }
        let rows: Vec<Figures> = diesel::sql_query(
            "SELECT revenue_12m_cents, profit_12m_cents FROM customers ORDER BY id",
        )
        .load(c)
        .unwrap_or_default();
        let got: Vec<(i64, i64)> = rows
            .iter()
            .map(|f| (f.revenue_12m_cents, f.profit_12m_cents))
            .collect();
        assert_eq!(got, vec![(0, 0), (70, 30), (9, 8)]);
    }

    fn window_move_recomputes_only_customers_whose_purchases_left(c: &mut DbConn) {
        let day = |d: u32, h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, d)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .unwrap_or_default()
        };
        let first = day(20, 12);
        let at = literal(first);
        // Customer 1 bought just inside the window at `first`; customer 2
        // long before; customer 3's card is deliberately wrong (a move
        // must not rewrite cards whose purchases did not leave the window).
        let leaving = literal(window_start(first) + chrono::Duration::hours(5));
        let recent = literal(first - chrono::Duration::days(3));
        c.batch_execute(&format!(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES (1, 'a@x.io', 'A', 'admin', 'x', {at}, {at});
             INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at) VALUES
               (1, 'individual', 'leaving', 1, {at}, {at}),
               (2, 'individual', 'staying', 1, {at}, {at}),
               (3, 'individual', 'untouched', 1, {at}, {at});
             INSERT INTO transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, product, created_at, updated_at) VALUES
               (1, {leaving}, 500, 100, 'CNY', 'p', {at}, {at}),
               (1, {recent}, 70, 30, 'CNY', 'p', {at}, {at}),
               (2, {recent}, 10, 5, 'CNY', 'p', {at}, {at});"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let figures = |c: &mut DbConn| -> Vec<(i64, i64)> {
            #[derive(QueryableByName)]
            struct Figures {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                revenue_12m_cents: i64,
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                profit_12m_cents: i64,
            }
            diesel::sql_query(
                "SELECT revenue_12m_cents, profit_12m_cents FROM customers ORDER BY id",
            )
            .load::<Figures>(c)
            .unwrap_or_default()
            .iter()
            .map(|f| (f.revenue_12m_cents, f.profit_12m_cents))
            .collect()
        };
        assert_eq!(window_moved_at(c).ok(), Some(None));
        // No mark yet: every customer, from a full scan.
        assert_eq!(refresh_windows(c, first).ok(), Some(2));
        assert_eq!(window_moved_at(c).ok(), Some(Some(first)));
        assert_eq!(figures(c), vec![(570, 440), (10, 5), (0, 0)]);
        c.batch_execute("UPDATE customers SET revenue_12m_cents = 99 WHERE id = 3")
            .unwrap_or_else(|e| panic!("{e}"));
        // Four hours later the old purchase is still in the window.
        assert_eq!(refresh_windows(c, day(20, 16)).ok(), Some(0));
        // Six hours later it has left: only customer 1 is rewritten.
        let later = day(20, 18);
        assert_eq!(refresh_windows(c, later).ok(), Some(1));
        assert_eq!(figures(c), vec![(70, 40), (10, 5), (99, 0)]);
        assert_eq!(window_moved_at(c).ok(), Some(Some(later)));
        // A clock that went back: a full recompute again (fixes customer 3).
        assert_eq!(refresh_windows(c, first).ok(), Some(2));
        assert_eq!(figures(c), vec![(570, 440), (10, 5), (0, 0)]);
    }

    #[test]
    fn literal_has_microseconds() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 6))
            .unwrap_or_default();
        assert_eq!(literal(t), "'2026-01-02 03:04:05.000006'");
    }

    #[test]
    fn literal_clamps_to_four_digit_years() {
        let (first, last) = crate::domain::instants::range();
        let before = first - chrono::Duration::days(700_000);
        assert_eq!(literal(before), "'0001-01-01 00:00:00'");
        assert_eq!(literal(NaiveDateTime::MIN), "'0001-01-01 00:00:00'");
        assert_eq!(literal(NaiveDateTime::MAX), "'9999-12-31 23:59:59.999999'");
        assert_eq!(literal(first), "'0001-01-01 00:00:00'");
        assert_eq!(literal(last), "'9999-12-31 23:59:59.999999'");
    }
}
