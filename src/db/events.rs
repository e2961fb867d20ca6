//! Customer history: one row per event (funnel stage or grade change, need
//! conversion; later CPR, tier, churn and survey events).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::page::Before;
use super::schema::customer_events;
use super::{native, DbConn};

pub const FUNNEL_STAGE_CHANGED: &str = "funnel_stage_changed";
pub const PROSPECT_GRADE_CHANGED: &str = "prospect_grade_changed";
pub const NEED_CONVERTED: &str = "need_converted";
/// A card handed to another owner: `from` and `to` are the owners' user
/// ids (as text, as every event's values), `reason` the `change_reason`
/// sent with it.
pub const OWNER_CHANGED: &str = "owner_changed";
/// A survey response: `subject_id` is the response, `to` the overall
/// satisfaction it gave (null without rating answers), `reason` the survey.
pub const SURVEY_ANSWERED: &str = "survey_answered";

/// Every kind of event, for filters and the spec.
pub const KINDS: &[&str] = &[
    FUNNEL_STAGE_CHANGED,
    PROSPECT_GRADE_CHANGED,
    NEED_CONVERTED,
    super::cpr::CPR_STAGE_CHANGED,
    super::tiers::TIER_CHANGED,
    super::churn::CHURNED,
    super::churn::REACTIVATED,
    SURVEY_ANSWERED,
    super::loyalty::LOYALTY_CHANGED,
    OWNER_CHANGED,
];

#[derive(Debug, Clone, Queryable)]
pub struct EventRow {
    pub id: i64,
    pub customer_id: i64,
    pub kind: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub subject_id: Option<i64>,
    pub reason: Option<String>,
    pub user_id: Option<i64>,
    pub at: NaiveDateTime,
}

/// A new event; the id comes from the database.
pub struct NewEvent<'a> {
    pub customer_id: i64,
    pub kind: &'a str,
    pub from_value: Option<&'a str>,
    pub to_value: Option<&'a str>,
    pub subject_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub user_id: Option<i64>,
    pub at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, e: &NewEvent) -> QueryResult<()> {
    native!(conn, |c| diesel::insert_into(customer_events::table)
        .values((
            customer_events::customer_id.eq(e.customer_id),
            customer_events::kind.eq(e.kind),
            customer_events::from_value.eq(e.from_value),
            customer_events::to_value.eq(e.to_value),
            customer_events::subject_id.eq(e.subject_id),
            customer_events::reason.eq(e.reason),
            customer_events::user_id.eq(e.user_id),
            customer_events::at.eq(e.at),
        ))
        .returning(customer_events::id)
        .get_result::<i64>(c))
    .and_then(|id| {
        if super::changes::STAGE_KINDS.contains(&e.kind) {
            super::changes::record_stage_event(
                conn,
                id,
                e.customer_id,
                e.kind,
                e.from_value,
                e.to_value,
                e.at,
            )?;
        }
        Ok(())
    })
}

/// Many events at once (a bulk write), with their stage changes in the feed:
/// rendered from the rows the insert returns, so they go out with the
/// transaction's other feed rows. Selecting them back at the seal with an
/// `IN` list of the batch's customers and times was a statement compiled on
/// every batch (~7 % of a SQLite bulk create's write transaction).
pub fn insert_many(conn: &mut DbConn, events: &[NewEvent]) -> QueryResult<()> {
    use super::batch::{self, Bind};
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<Bind>> = events
        .iter()
        .map(|e| {
            vec![
                e.customer_id.into(),
                e.kind.into(),
                Bind::Text(e.from_value.map(str::to_string)),
                Bind::Text(e.to_value.map(str::to_string)),
                e.subject_id.into(),
                Bind::Text(e.reason.map(str::to_string)),
                e.user_id.into(),
                e.at.into(),
            ]
        })
        .collect();
    let mut written: Vec<Written> = batch::insert_rows_returning(
        conn,
        "customer_events",
        &[
            "customer_id",
            "kind",
            "from_value",
            "to_value",
            "subject_id",
            "reason",
            "user_id",
            "at",
        ],
        &rows,
        "id, customer_id, kind, from_value, to_value, at",
    )?;
    record_stage_changes(conn, &mut written)
}

/// Records the stage changes among `events` (just written) for the feed,
/// in the order written, as the single insert records its own.
pub(super) fn record_stage_changes(conn: &mut DbConn, events: &mut [Written]) -> QueryResult<()> {
    events.sort_unstable_by_key(|w| w.id);
    for w in events
        .iter()
        .filter(|w| super::changes::STAGE_KINDS.contains(&w.kind.as_str()))
    {
        super::changes::record_stage_event(
            conn,
            w.id,
            w.customer_id,
            &w.kind,
            w.from_value.as_deref(),
            w.to_value.as_deref(),
            w.at,
        )?;
    }
    Ok(())
}

/// An event as written: what its stage change in the feed needs.
#[derive(QueryableByName)]
pub(super) struct Written {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    customer_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    from_value: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    to_value: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    at: NaiveDateTime,
}

/// A customer's events, newest first, resuming at `before`; `limit` rows.
pub fn page(
    conn: &mut DbConn,
    customer_id: i64,
    kind: Option<&str>,
    before: Option<Before>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    use customer_events::dsl as e;
    let mut query = customer_events::table
        .filter(e::customer_id.eq(customer_id))
        .into_boxed();
    if let Some(kind) = kind {
        query = query.filter(e::kind.eq(kind.to_string()));
    }
    query = match before {
        None => query,
        Some(Before::Lt(at)) => query.filter(e::at.lt(at)),
        Some(Before::Le(at)) => query.filter(e::at.le(at)),
        Some(Before::LtId(at, id)) => query
            .filter(e::at.le(at))
            .filter(e::at.lt(at).or(e::at.eq(at).and(e::id.lt(id)))),
    };
    query
        .order((e::at.desc(), e::id.desc()))
        .limit(limit)
        .load(conn)
}

/// The highest event id so far (0 when none). A recompute notes it before
/// inserting a chunk's events, so that the chunk's change-feed entries are
/// found by a primary-key range instead of among every event of the run.
pub fn last_id(conn: &mut DbConn) -> QueryResult<i64> {
    use super::schema::customer_events;
    let id: Option<i64> = customer_events::table
        .select(diesel::dsl::max(customer_events::id))
        .first(conn)?;
    Ok(id.unwrap_or(0))
}
