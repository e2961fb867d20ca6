//! The at-risk list: `domain::churn`'s rule in one SQL statement over every
//! active, unchurned customer who has bought, ranked by score, keyset-paged.
//! Only numbers from typed settings and our own timestamps go into the text.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};

use super::stats::literal;
use super::DbConn;
use crate::domain::churn::ChurnSettings;

#[derive(Debug, Clone, QueryableByName)]
pub struct RiskRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub owner_id: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_contact_at: Option<NaiveDateTime>,
    #[diesel(sql_type = BigInt)]
    pub open_complaints: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub satisfaction_overall: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub revenue_recent_cents: i64,
    #[diesel(sql_type = BigInt)]
    pub revenue_before_cents: i64,
    #[diesel(sql_type = BigInt)]
    pub s_no_contact: i64,
    #[diesel(sql_type = BigInt)]
    pub s_falling_share: i64,
    #[diesel(sql_type = BigInt)]
    pub s_low_satisfaction: i64,
    #[diesel(sql_type = BigInt)]
    pub s_open_complaints: i64,
    #[diesel(sql_type = BigInt)]
    pub s_owner_inactive: i64,
    #[diesel(sql_type = BigInt)]
    pub score: i64,
}

/// The signals and score of each candidate, as a SQL subquery.
pub fn scored_sql(s: &ChurnSettings, now: NaiveDateTime, owner_id: Option<i64>) -> String {
    let recent = literal(now - Duration::days(s.share_window_days));
    let before = literal(now - Duration::days(2 * s.share_window_days));
    let contact_cutoff = literal(now - Duration::days(s.no_contact_days));
    let keep = 100 - s.share_drop_pct;
    let below = s.low_satisfaction_below;
    let min_complaints = s.min_open_complaints;
    let owner = owner_id
        .map(|o| format!(" AND c.owner_id = {o}"))
        .unwrap_or_default();
    let revenue = |cond: &str| {
        format!(
            "COALESCE((SELECT CAST(SUM(t.amount_cents) AS BIGINT) FROM transactions t \
             WHERE t.customer_id = c.id AND {cond}), 0)"
        )
    };
    let base = format!(
        "SELECT c.id, c.name, c.owner_id, c.last_contact_at, c.open_complaints, c.satisfaction_overall, \
           {} AS revenue_recent_cents, {} AS revenue_before_cents, \
           CAST(CASE WHEN u.active THEN 0 ELSE 1 END AS BIGINT) AS s_owner_inactive \
         FROM customers c JOIN users u ON u.id = c.owner_id \
         WHERE c.archived_at IS NULL AND c.churned_at IS NULL AND c.purchase_count > 0{owner}",
        revenue(&format!("t.occurred_at >= {recent}")),
        revenue(&format!("t.occurred_at >= {before} AND t.occurred_at < {recent}")),
    );
    let signals = format!(
        "SELECT b.*, \
           CAST(CASE WHEN b.last_contact_at IS NULL OR b.last_contact_at <= {contact_cutoff} THEN 1 ELSE 0 END AS BIGINT) AS s_no_contact, \
           CAST(CASE WHEN b.revenue_before_cents > 0 AND b.revenue_recent_cents * 100 <= b.revenue_before_cents * {keep} THEN 1 ELSE 0 END AS BIGINT) AS s_falling_share, \
           CAST(CASE WHEN b.satisfaction_overall IS NOT NULL AND b.satisfaction_overall < {below:?} THEN 1 ELSE 0 END AS BIGINT) AS s_low_satisfaction, \
           CAST(CASE WHEN b.open_complaints >= {min_complaints} THEN 1 ELSE 0 END AS BIGINT) AS s_open_complaints \
         FROM ({base}) b"
    );
    format!(
        "SELECT g.*, CAST(g.s_no_contact * {} + g.s_falling_share * {} + g.s_low_satisfaction * {} \
           + g.s_open_complaints * {} + g.s_owner_inactive * {} AS BIGINT) AS score FROM ({signals}) g",
        s.weight_no_contact,
        s.weight_falling_share,
        s.weight_low_satisfaction,
        s.weight_open_complaints,
        s.weight_owner_inactive,
    )
}

/// One page (`limit + 1` rows) of customers at risk, highest score first,
/// ties by id, resuming after `(score, id)`.
pub fn page(
    conn: &mut DbConn,
    s: &ChurnSettings,
    now: NaiveDateTime,
    owner_id: Option<i64>,
    after: Option<(i64, i64)>,
    limit: i64,
) -> QueryResult<Vec<RiskRow>> {
    let resume = after
        .map(|(score, id)| {
            format!(" AND (r.score < {score} OR (r.score = {score} AND r.id > {id}))")
        })
        .unwrap_or_default();
    let sql = format!(
        "SELECT r.* FROM ({}) r WHERE r.score >= {}{resume} ORDER BY r.score DESC, r.id ASC LIMIT {}",
        scored_sql(s, now, owner_id),
        s.min_score,
        limit + 1
    );
    diesel::sql_query(sql).load(conn)
}
