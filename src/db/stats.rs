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
pub fn literal(t: NaiveDateTime) -> String {
    // The format diesel stores in SQLite, so text comparison orders correctly.
    format!("'{}'", t.format("%F %T%.f"))
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

/// Moves the 12-month window for every customer whose window figures can
/// have changed since: set-based, touching only rows with recent purchases
/// or non-zero window figures.
pub fn refresh_windows(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let start = window_start(now);
    let sql = format!(
        "UPDATE customers SET {} WHERE revenue_12m_cents <> 0 OR profit_12m_cents <> 0 OR last_purchase_at >= {}",
        window_figures(start),
        literal(start)
    );
    diesel::sql_query(sql).execute(conn)
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
    fn literal_has_microseconds() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 6))
            .unwrap_or_default();
        assert_eq!(literal(t), "'2026-01-02 03:04:05.000006'");
    }
}
