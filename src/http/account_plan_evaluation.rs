//! `GET /account-plans/{id}/evaluation`: plan execution and return (ROI).

use actix_web::{get, web, HttpResponse};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account_plans::find_plan;
use super::extract::NoQuery;
use crate::auth::AuthUser;
use crate::db::account_plans as plans;
use crate::db::{self};
use crate::domain::account_plans::{
    actions_due_by, charged, cost_incurred, elapsed, is_due, is_overdue, judged_as_of,
    period_before, ratio, roi, uplift,
};
use crate::domain::codes::{from_db, ActionStatus};
use crate::error::ApiError;
use crate::startup::AppState;

/// Revenue and profit from the customer over some days.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeriodResult {
    pub start: NaiveDate,
    /// Inclusive.
    pub end: NaiveDate,
    pub revenue_cents: i64,
    pub profit_cents: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanEvaluation {
    pub plan_id: i64,
    pub customer_id: i64,
    /// The day the evaluation is judged as of (today, UTC; for a completed
    /// or cancelled plan the day it closed, `closed_at`, or the day after
    /// `period_end` when it closed on that day): it counts the period's days
    /// before it, and an action due before it and not done is overdue.
    pub as_of: NaiveDate,
    /// Actions not cancelled.
    pub actions_total: i64,
    /// Actions with status `done`.
    pub actions_done: i64,
    /// Actions not cancelled whose due date is on or before today (a
    /// running plan) or the day it closed (a closed one: for a plan closed
    /// on its `period_end`, that day, not `as_of`).
    pub actions_due: i64,
    /// Of the due actions, those done.
    pub actions_due_done: i64,
    /// Actions not done whose due date is before `as_of` (one due today is
    /// not late yet).
    pub actions_overdue: i64,
    /// actions_due_done ÷ actions_due (0–1); null when nothing is due yet.
    pub execution_rate: Option<f64>,
    pub budget_cents: i64,
    /// The customer's currency (ISO 4217): the unit of every `_cents` figure here.
    #[schema(example = "CNY")]
    pub currency: String,
    /// Sum of the cost of the actions not cancelled, whatever their due
    /// date: the plan's committed cost.
    pub cost_cents: i64,
    /// The cost incurred by `as_of`: the actions not cancelled that are done
    /// or whose due day has passed (due before `as_of`, as the profit side
    /// counts the days through yesterday). An action due today or later and
    /// not done has spent nothing yet.
    pub cost_to_date_cents: i64,
    /// cost_cents ÷ budget_cents (the committed cost against the budget);
    /// null with a zero budget.
    pub budget_used: Option<f64>,
    /// The customer's transactions in the plan period so far, whole days
    /// only: period_start to the earliest of period_end, the day before
    /// as_of and yesterday (inclusive days, UTC; a running plan is judged on
    /// the days it has run, and today, not over yet, would weigh a part of a
    /// day against a whole one). Until the plan has run a whole day it is
    /// empty: its `end` is the day before its `start`. Read from the
    /// customer's transactions as they stand, also for a closed plan: an
    /// order the ERP corrects or posts late for the period moves them.
    pub in_period: PeriodResult,
    /// As many days as `in_period`, just before the plan period.
    pub before: PeriodResult,
    /// in_period.profit − before.profit: what the plan added.
    pub profit_uplift_cents: i64,
    /// (profit in period − profit before − cost) ÷ cost; null when that cost
    /// is 0, and until the plan has run a whole day (nothing to compare yet,
    /// even when an action done early has cost something). The cost is `cost_to_date_cents` while the plan runs (`as_of` on
    /// or before `period_end`), as the profit side counts only the days run:
    /// an action due months ahead is not charged against the first weeks'
    /// uplift. Once the period is over, it is the cost incurred by its end:
    /// actions done, or due on or before `period_end` (not an action planned
    /// for after the period and not done; no done date is kept, so such an
    /// action marked done later enters the ended plan's ROI that day).
    /// 0 is break-even, −1 means the cost
    /// bought no uplift at all.
    pub roi: Option<f64>,
}

fn result(
    conn: &mut db::DbConn,
    customer_id: i64,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<PeriodResult, ApiError> {
    let from = start.and_hms_opt(0, 0, 0).unwrap_or_default();
    let to = (end + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let (revenue_cents, profit_cents) = plans::revenue_profit(conn, customer_id, from, to)?;
    Ok(PeriodResult {
        start,
        end,
        revenue_cents,
        profit_cents,
    })
}

/// The empty period of a plan that has not run a whole day yet: it ends the
/// day before it starts.
fn not_started(start: NaiveDate) -> PeriodResult {
    PeriodResult {
        start,
        end: start.pred_opt().unwrap_or(start),
        revenue_cents: 0,
        profit_cents: 0,
    }
}

/// How the plan is going: actions done against due, cost against budget,
/// the customer's revenue and profit in the plan period's whole days so far
/// (through yesterday, UTC) against as many days before it, and the ROI:
/// (profit in period − profit before − cost) ÷ cost, on the cost incurred to
/// date while the plan runs and the committed cost once it is over.
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id")),
    responses((status = 200, body = PlanEvaluation))
)]
#[get("/account-plans/{id}/evaluation")]
pub async fn evaluation(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let view = state
        .db
        // One snapshot for the plan, its actions, both profit sums and the
        // currency: on PostgreSQL an action PATCH or a transaction committed
        // between the reads gave a cost from the new actions beside a profit
        // from before (an outside review), as /analytics/loyalty avoids.
        .run(move |conn| {
            db::snapshot(conn, |conn| {
                let plan = find_plan(conn, id)?;
                let actions = plans::actions_of(conn, id)?;
                let closed = plan.closed_at.map(|at| at.date());
                let today = db::now().date();
                let as_of = judged_as_of(closed, plan.period_end, today);
                let due_by = actions_due_by(closed, today);
                let live: Vec<_> = actions
                    .iter()
                    .filter(|a| {
                        from_db(&a.status, ActionStatus::Planned) != ActionStatus::Cancelled
                    })
                    .collect();
                let done = |a: &plans::ActionRow| {
                    from_db(&a.status, ActionStatus::Planned) == ActionStatus::Done
                };
                let due: Vec<&plans::ActionRow> = live
                    .iter()
                    .copied()
                    .filter(|a| is_due(a.due_date, due_by))
                    .collect();
                let due_done = due.iter().filter(|a| done(a)).count() as i64;
                let overdue = due
                    .iter()
                    .filter(|a| is_overdue(a.due_date, as_of, done(a)))
                    .count() as i64;
                // Each cost is at most 10^14; saturating all the same, for rows
                // written before that bound (a wrapped sum reads as a refund).
                let cost_cents = live
                    .iter()
                    .fold(0_i64, |sum, a| sum.saturating_add(a.cost_cents));
                let cost_to_date_cents = live
                    .iter()
                    .filter(|a| cost_incurred(a.due_date, as_of, done(a)))
                    .fold(0_i64, |sum, a| sum.saturating_add(a.cost_cents));
                let roi_cost = live
                    .iter()
                    .filter(|a| charged(a.due_date, done(a), plan.period_end, as_of))
                    .fold(0_i64, |sum, a| sum.saturating_add(a.cost_cents));
                // Whole days only, also for a plan closed on its last day and
                // read that day: judged as of the day after (its actions as
                // due), its figures counted the part of today gone by against
                // whole days before (a review); they do once the day is over.
                let run = elapsed(plan.period_start, plan.period_end, as_of.min(today));
                let (in_period, before) = match run {
                    Some((start, end)) => {
                        let (b_start, b_end) = period_before(start, end);
                        (
                            result(conn, plan.customer_id, start, end)?,
                            result(conn, plan.customer_id, b_start, b_end)?,
                        )
                    }
                    None => (
                        not_started(plan.period_start),
                        not_started(plan.period_start),
                    ),
                };
                Ok(PlanEvaluation {
                    plan_id: plan.id,
                    customer_id: plan.customer_id,
                    as_of,
                    actions_total: live.len() as i64,
                    actions_done: live.iter().filter(|a| done(a)).count() as i64,
                    actions_due: due.len() as i64,
                    actions_due_done: due_done,
                    actions_overdue: overdue,
                    execution_rate: ratio(due_done, due.len() as i64),
                    budget_cents: plan.budget_cents,
                    currency: plans::currency_of(conn, plan.customer_id)?,
                    cost_cents,
                    cost_to_date_cents,
                    budget_used: ratio(cost_cents, plan.budget_cents),
                    profit_uplift_cents: uplift(in_period.profit_cents, before.profit_cents),
                    // Nothing run, nothing to compare: a cost charged against two
                    // empty periods read as −1, "bought no uplift", before the
                    // plan's first day was over (an outside review).
                    roi: run
                        .and_then(|_| roi(in_period.profit_cents, before.profit_cents, roi_cost)),
                    in_period,
                    before,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
