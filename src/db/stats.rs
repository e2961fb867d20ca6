//! The derived figures of a customer card, recomputed from interactions and
//! transactions in the same database transaction as every write that
//! changes them, and refreshed as the 12-month window moves.

use chrono::{Months, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::DbConn;

/// The start of the trailing 12-month window ending at `now`.
pub fn window_start(now: NaiveDateTime) -> NaiveDateTime {
    window_start_months(now, 12)
}

/// The start of a trailing window of `months` calendar months.
pub fn window_start_months(now: NaiveDateTime, months: u32) -> NaiveDateTime {
    now.checked_sub_months(Months::new(months))
        .unwrap_or(NaiveDateTime::MIN)
}

/// A timestamp literal both backends compare correctly with stored values.
///
/// Clamped to the years 1 to 9999: PostgreSQL reads this format only there
/// (`-1842-01-30 ...` is a 500 "time zone displacement out of range"), and
/// SQLite's text comparison orders only four-digit years. Every literal is a
/// bound of a period (a report's `from`, the period before it, a window
/// start), and a bound outside those years means "since/until forever".
pub fn literal(t: NaiveDateTime) -> String {
    let (first, last) = literal_range();
    // The format diesel stores in SQLite, so text comparison orders correctly.
    format!("'{}'", t.clamp(first, last).format("%F %T%.f"))
}

fn literal_range() -> (NaiveDateTime, NaiveDateTime) {
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    (
        day(1, 1, 1).and_time(chrono::NaiveTime::MIN),
        day(9999, 12, 31)
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap_or_default(),
    )
}

const FIGURES: &str = "
    last_contact_at = (SELECT MAX(i.occurred_at) FROM interactions i WHERE i.customer_id = customers.id),
    purchase_count = (SELECT COUNT(*) FROM transactions t WHERE t.customer_id = customers.id),
    first_purchase_at = (SELECT MIN(t.occurred_at) FROM transactions t WHERE t.customer_id = customers.id),
    last_purchase_at = (SELECT MAX(t.occurred_at) FROM transactions t WHERE t.customer_id = customers.id),
    lifetime_revenue_cents = COALESCE((SELECT CAST(SUM(t.amount_cents) AS BIGINT) FROM transactions t WHERE t.customer_id = customers.id), 0),
    lifetime_profit_cents = COALESCE((SELECT CAST(SUM(t.amount_cents - t.cost_cents) AS BIGINT) FROM transactions t WHERE t.customer_id = customers.id), 0),
    open_complaints = (SELECT COUNT(*) FROM interactions i WHERE i.customer_id = customers.id AND i.type = 'complaint' AND i.complaint_status = 'open'),";

fn window_figures(start: NaiveDateTime) -> String {
    let start = literal(start);
    format!(
        "revenue_12m_cents = COALESCE((SELECT CAST(SUM(t.amount_cents) AS BIGINT) FROM transactions t WHERE t.customer_id = customers.id AND t.occurred_at >= {start}), 0),
         profit_12m_cents = COALESCE((SELECT CAST(SUM(t.amount_cents - t.cost_cents) AS BIGINT) FROM transactions t WHERE t.customer_id = customers.id AND t.occurred_at >= {start}), 0)"
    )
}

/// Recomputes every derived figure of one customer. Call inside the write
/// transaction, after `customers::lock`.
pub fn refresh(conn: &mut DbConn, customer_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    // Only integers and our own timestamp go into the text: nothing a client sent.
    conn.batch_execute(&format!(
        "UPDATE customers SET {FIGURES} {}, stats_at = {} WHERE id = {customer_id}",
        window_figures(window_start(now)),
        literal(now)
    ))
}

/// Recomputes the derived figures of many customers in one statement (the
/// bulk upsert, once per batch). Call inside the write transaction.
pub fn refresh_many(
    conn: &mut DbConn,
    customer_ids: &[i64],
    now: NaiveDateTime,
) -> QueryResult<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    // Only integers and our own timestamp go into the text: nothing a client sent.
    let ids: Vec<String> = customer_ids.iter().map(i64::to_string).collect();
    conn.batch_execute(&format!(
        "UPDATE customers SET {FIGURES} {}, stats_at = {} WHERE id IN ({})",
        window_figures(window_start(now)),
        literal(now),
        ids.join(",")
    ))
}

/// Moves the 12-month window for every customer whose window figures can
/// have changed since: set-based, touching only rows with recent purchases
/// or non-zero window figures.
pub fn refresh_windows(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let start = literal(window_start(now));
    // The window sums in one grouped pass, then only the rows whose figures
    // differ are written: most runs change few cards and hold the write
    // lock (SQLite) or row locks (PostgreSQL) only for those.
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS window_calc;
         CREATE TEMPORARY TABLE window_calc AS
           SELECT customer_id AS id, CAST(SUM(amount_cents) AS BIGINT) AS revenue,
                  CAST(SUM(amount_cents - cost_cents) AS BIGINT) AS profit
           FROM transactions WHERE occurred_at >= {start} GROUP BY customer_id;
         CREATE INDEX window_calc_id ON window_calc (id);"
    ))?;
    let revenue = "COALESCE((SELECT w.revenue FROM window_calc w WHERE w.id = customers.id), 0)";
    let profit = "COALESCE((SELECT w.profit FROM window_calc w WHERE w.id = customers.id), 0)";
    let changed = diesel::sql_query(format!(
        "UPDATE customers SET revenue_12m_cents = {revenue}, profit_12m_cents = {profit} \
         WHERE (revenue_12m_cents <> 0 OR profit_12m_cents <> 0 OR id IN (SELECT id FROM window_calc)) \
           AND (revenue_12m_cents <> {revenue} OR profit_12m_cents <> {profit})"
    ))
    .execute(conn);
    conn.batch_execute("DROP TABLE IF EXISTS window_calc")?;
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_twelve_calendar_months() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 3, 31)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap_or_default();
        let start = window_start(now);
        assert_eq!(start.to_string(), "2025-03-31 10:00:00");
    }

    #[test]
    fn window_refresh_writes_only_what_moved() {
        use diesel::Connection;
        let mut c = DbConn::Sqlite(
            diesel::SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}")),
        );
        super::super::migrate::run(&mut c).unwrap_or_else(|e| panic!("{e}"));
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
        assert_eq!(refresh_windows(&mut c, now).ok(), Some(2));
        assert_eq!(refresh_windows(&mut c, now).ok(), Some(0));
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
        .load(&mut c)
        .unwrap_or_default();
        let got: Vec<(i64, i64)> = rows
            .iter()
            .map(|f| (f.revenue_12m_cents, f.profit_12m_cents))
            .collect();
        assert_eq!(got, vec![(0, 0), (70, 30), (9, 8)]);
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
        let (first, last) = super::literal_range();
        let before = first - chrono::Duration::days(700_000);
        assert_eq!(literal(before), "'0001-01-01 00:00:00'");
        assert_eq!(literal(NaiveDateTime::MIN), "'0001-01-01 00:00:00'");
        assert_eq!(literal(NaiveDateTime::MAX), "'9999-12-31 23:59:59.999999'");
        assert_eq!(literal(first), "'0001-01-01 00:00:00'");
        assert_eq!(literal(last), "'9999-12-31 23:59:59.999999'");
    }
}
