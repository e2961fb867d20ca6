//! Key-account plans and their actions: queries.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{
    account_plan_actions as actions, account_plans as plans, customers, transactions,
};
use super::{changes, DbConn};

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = plans, treat_none_as_null = true)]
pub struct PlanRow {
    pub id: i64,
    pub customer_id: i64,
    pub objective: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub budget_cents: i64,
    pub status: String,
    pub created_by: Option<i64>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When it was completed or cancelled; None while draft or active.
    pub closed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = actions, treat_none_as_null = true)]
pub struct ActionRow {
    pub id: i64,
    pub plan_id: i64,
    pub kind: String,
    pub description: Option<String>,
    pub owner_id: i64,
    pub due_date: NaiveDate,
    pub status: String,
    pub cost_cents: i64,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, r: &PlanRow) -> QueryResult<PlanRow> {
    let id: i64 = diesel::insert_into(plans::table)
        .values((
            plans::customer_id.eq(r.customer_id),
            plans::objective.eq(&r.objective),
            plans::period_start.eq(r.period_start),
            plans::period_end.eq(r.period_end),
            plans::budget_cents.eq(r.budget_cents),
            plans::status.eq(&r.status),
            plans::created_by.eq(r.created_by),
            plans::version.eq(r.version),
            plans::created_at.eq(r.created_at),
            plans::updated_at.eq(r.updated_at),
            plans::closed_at.eq(r.closed_at),
        ))
        .returning(plans::id)
        .get_result(conn)?;
    changes::record(conn, changes::ACCOUNT_PLAN, id, changes::CREATED, r.version)?;
    plans::table.find(id).first(conn)
}

/// The currency of a plan's money: its customer's.
pub fn currency_of(conn: &mut DbConn, customer_id: i64) -> QueryResult<String> {
    customers::table
        .find(customer_id)
        .select(customers::currency)
        .first(conn)
}

/// Whether the customer has any plan (its money is in the card's currency).
pub fn any_of(conn: &mut DbConn, customer_id: i64) -> QueryResult<bool> {
    let first: Option<i64> = plans::table
        .filter(plans::customer_id.eq(customer_id))
        .select(plans::id)
        .first(conn)
        .optional()?;
    Ok(first.is_some())
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<PlanRow>> {
    plans::table.find(id).first(conn).optional()
}

pub fn save(conn: &mut DbConn, row: &PlanRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        plans::table
            .filter(plans::id.eq(row.id))
            .filter(plans::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        changes::record(
            conn,
            changes::ACCOUNT_PLAN,
            row.id,
            changes::UPDATED,
            row.version,
        )?;
    }
    Ok(n == 1)
}

/// A change of one of the plan's actions is a change of the plan, which
/// shows them: a new version (ETag), `updated_at` and a change in the feed.
/// `plan` as read under the card's lock.
pub fn touch(conn: &mut DbConn, plan: &PlanRow, now: NaiveDateTime) -> QueryResult<()> {
    let version = plan.version + 1;
    diesel::update(plans::table.find(plan.id))
        .set((plans::version.eq(version), plans::updated_at.eq(now)))
        .execute(conn)?;
    changes::record(
        conn,
        changes::ACCOUNT_PLAN,
        plan.id,
        changes::UPDATED,
        version,
    )
}

pub fn delete(conn: &mut DbConn, plan: &PlanRow) -> QueryResult<usize> {
    let id = plan.id;
    changes::record_deleted(
        conn,
        changes::ACCOUNT_PLAN,
        id,
        plan.version + 1,
        Some(plan.customer_id),
    )?;
    diesel::delete(actions::table.filter(actions::plan_id.eq(id))).execute(conn)?;
    diesel::delete(plans::table.find(id)).execute(conn)
}

/// Plans by id after `after_id`, `limit + 1` rows; `open_only` leaves out
/// the plans of archived cards.
pub fn page(
    conn: &mut DbConn,
    customer_id: Option<i64>,
    status: Option<&str>,
    open_only: bool,
    since: Option<NaiveDateTime>,
    after_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<PlanRow>> {
    let mut q = plans::table
        .order(plans::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(c) = customer_id {
        q = q.filter(plans::customer_id.eq(c));
    }
    if let Some(s) = status {
        q = q.filter(plans::status.eq(s.to_string()));
    }
    if open_only {
        // Open work leaves archived cards out, as the open complaints do: a
        // plan of an archived card takes no change until the card is restored.
        let archived = customers::table
            .filter(customers::id.eq(plans::customer_id))
            .filter(customers::archived_at.is_not_null());
        q = q.filter(diesel::dsl::not(diesel::dsl::exists(archived)));
    }
    if let Some(since) = since {
        q = q.filter(plans::updated_at.ge(since));
    }
    if let Some(a) = after_id {
        q = q.filter(plans::id.gt(a));
    }
    q.load(conn)
}

pub fn insert_action(conn: &mut DbConn, r: &ActionRow) -> QueryResult<ActionRow> {
    let id: i64 = diesel::insert_into(actions::table)
        .values((
            actions::plan_id.eq(r.plan_id),
            actions::kind.eq(&r.kind),
            actions::description.eq(&r.description),
            actions::owner_id.eq(r.owner_id),
            actions::due_date.eq(r.due_date),
            actions::status.eq(&r.status),
            actions::cost_cents.eq(r.cost_cents),
            actions::version.eq(r.version),
            actions::created_at.eq(r.created_at),
            actions::updated_at.eq(r.updated_at),
        ))
        .returning(actions::id)
        .get_result(conn)?;
    actions::table.find(id).first(conn)
}

pub fn find_action(conn: &mut DbConn, plan_id: i64, id: i64) -> QueryResult<Option<ActionRow>> {
    actions::table
        .filter(actions::plan_id.eq(plan_id))
        .filter(actions::id.eq(id))
        .first(conn)
        .optional()
}

pub fn save_action(conn: &mut DbConn, row: &ActionRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        actions::table
            .filter(actions::id.eq(row.id))
            .filter(actions::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn delete_action(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::delete(actions::table.find(id)).execute(conn)
}

/// How many actions a plan has.
pub fn action_count(conn: &mut DbConn, plan_id: i64) -> QueryResult<i64> {
    actions::table
        .filter(actions::plan_id.eq(plan_id))
        .count()
        .get_result(conn)
}

/// A plan's actions by due date, then id.
pub fn actions_of(conn: &mut DbConn, plan_id: i64) -> QueryResult<Vec<ActionRow>> {
    actions::table
        .filter(actions::plan_id.eq(plan_id))
        .order((actions::due_date.asc(), actions::id.asc()))
        .load(conn)
}

/// The actions of each of `plan_ids`, each plan's by due date, then id: one
/// statement for a page of plans, where a read per plan cost a round trip each.
pub fn actions_of_many(
    conn: &mut DbConn,
    plan_ids: &[i64],
) -> QueryResult<HashMap<i64, Vec<ActionRow>>> {
    let rows: Vec<ActionRow> = actions::table
        .filter(actions::plan_id.eq_any(plan_ids))
        .order((
            actions::plan_id.asc(),
            actions::due_date.asc(),
            actions::id.asc(),
        ))
        .load(conn)?;
    let mut by_plan: HashMap<i64, Vec<ActionRow>> = HashMap::new();
    for row in rows {
        by_plan.entry(row.plan_id).or_default().push(row);
    }
    Ok(by_plan)
}

/// The currency of each of `customer_ids`.
pub fn currencies_of(conn: &mut DbConn, customer_ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    let rows: Vec<(i64, String)> = customers::table
        .filter(customers::id.eq_any(customer_ids))
        .select((customers::id, customers::currency))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// (revenue, profit) of a customer's transactions in `[from, to)`.
pub fn revenue_profit(
    conn: &mut DbConn,
    customer_id: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<(i64, i64)> {
    use diesel::sql_types::{BigInt, Nullable};
    let (revenue, profit): (Option<i64>, Option<i64>) = transactions::table
        .filter(transactions::customer_id.eq(customer_id))
        .filter(transactions::occurred_at.ge(from))
        .filter(transactions::occurred_at.lt(to))
        .select((
            diesel::dsl::sql::<Nullable<BigInt>>(&super::money_sum("amount_cents")),
            diesel::dsl::sql::<Nullable<BigInt>>(&super::money_sum("amount_cents - cost_cents")),
        ))
        .first(conn)?;
    Ok((revenue.unwrap_or(0), profit.unwrap_or(0)))
}
