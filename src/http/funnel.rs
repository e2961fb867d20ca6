//! Applying the funnel rules to a card change and recording the history.

use crate::db::events::{self, NewEvent};
use crate::db::{self, DbConn};
use crate::domain::codes::{Code, FunnelStage};
use crate::domain::funnel;
use crate::error::ApiError;

/// Stage and grade before and after a write.
pub struct FunnelChange<'a> {
    pub customer_id: i64,
    pub user_id: i64,
    pub stage_before: Option<&'a str>,
    pub stage_after: &'a str,
    pub grade_before: Option<&'a str>,
    pub grade_after: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub purchase_count: i64,
}

/// A funnel move the rules refuse: a 409 naming `funnel_stage`.
pub fn move_refused(e: funnel::FunnelError) -> ApiError {
    ApiError::field_conflict("funnel_stage", e.to_string())
}

/// Refuses a stage move the rules do not allow (409). A change checks this
/// before its version (a 412 says the body was valid) and `apply` again.
pub fn check(change: &FunnelChange) -> Result<(), ApiError> {
    if change.stage_before == Some(change.stage_after) {
        return Ok(());
    }
    let from = change.stage_before.and_then(FunnelStage::parse);
    let to = FunnelStage::parse(change.stage_after)
        .ok_or_else(|| ApiError::Internal(format!("unknown stage {}", change.stage_after)))?;
    funnel::check_move(from, to, change.purchase_count, change.reason.is_some())
        .map_err(move_refused)
}

/// Refuses illegal stage moves (409) and records every stage and grade
/// change as a customer event.
pub fn apply(conn: &mut DbConn, change: &FunnelChange) -> Result<(), ApiError> {
    let at = db::now();
    check(change)?;
    if change.stage_before != Some(change.stage_after) {
        events::insert(
            conn,
            &NewEvent {
                customer_id: change.customer_id,
                kind: events::FUNNEL_STAGE_CHANGED,
                from_value: change.stage_before,
                to_value: Some(change.stage_after),
                subject_id: None,
                reason: change.reason,
                user_id: Some(change.user_id),
                at,
            },
        )?;
    }
    if change.grade_before != change.grade_after {
        events::insert(
            conn,
            &NewEvent {
                customer_id: change.customer_id,
                kind: events::PROSPECT_GRADE_CHANGED,
                from_value: change.grade_before,
                to_value: change.grade_after,
                subject_id: None,
                reason: change.reason,
                user_id: Some(change.user_id),
                at,
            },
        )?;
    }
    Ok(())
}
