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
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_contact_at: Option<NaiveDateTime>,
    /// The latest of the last contact, the first purchase and the card's
    /// creation (`domain::churn::silent_days`).
    #[diesel(sql_type = Timestamp)]
    pub silent_since: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_purchase_at: Option<NaiveDateTime>,
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
    pub s_no_purchase: i64,
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
///
/// Over every card, the two windows' revenue comes from one pass over the
/// purchases since the earlier window began, grouped by buyer; per card (two
/// index lookups each) it took 0.6–1.1 s at a million cards. One owner's
/// book stays card by card: grouping every buyer's purchases for it would
/// cost what the whole list costs.
pub fn scored_sql(s: &ChurnSettings, now: NaiveDateTime, owner_id: Option<i64>) -> String {
    let recent = literal(now - Duration::days(s.share_window_days));
    let before = literal(now - Duration::days(2 * s.share_window_days));
    // Up to `now`: the pages after the first score as of the first's
    // instant, and a purchase dated after it (recorded meanwhile, or dated
    // ahead) is not in the window that instant closes.
    let until = literal(now);
    let columns =
        "c.id, c.name, c.owner_id, c.currency, c.created_at, c.last_contact_at, c.first_purchase_at, c.last_purchase_at, c.open_complaints, c.satisfaction_overall, \
           CAST(CASE WHEN u.active THEN 0 ELSE 1 END AS BIGINT) AS s_owner_inactive";
    let candidates = "c.archived_at IS NULL AND c.churned_at IS NULL AND c.purchase_count > 0";
    let base = match owner_id {
        Some(owner) => {
            let revenue = |cond: &str| {
                format!(
                    "COALESCE((SELECT {sum} FROM transactions t \
                     WHERE t.customer_id = c.id AND {cond}), 0)",
                    sum = super::money_sum("t.amount_cents")
                )
            };
            format!(
                "SELECT {columns}, {} AS revenue_recent_cents, {} AS revenue_before_cents \
                 FROM customers c JOIN users u ON u.id = c.owner_id \
                 WHERE {candidates} AND c.owner_id = {owner}",
                revenue(&format!(
                    "t.occurred_at >= {recent} AND t.occurred_at <= {until}"
                )),
                revenue(&format!(
                    "t.occurred_at >= {before} AND t.occurred_at < {recent}"
                )),
            )
        }
        None => format!(
            "SELECT {columns}, COALESCE(w.recent, 0) AS revenue_recent_cents, \
               COALESCE(w.earlier, 0) AS revenue_before_cents \
             FROM customers c JOIN users u ON u.id = c.owner_id \
             LEFT JOIN (SELECT t.customer_id, \
                 {recent_sum} AS recent, {earlier_sum} AS earlier \
               FROM transactions t WHERE t.occurred_at >= {before} AND t.occurred_at <= {until} \
               GROUP BY t.customer_id) w \
               ON w.customer_id = c.id \
             WHERE {candidates}",
            recent_sum = super::money_sum(&format!(
                "CASE WHEN t.occurred_at >= {recent} THEN t.amount_cents ELSE 0 END"
            )),
            earlier_sum = super::money_sum(&format!(
                "CASE WHEN t.occurred_at < {recent} THEN t.amount_cents ELSE 0 END"
            )),
        ),
    };
    score_over(s, now, &base)
}

/// The signals and score over `base`, a subquery with the columns
/// `created_at`, `last_contact_at`, `first_purchase_at`, `last_purchase_at`, `revenue_recent_cents`,
/// `revenue_before_cents`, `satisfaction_overall`, `open_complaints` and
/// `s_owner_inactive`.
///
/// The falling-share test compares in floating point: `revenue × 100` of a
/// large customer passes the 64-bit range (a 500 on PostgreSQL). Exact for
/// revenues below ~9·10^13 cents, as the domain rule's 128-bit arithmetic.
fn score_over(s: &ChurnSettings, now: NaiveDateTime, base: &str) -> String {
    let contact_cutoff = literal(now - Duration::days(s.no_contact_days));
    let purchase_cutoff = literal(now - Duration::days(s.no_purchase_days));
    let keep = 100 - s.share_drop_pct;
    let below = s.low_satisfaction_below;
    let min_complaints = s.min_open_complaints;
    // The latest of three instants, two of them nullable, in CASEs (SQLite
    // has no GREATEST; its MAX of NULL is NULL).
    let known = "CASE WHEN b.first_purchase_at > b.created_at THEN b.first_purchase_at ELSE b.created_at END";
    let silent_since =
        format!("CASE WHEN b.last_contact_at > {known} THEN b.last_contact_at ELSE {known} END");
    let signals = format!(
        "SELECT b.*, {silent_since} AS silent_since, \
           CAST(CASE WHEN {silent_since} <= {contact_cutoff} THEN 1 ELSE 0 END AS BIGINT) AS s_no_contact, \
           CAST(CASE WHEN b.revenue_before_cents > 0 AND CAST(b.revenue_recent_cents AS DOUBLE PRECISION) * 100 <= CAST(b.revenue_before_cents AS DOUBLE PRECISION) * {keep} THEN 1 ELSE 0 END AS BIGINT) AS s_falling_share, \
           CAST(CASE WHEN b.last_purchase_at IS NOT NULL AND b.last_purchase_at <= {purchase_cutoff} THEN 1 ELSE 0 END AS BIGINT) AS s_no_purchase, \
           CAST(CASE WHEN b.satisfaction_overall IS NOT NULL AND b.satisfaction_overall < {below:?} THEN 1 ELSE 0 END AS BIGINT) AS s_low_satisfaction, \
           CAST(CASE WHEN b.open_complaints >= {min_complaints} THEN 1 ELSE 0 END AS BIGINT) AS s_open_complaints \
         FROM ({base}) b"
    );
    format!(
        "SELECT g.*, CAST(g.s_no_contact * {} + g.s_falling_share * {} + g.s_no_purchase * {} \
           + g.s_low_satisfaction * {} + g.s_open_complaints * {} + g.s_owner_inactive * {} AS BIGINT) \
           AS score FROM ({signals}) g",
        s.weight_no_contact,
        s.weight_falling_share,
        s.weight_no_purchase,
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

#[cfg(test)]
mod tests {
    //! The list's SQL must give the signals and score `domain::churn` gives,
    //! at every boundary, from real cards, owners and purchases (low
    //! satisfaction set on the card directly rather than through survey
    //! responses, which set it over HTTP).
    use std::collections::HashMap;

    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::db::testing::{db_tests, insert_rows};
    use crate::domain::churn::{score, signals, RiskInputs};

    db_tests!(listed_signals_match_the_domain_rule);

    #[derive(QueryableByName)]
    struct Scored {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = BigInt)]
        revenue_recent_cents: i64,
        #[diesel(sql_type = BigInt)]
        revenue_before_cents: i64,
        #[diesel(sql_type = BigInt)]
        s_no_contact: i64,
        #[diesel(sql_type = BigInt)]
        s_falling_share: i64,
        #[diesel(sql_type = BigInt)]
        s_no_purchase: i64,
        #[diesel(sql_type = BigInt)]
        s_low_satisfaction: i64,
        #[diesel(sql_type = BigInt)]
        s_open_complaints: i64,
        #[diesel(sql_type = BigInt)]
        s_owner_inactive: i64,
        #[diesel(sql_type = BigInt)]
        score: i64,
    }

    /// One card per combination of the inputs, owned by an active (1) or
    /// an inactive (2) user. Each window's revenue is one purchase on the
    /// window's first instant; a purchase a second before the earlier
    /// window, or a second after `now` (a later page scores as of the
    /// first's instant), must count in neither. Both statements are checked: the whole
    /// list's (one grouped pass over the purchases) and one owner's book's
    /// (card by card). Archived, churned and never-bought cards are not
    /// listed.
    fn listed_signals_match_the_domain_rule(c: &mut DbConn) {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 29)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default();
        let s = ChurnSettings::default();
        let mut cards = Vec::new();
        for days in [None, Some(0_i64), Some(89), Some(90), Some(91)] {
            for (recent, before) in [(0_i64, 0_i64), (50, 100), (51, 100), (0, 1), (100, 100)] {
                for bought in [None, Some(0_i64), Some(179), Some(180), Some(181)] {
                    for sat in [None, Some(2.99_f64), Some(3.0)] {
                        // Never bought, with the card 89 days old; else
                        // bought 89, 90 or 2000 days ago, the card 400 or
                        // 89 days old (an ERP load of old orders).
                        let silence = [
                            (None, 89),
                            (Some(89_i64), 400_i64),
                            (Some(90), 400),
                            (Some(2000), 89),
                        ];
                        for (complaints, (first, created)) in
                            [0_i64, 1].into_iter().flat_map(|n| silence.map(|s| (n, s)))
                        {
                            for active in [true, false] {
                                cards.push(RiskInputs {
                                    days_since_contact: days,
                                    days_since_first_purchase: first,
                                    days_since_created: created,
                                    revenue_recent_cents: recent,
                                    revenue_before_cents: before,
                                    days_since_purchase: bought,
                                    satisfaction_overall: sat,
                                    open_complaints: complaints,
                                    owner_active: active,
                                });
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(cards.len(), 6000);
        let at = literal(now);
        c.batch_execute(&format!(
            "{}; INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
             VALUES (2, 'gone@x.io', 'Gone', 'sales', 'x', FALSE, {at}, {at})",
            crate::db::testing::OWNER
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let ago = |d: Option<i64>| {
            d.map(|d| literal(now - Duration::days(d)))
                .unwrap_or_else(|| "NULL".into())
        };
        let n = cards.len() as i64;
        insert_rows(
            c,
            "customers (id, kind, name, owner_id, created_at, updated_at, purchase_count, \
               last_contact_at, first_purchase_at, last_purchase_at, satisfaction_overall, \
               open_complaints, archived_at, churned_at)",
            cards
                .iter()
                .zip(1..)
                .map(|(card, id)| {
                    format!(
                        "({id}, 'individual', 'c{id}', {owner}, {}, {at}, 1, {}, {}, {}, {}, {}, NULL, NULL)",
                        ago(Some(card.days_since_created)),
                        ago(card.days_since_contact),
                        ago(card.days_since_first_purchase),
                        ago(card.days_since_purchase),
                        card.satisfaction_overall
                            .map(|v| format!("{v:?}"))
                            .unwrap_or_else(|| "NULL".into()),
                        card.open_complaints,
                        owner = if card.owner_active { 1 } else { 2 },
                    )
                })
                .chain([
                    format!("({}, 'individual', 'archived', 1, {at}, {at}, 1, NULL, NULL, NULL, NULL, 0, {at}, NULL)", n + 1),
                    format!("({}, 'individual', 'churned', 1, {at}, {at}, 1, NULL, NULL, NULL, NULL, 0, NULL, {at})", n + 2),
                    format!("({}, 'individual', 'lead', 1, {at}, {at}, 0, NULL, NULL, NULL, NULL, 0, NULL, NULL)", n + 3),
                ]),
        );
        let recent = now - Duration::days(s.share_window_days);
        let earlier = now - Duration::days(2 * s.share_window_days);
        let purchase = |id: i64, when: NaiveDateTime, cents: i64| {
            format!(
                "({id}, {}, {cents}, 0, 'CNY', 'p', {at}, {at})",
                literal(when)
            )
        };
        insert_rows(
            c,
            "transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, \
               product, created_at, updated_at)",
            cards.iter().zip(1..).flat_map(|(card, id)| {
                [
                    (recent, card.revenue_recent_cents),
                    (earlier, card.revenue_before_cents),
                ]
                .into_iter()
                .filter(|(_, cents)| *cents > 0)
                .map(move |(when, cents)| purchase(id, when, cents))
                .chain([
                    purchase(id, earlier - Duration::seconds(1), 999),
                    purchase(id, now + Duration::seconds(1), 777),
                ])
            }),
        );
        let scored = |c: &mut DbConn, owner: Option<i64>| -> HashMap<i64, Scored> {
            diesel::sql_query(scored_sql(&s, now, owner))
                .load::<Scored>(c)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|r| (r.id, r))
                .collect()
        };
        let all = scored(c, None);
        let mut books = scored(c, Some(1));
        books.extend(scored(c, Some(2)));
        for (name, listed) in [("whole list", all), ("owners' books", books)] {
            assert_eq!(listed.len(), cards.len(), "{name}");
            for (inputs, id) in cards.iter().zip(1..) {
                let got = listed
                    .get(&id)
                    .unwrap_or_else(|| panic!("{name}: card {id} not listed"));
                agree(got, &s, inputs, &format!("{name}, card {id}"));
            }
        }
    }

    fn agree(got: &Scored, s: &ChurnSettings, inputs: &RiskInputs, what: &str) {
        assert_eq!(
            (got.revenue_recent_cents, got.revenue_before_cents),
            (inputs.revenue_recent_cents, inputs.revenue_before_cents),
            "{what}: {inputs:?}"
        );
        let want = signals(inputs, s);
        let flags = [
            got.s_no_contact,
            got.s_falling_share,
            got.s_no_purchase,
            got.s_low_satisfaction,
            got.s_open_complaints,
            got.s_owner_inactive,
        ];
        let expected = [
            want.no_contact,
            want.falling_share,
            want.no_purchase,
            want.low_satisfaction,
            want.open_complaints,
            want.owner_inactive,
        ]
        .map(i64::from);
        assert_eq!(flags, expected, "{what}: {inputs:?}");
        assert_eq!(got.score, score(&want, s), "{what}: {inputs:?}");
    }
}
