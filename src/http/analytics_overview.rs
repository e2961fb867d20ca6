//! `/analytics/overview`: the questions DOMAIN.md §12 says a business cannot
//! answer without a CRM, each answered by one figure over `[from, to)`.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dates;
use super::extract::QueryParams;
use super::report_period;
use crate::auth::AuthUser;
use crate::db::analytics;
use crate::domain::codes::{from_db, ChurnReason, Trend};
use crate::domain::periods;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// Start (inclusive); default: 12 months before `to`. Its offset (else
    /// `to`'s, else UTC) says where the period's calendar months are.
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<FixedOffset>>,
    /// End (exclusive); default: now.
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<FixedOffset>>,
    /// Only customers owned (now) by this user.
    pub owner_id: Option<i64>,
}

/// A churn reason and the customers it was recorded for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReasonCount {
    pub reason: ChurnReason,
    pub customers: i64,
}

/// Is loyalty rising or falling? Behavioural loyalty (行为忠诚) measured as
/// the repeat-purchase rate, in the period against the period just before it
/// (as many calendar months when the period is whole calendar months, else
/// as long).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoyaltyTrend {
    /// bought_twice_or_more ÷ bought in the period; null when nobody bought.
    pub repeat_rate: Option<f64>,
    /// The same rate in the period before; null when nobody bought then.
    pub repeat_rate_before: Option<f64>,
    /// repeat_rate − repeat_rate_before, computed on the counts, to four
    /// decimal places cut toward zero (so |change| ≥ 0.01 exactly when
    /// `direction` is `rising` or `falling`); null when either is null.
    pub change: Option<f64>,
    /// `rising`, `falling` or `steady` (|change| < 0.01, compared exactly on the
    /// counts); `unknown` without both rates.
    #[schema(example = "falling")]
    pub direction: Trend,
}

/// The CRM questions, answered for `[from, to)`. Customers counted are the
/// cards that were customers at `to` and are not archived (of `owner_id`, if
/// given). A card is a customer since its first purchase when that is older
/// than the card (an ERP loads cards with their history), else since its
/// creation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub owner_id: Option<i64>,
    /// How many customers do we have? Cards that were customers before `to`
    /// (created, or first bought, before it), not archived.
    pub customers: i64,
    /// How many bought from us? Customers with at least one purchase (a
    /// transaction with an amount above 0: not a refunded order corrected to
    /// 0, not a free service) in the period.
    pub bought: i64,
    /// How many bought twice or more? Customers with two or more purchases in the period.
    pub bought_twice_or_more: i64,
    /// How many bought once and never again? Customers whose only purchase ever
    /// (to this day, after `to` included) was in the period. A customer with
    /// years of orders and one in the period is not one, nor is one who bought
    /// again after `to`: at most bought − bought_twice_or_more.
    pub bought_once: i64,
    /// How many were never contacted? Customers with no interaction before `to`.
    pub never_contacted: i64,
    /// New customers lost: customers with a churn recorded in the period
    /// that found them new, customers for at most the 12 months before it
    /// (judged at each churn, not at `to`: a month's report and the year's
    /// around it count the same loss alike).
    pub new_customers_lost: i64,
    /// Why do new customers leave? The reasons their churns of the period
    /// were recorded with, each with its customers (a customer with churns
    /// of two reasons counts in both), most first, then by reason.
    pub new_customers_lost_by_reason: Vec<ReasonCount>,
    /// Why do old ones leave without a word? Silent losses of the period:
    /// customers for more than 12 months before `to` who bought in the period
    /// just before (as many calendar months when the period is whole calendar
    /// months: March's is February; else as long) and nothing in the period, with no
    /// complaint and no churn recorded with a note since that time began. A
    /// customer who stopped buying earlier was lost in an earlier period.
    pub silent_losses: i64,
    /// Why is loyalty falling? The repeat-purchase rate against the period before.
    pub loyalty_trend: LoyaltyTrend,
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The CRM questions by period and owner; each figure's definition is in its
/// schema description.
#[utoipa::path(tag = "analytics", params(OverviewQuery), responses((status = 200, body = Overview)))]
#[get("/analytics/overview")]
pub async fn overview(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<OverviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let utc = |t: DateTime<FixedOffset>| t.with_timezone(&Utc);
    // The wall clocks the client sent: March in UTC+8 is whole calendar
    // months there, not in UTC (a review).
    let offset = |t: Option<DateTime<FixedOffset>>| t.map(|t| t.offset().local_minus_utc());
    let offsets = (
        offset(q.from).or(offset(q.to)).unwrap_or(0),
        offset(q.to).or(offset(q.from)).unwrap_or(0),
    );
    // A missing `from` is 12 calendar months before `to` on `to`'s clock,
    // the one the months are judged on: counted in UTC, `to` on 1 March at
    // +08:00 began the year on 29 February there, a day too early (a review).
    // By the rule that judges old and new customers below, with `to` sent or
    // not: a default `to` on 29 February took the window rule (1 March a
    // year before), one sent took this one (28 February).
    let (from, to) =
        report_period::resolve_or(q.from.map(utc), q.to.map(utc), default_from(offsets.1))?;
    let before = periods::start_before(from, to, offsets);
    // An old customer (a silent loss) is one since before 12 months before
    // `to` on the same clock as the default `from` (in UTC, `to` on 1 March
    // at +08:00 made a customer since 29 February there a new one: a review).
    let year_before_to = periods::months_before(to, 12, offsets.1);
    let owner = q.owner_id;
    let (o, lost) = state
        .db
        .report(move |conn| {
            crate::db::snapshot(conn, |conn| {
                Ok((
                    analytics::overview(conn, before, from, to, year_before_to, owner)?,
                    analytics::new_losses(conn, from, to, owner)?,
                ))
            })
        })
        .await?;
    let repeat_rate = rate(o.bought_twice_or_more, o.bought);
    let repeat_rate_before = rate(o.bought_twice_before, o.bought_before);
    let change = crate::domain::loyalty::repeat_change(
        o.bought_twice_or_more,
        o.bought,
        o.bought_twice_before,
        o.bought_before,
    );
    let direction = crate::domain::loyalty::repeat_trend(
        o.bought_twice_or_more,
        o.bought,
        o.bought_twice_before,
        o.bought_before,
    );
    Ok(HttpResponse::Ok().json(Overview {
        from: from.and_utc(),
        to: to.and_utc(),
        owner_id: owner,
        customers: o.customers,
        bought: o.bought,
        bought_twice_or_more: o.bought_twice_or_more,
        bought_once: o.bought_once,
        never_contacted: o.never_contacted,
        new_customers_lost: lost.customers,
        new_customers_lost_by_reason: lost
            .by_reason
            .into_iter()
            .map(|r| ReasonCount {
                reason: from_db(&r.reason, ChurnReason::Natural),
                customers: r.customers,
            })
            .collect(),
        silent_losses: o.silent_losses,
        loyalty_trend: LoyaltyTrend {
            repeat_rate,
            repeat_rate_before,
            change,
            direction,
        },
    }))
}

/// The default `from`: 12 calendar months before `to` on the clock
/// `offset_secs` east of UTC (`to`'s), chrono's clamp on a missing day.
fn default_from(offset_secs: i32) -> impl FnOnce(NaiveDateTime) -> NaiveDateTime {
    move |to| periods::months_before(to, 12, offset_secs)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;

    use super::default_from;
    use crate::http::report_period::resolve_at;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_default()
    }

    /// Without `to`, on 29 February: the clamp, as with `to` sent (the
    /// window rule, which the other reports take, starts on 1 March).
    #[test]
    fn the_default_from_without_to_is_the_clamp() {
        let now = t("2028-02-29 10:00");
        let sent = chrono::DateTime::from_naive_utc_and_offset(now, chrono::Utc);
        let without = resolve_at(None, None, now, default_from(0)).ok();
        let with = resolve_at(None, Some(sent), t("2030-01-01 00:00"), default_from(0)).ok();
        assert_eq!(without, Some((t("2027-02-28 10:00"), now)));
        assert_eq!(with, without);
        let others = resolve_at(None, None, now, crate::db::stats::window_start).ok();
        assert_eq!(others, Some((t("2027-03-01 00:00"), now)));
    }
}
