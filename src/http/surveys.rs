//! `/surveys`: satisfaction surveys (客户满意度) and their questions.
//!
//! A survey is created as a `draft` whose questions can change; `PATCH`
//! with `status` opens it (it then takes responses, and its questions and
//! target are frozen: the target segment's active members become its panel)
//! and later closes it. Roles: everyone reads; `admin` and
//! `manager` create, change and delete surveys.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::common::versioned;
use super::customer_input::nullable;
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition;
use super::validation::Input;
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::page::{self, Cursor};
use crate::db::row_lock::{lock, lock_shared, Locked};
use crate::db::surveys::{self as store, NewQuestion, QuestionRow, SurveyRow};
use crate::db::{self, DbConn};
use crate::domain::codes::{
    from_db, Code, QuestionKind, Role, SatisfactionDimension, SurveyStatus,
};
use crate::domain::surveys::Question;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 2000;
const MAX_QUESTIONS: usize = 100;
const MAX_QUESTION_TEXT: usize = 500;
const MAX_OPTIONS: usize = 20;
pub(crate) const MAX_OPTION: usize = 200;

/// Roles that create, change and delete surveys (and delete a segment a
/// survey targets, which changes the survey: `segments::delete`).
pub const EDITORS: &[Role] = &[Role::Admin, Role::Manager];

/// A question of a survey.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 7, "position": 1, "kind": "rating_5", "text": "How satisfied are you with our delivery times?",
    "dimension": "service", "options": null, "required": true}))]
pub struct QuestionView {
    /// Answer it by this id.
    pub id: i64,
    /// 1-based order in the survey.
    pub position: i64,
    pub kind: QuestionKind,
    pub text: String,
    /// The satisfaction dimension of a `rating_5` question; null for other kinds.
    pub dimension: Option<SatisfactionDimension>,
    /// The options of a `single_choice` question; null for other kinds.
    #[schema(value_type = Option<Vec<super::code_schemas::ChoiceOption>>)]
    pub options: Option<Vec<String>>,
    /// A response must answer it.
    pub required: bool,
}

impl From<QuestionRow> for QuestionView {
    fn from(q: QuestionRow) -> Self {
        QuestionView {
            id: q.id,
            position: q.position,
            kind: from_db(&q.kind, QuestionKind::Text),
            text: q.text,
            dimension: q
                .dimension
                .as_deref()
                .and_then(SatisfactionDimension::parse),
            options: q
                .options
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok()),
            required: q.required,
        }
    }
}

/// The question as the domain checks answers against it.
pub fn domain_question(q: &QuestionRow) -> Question {
    let view = QuestionView::from(q.clone());
    Question {
        id: view.id,
        kind: view.kind,
        dimension: view.dimension,
        options: view.options.unwrap_or_default(),
        required: view.required,
    }
}

/// A satisfaction survey.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 3, "title": "Q4 service survey", "description": "Quarterly survey of key accounts",
    "status": "open", "segment_id": 14, "allow_multiple_responses": false,
    "questions": [
        {"id": 7, "position": 1, "kind": "rating_5", "text": "How satisfied are you with our products?", "dimension": "product", "options": null, "required": true},
        {"id": 8, "position": 2, "kind": "rating_5", "text": "How satisfied are you with our delivery times?", "dimension": "service", "options": null, "required": true},
        {"id": 9, "position": 3, "kind": "nps_0_10", "text": "How likely are you to recommend us to a friend?", "dimension": null, "options": null, "required": false},
        {"id": 10, "position": 4, "kind": "text", "text": "What should we improve?", "dimension": null, "options": null, "required": false}
    ],
    "opened_at": "2026-11-24T08:00:00Z", "closed_at": null, "panel_frozen_at": "2026-11-24T08:00:00Z", "version": 2,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z"
}))]
pub struct SurveyView {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: SurveyStatus,
    /// The target segment; its active members when the survey opened are the
    /// panel the response rate is measured against. Null: no target (or the
    /// segment was deleted: a frozen panel stays).
    pub segment_id: Option<i64>,
    /// false: a second response from the same customer is refused (409).
    pub allow_multiple_responses: bool,
    /// In order.
    pub questions: Vec<QuestionView>,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When the panel was frozen (as the survey opened with a target). Null:
    /// a draft, a survey opened without a target, or one opened before
    /// panels were frozen (its rate follows the segment as it is now).
    pub panel_frozen_at: Option<DateTime<Utc>>,
    /// Increases on every change; send it back in `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SurveyView {
    fn new(row: SurveyRow, questions: Vec<QuestionRow>) -> SurveyView {
        SurveyView {
            id: row.id,
            title: row.title,
            description: row.description,
            status: from_db(&row.status, SurveyStatus::Draft),
            segment_id: row.segment_id,
            allow_multiple_responses: row.allow_multiple_responses,
            questions: questions
                .into_iter()
                .filter(|q| q.survey_id == row.id)
                .map(QuestionView::from)
                .collect(),
            opened_at: row.opened_at.map(utc),
            closed_at: row.closed_at.map(utc),
            panel_frozen_at: row.panel_frozen_at.map(utc),
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SurveyPage {
    pub items: Vec<SurveyView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A question as sent.
///
/// - `kind` (required): `rating_5` (answer 1–5), `nps_0_10` (answer 0–10),
///   `single_choice` (answer one of `options`) or `text` (answer free text).
/// - `text` (required): the question, 1 to 500 characters.
/// - `dimension`: required for `rating_5` (`product`, `service`, `social`), not allowed otherwise.
/// - `options`: required for `single_choice` (2 to 20 distinct options of 1 to 200 characters), not allowed otherwise.
/// - `required`: default false.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "single_choice", "text": "What matters most to you?", "options": ["price", "quality", "delivery"], "required": false}))]
pub struct QuestionInput {
    #[schema(required = true, value_type = QuestionKind)]
    pub kind: Option<Input<QuestionKind>>,
    /// 1 to 500 characters.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 500, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub text: Option<String>,
    #[schema(value_type = Option<SatisfactionDimension>)]
    pub dimension: Option<Input<SatisfactionDimension>>,
    /// A `single_choice` question's options: 2 to 20, each 1 to 200
    /// characters and not blank, no two the same once trimmed (422
    /// `duplicate`); refused for other kinds.
    #[schema(value_type = Option<Vec<super::code_schemas::ChoiceOption>>, min_items = 2, max_items = 20)]
    pub options: Option<Vec<String>>,
    pub required: Option<bool>,
}

/// A new survey; it starts as a `draft`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Q4 service survey", "description": "Quarterly survey of key accounts", "segment_id": 14,
    "allow_multiple_responses": false,
    "questions": [
        {"kind": "rating_5", "text": "How satisfied are you with our products?", "dimension": "product", "required": true},
        {"kind": "rating_5", "text": "How satisfied are you with our delivery times?", "dimension": "service", "required": true},
        {"kind": "nps_0_10", "text": "How likely are you to recommend us to a friend?"},
        {"kind": "text", "text": "What should we improve?"}
    ]
}))]
pub struct SurveyCreate {
    /// 1 to 200 characters.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub title: Option<String>,
    /// At most 2,000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// An existing segment: the survey's target (422 `unknown_segment` otherwise).
    pub segment_id: Option<i64>,
    /// Default false.
    pub allow_multiple_responses: Option<bool>,
    /// 0 to 100 questions, in order (a survey needs at least one to open).
    #[schema(max_items = 100)]
    pub questions: Option<Vec<QuestionInput>>,
}

/// Only the fields sent change. `questions` replaces the whole list (new
/// ids) and is accepted only while the survey is a `draft` (409 after), and
/// so is a new `segment_id` (the panel is frozen as the survey opens).
/// `status` moves `draft` → `open` → `closed` (409 for any other change, or
/// for opening a survey without questions); sending the current status
/// changes nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Sent after each delivery"}))]
pub struct SurveyPatch {
    // `null` is read (not taken for "unchanged") to be refused as `required`
    // with the body's other rules: a form sending `"title": null` believed
    // it had saved.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    /// null removes the target segment. Only while `draft`: 409 once open.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub segment_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = bool, required = false)]
    pub allow_multiple_responses: Option<Option<bool>>,
    /// At most 100 questions, in order; replaces the whole list.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Vec<QuestionInput>, required = false, max_items = 100)]
    pub questions: Option<Option<Vec<QuestionInput>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = SurveyStatus, required = false)]
    pub status: Option<Option<Input<SurveyStatus>>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SurveyQuery {
    /// Only surveys in this status.
    #[param(inline)]
    pub status: Option<SurveyStatus>,
    /// Only surveys changed at or after this instant (RFC 3339).
    /// A write is stamped when it starts and seen when it commits: poll again
    /// from a minute before your last mark, or follow `GET /changes` (README,
    /// "Pull-based sync").
    #[serde(default, deserialize_with = "dates::optional")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same filters.
    pub cursor: Option<String>,
}

/// Trimmed text of 1 to `max` characters (`required`: missing is an error).
fn text_field(
    value: Option<&str>,
    field: &str,
    max: usize,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    // The length is the text as sent (what the schema's maxLength states),
    // the text kept is trimmed.
    match value {
        None if required => {
            errors.push(FieldError::new(field, "required", "is required"));
            None
        }
        None => None,
        Some(t) if t.chars().count() > max => {
            errors.push(FieldError::new(
                field,
                "length",
                format!("must be at most {max} characters"),
            ));
            None
        }
        Some(t) if t.trim().is_empty() => {
            errors.push(FieldError::new(field, "blank", "must not be blank"));
            None
        }
        Some(t) => Some(t.trim().to_string()),
    }
}

/// A blank description is none; its length is judged as sent first, blank
/// or not (2,001 spaces were taken as none although the schema's maxLength
/// refuses them; a review).
fn description_field(value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let d = value?;
    if d.trim().is_empty() && d.chars().count() <= MAX_DESCRIPTION {
        return None;
    }
    text_field(Some(d), "description", MAX_DESCRIPTION, false, errors)
}

fn code<T: Code>(input: &Input<T>, field: &str, errors: &mut Vec<FieldError>) -> Option<T> {
    match input.get(field) {
        Ok(v) => Some(v),
        Err(ApiError::Validation(e)) => {
            errors.extend(e);
            None
        }
        Err(_) => None,
    }
}

/// Checks one question; `at` is its path, e.g. `questions[2]`.
fn question(q: &QuestionInput, at: &str, errors: &mut Vec<FieldError>) -> Option<NewQuestion> {
    let before = errors.len();
    let kind = match &q.kind {
        None => {
            errors.push(FieldError::new(
                format!("{at}.kind"),
                "required",
                "is required",
            ));
            None
        }
        Some(k) => code(k, &format!("{at}.kind"), errors),
    };
    let text = text_field(
        q.text.as_deref(),
        &format!("{at}.text"),
        MAX_QUESTION_TEXT,
        true,
        errors,
    );
    let dimension = q
        .dimension
        .as_ref()
        .and_then(|d| code(d, &format!("{at}.dimension"), errors));
    match (kind, &q.dimension) {
        (Some(QuestionKind::Rating5), None) => errors.push(FieldError::new(
            format!("{at}.dimension"),
            "required",
            "a rating_5 question needs a dimension: product, service or social",
        )),
        (Some(k), Some(_)) if k != QuestionKind::Rating5 => errors.push(FieldError::new(
            format!("{at}.dimension"),
            "not_allowed",
            "only rating_5 questions have a dimension",
        )),
        _ => {}
    }
    let mut options = None;
    match (kind, &q.options) {
        (Some(QuestionKind::SingleChoice), None) => errors.push(FieldError::new(
            format!("{at}.options"),
            "required",
            "a single_choice question needs 2 to 20 options",
        )),
        (Some(QuestionKind::SingleChoice), Some(opts)) => {
            options = choice_options(opts, &format!("{at}.options"), errors);
        }
        (Some(_), Some(_)) => errors.push(FieldError::new(
            format!("{at}.options"),
            "not_allowed",
            "only single_choice questions have options",
        )),
        _ => {}
    }
    if errors.len() > before {
        return None;
    }
    Some(NewQuestion {
        kind: kind?.as_str().to_string(),
        text: text?,
        dimension: dimension.map(|d| d.as_str().to_string()),
        options: options.map(|o| Value::from(o).to_string()),
        required: q.required.unwrap_or(false),
    })
}

fn choice_options(opts: &[String], at: &str, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    if !(2..=MAX_OPTIONS).contains(&opts.len()) {
        errors.push(FieldError::new(
            at,
            "length",
            format!("takes 2 to {MAX_OPTIONS} options"),
        ));
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let before = errors.len();
    for (i, o) in opts.iter().enumerate() {
        let field = format!("{at}[{i}]");
        if let Some(o) = text_field(Some(o), &field, MAX_OPTION, true, errors) {
            if out.contains(&o) {
                errors.push(FieldError::new(field, "duplicate", "options must differ"));
            } else {
                out.push(o);
            }
        }
    }
    (errors.len() == before).then_some(out)
}

fn questions(qlist: &[QuestionInput], errors: &mut Vec<FieldError>) -> Vec<NewQuestion> {
    if qlist.len() > MAX_QUESTIONS {
        errors.push(FieldError::new(
            "questions",
            "length",
            format!("takes at most {MAX_QUESTIONS} questions"),
        ));
        return Vec::new();
    }
    qlist
        .iter()
        .enumerate()
        .filter_map(|(i, q)| question(q, &format!("questions[{i}]"), errors))
        .collect()
}

pub fn find_survey(conn: &mut DbConn, id: i64) -> Result<SurveyRow, ApiError> {
    store::find(conn, id)?.ok_or_else(|| ApiError::NotFound(format!("no survey {id}")))
}

/// Holds the target segment until this write commits: its delete waits for
/// the write (then takes the target off the survey, with a new version and a
/// change in the feed), or the write waits for the delete and finds no
/// segment. Unheld, a delete that ran beside a survey's create or re-target
/// on PostgreSQL did not see the survey, and the database's `ON DELETE SET
/// NULL` cleared the target unseen (same version, nothing in the feed).
/// Taken before the survey's own lock, in the order the delete takes them.
/// The delete's role check (`segments::may_untarget`: only admins and
/// managers take a target off) counts on it too: no survey starts to target
/// the segment between that check and the delete's commit.
fn hold_segment(conn: &mut DbConn, id: Option<i64>) -> Result<(), ApiError> {
    match id {
        Some(id) => Ok(lock_shared(conn, Locked::Segments, id)?),
        None => Ok(()),
    }
}

/// The target segment exists (held by `hold_segment` first).
fn segment_exists(conn: &mut DbConn, id: Option<i64>) -> Result<(), ApiError> {
    let Some(id) = id else {
        return Ok(());
    };
    if crate::db::segments::find(conn, id)?.is_none() {
        return Err(ApiError::invalid(
            "segment_id",
            "unknown_segment",
            &format!("no segment {id}"),
        ));
    }
    Ok(())
}

/// Freezes the panel of survey `id` as it opens: the target segment's active
/// members now (none without a target). The rate is measured against them,
/// not the segment as it is later: the survey's own responses change the
/// satisfaction and loyalty a dynamic rule may test (a follow-up survey of
/// the `unknown`, or of the unhappy, lost each respondent from its panel),
/// and a segment's members and rule are open to every writer. Returns the
/// freeze's time, or None without a target.
fn freeze_panel(
    conn: &mut DbConn,
    id: i64,
    segment_id: Option<i64>,
    now: chrono::NaiveDateTime,
) -> Result<Option<chrono::NaiveDateTime>, ApiError> {
    // The segment is there: its delete takes the target off the surveys
    // first, and waits for this one's lock. Were it gone, no panel.
    let segment = match segment_id {
        Some(s) => crate::db::segments::find(conn, s)?,
        None => None,
    };
    let Some(segment) = segment else {
        return Ok(None);
    };
    let scope = super::segments::scope_of(&segment, now)?;
    store::freeze_panel(conn, id, &scope)?;
    Ok(Some(now))
}

/// The survey as the API shows it, if it exists (the change feed's `data`).
pub fn view_of(conn: &mut DbConn, id: i64) -> Result<Option<SurveyView>, ApiError> {
    store::find(conn, id)?
        .map(|row| detail(conn, row))
        .transpose()
}

fn detail(conn: &mut DbConn, row: SurveyRow) -> Result<SurveyView, ApiError> {
    let questions = store::questions(conn, &[row.id])?;
    Ok(SurveyView::new(row, questions))
}

fn location(id: i64) -> Option<String> {
    Some(format!("/api/v1/surveys/{id}"))
}

fn fail(mut errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Err(ApiError::Validation(errors))
}

/// List surveys by id, with their questions.
#[utoipa::path(
    tag = "surveys",
    params(SurveyQuery),
    responses(
        (status = 200, body = SurveyPage),
        (status = 400, description = "Bad query parameter", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/surveys")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<SurveyQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let since = super::common::query_instant("updated_since", q.updated_since)?;
    let limit = page::limit(q.limit)?;
    let status = q.status.map(SurveyStatus::as_str);
    let list_name = super::common::filtered_list_name("surveys", &status);
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, "id"))
        .transpose()?
        .map(|c| c.id);
    let page = state
        .db
        .run(move |conn| {
            let rows = store::page(conn, status, since, after, limit)?;
            let page = page::finish(rows, limit, &list_name, |s| Cursor {
                s: "id".into(),
                k: Value::Null,
                id: s.id,
            });
            let ids: Vec<i64> = page.items.iter().map(|s| s.id).collect();
            let mut by_survey: std::collections::HashMap<i64, Vec<QuestionRow>> =
                std::collections::HashMap::new();
            for q in store::questions(conn, &ids)? {
                by_survey.entry(q.survey_id).or_default().push(q);
            }
            Ok(SurveyPage {
                items: page
                    .items
                    .into_iter()
                    .map(|r| {
                        let questions = by_survey.remove(&r.id).unwrap_or_default();
                        SurveyView::new(r, questions)
                    })
                    .collect(),
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create a survey (admin or manager). It starts as a `draft`; open it with
/// `PATCH {"status": "open"}`. Every bad field is named in one 422.
#[utoipa::path(
    tag = "surveys",
    request_body = SurveyCreate,
    responses(
        (status = 201, body = SurveyView, headers(("ETag" = String), ("Location" = String))),
        (status = 403, description = "Not admin or manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an unknown segment", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/surveys")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    body: JsonBody<SurveyCreate>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(EDITORS)?;
    let input = body.0;
    let mut errors = Vec::new();
    let title = text_field(
        input.title.as_deref(),
        "title",
        MAX_TITLE,
        true,
        &mut errors,
    );
    let description = description_field(input.description.as_deref(), &mut errors);
    let qlist = questions(input.questions.as_deref().unwrap_or_default(), &mut errors);
    fail(errors)?;
    let now = db::now();
    let row = SurveyRow {
        id: 0,
        title: title.unwrap_or_default(),
        description,
        status: SurveyStatus::Draft.as_str().to_string(),
        segment_id: input.segment_id,
        allow_multiple_responses: input.allow_multiple_responses.unwrap_or(false),
        opened_at: None,
        closed_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
        panel_frozen_at: None,
    };
    let view = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                hold_segment(conn, row.segment_id)?;
                segment_exists(conn, row.segment_id)?;
                let saved = store::insert(conn, &row)?;
                store::replace_questions(conn, saved.id, &qlist)?;
                detail(conn, saved)
            })
        })
        .await?;
    Ok(versioned(
        StatusCode::CREATED,
        view.version,
        location(view.id),
        &view,
    ))
}

/// Read a survey with its questions.
#[utoipa::path(
    tag = "surveys",
    params(("id" = i64, Path, description = "Survey id")),
    responses(
        (status = 200, body = SurveyView, headers(("ETag" = String))),
        (status = 404, description = "No such survey", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/surveys/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let view = state
        .db
        .lookup(move |conn| {
            let row = find_survey(conn, id)?;
            detail(conn, row)
        })
        .await?;
    Ok(versioned(StatusCode::OK, view.version, None, &view))
}

/// The status a survey may move to from `current`, or the 409 why not.
fn transition(current: SurveyStatus, next: SurveyStatus) -> Result<(), ApiError> {
    use SurveyStatus::*;
    match (current, next) {
        (a, b) if a == b => Ok(()),
        (Draft, Open) | (Open, Closed) => Ok(()),
        (a, b) => Err(ApiError::Conflict(format!(
            "a survey moves draft → open → closed; it cannot go from {a} to {b}"
        ))),
    }
}

/// Change a survey (admin or manager). Questions and the target segment
/// change only while it is a `draft` (409 once open: opening freezes the
/// segment's active members as the survey's panel); `status` moves `draft` → `open` (needs at least
/// one question) → `closed`, any other move is a 409. Send `If-Match` with
/// the ETag you read (412 if the survey is no longer at that version).
#[utoipa::path(
    tag = "surveys",
    params(("id" = i64, Path, description = "Survey id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the survey is no longer at that version")),
    request_body = SurveyPatch,
    responses(
        (status = 200, body = SurveyView, headers(("ETag" = String))),
        (status = 403, description = "Not admin or manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such survey", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Illegal status change, questions or target of a survey no longer a draft, or opening without questions", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The survey is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an unknown segment", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/surveys/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<SurveyPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(EDITORS)?;
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    let mut errors = super::validation::nulls(&[
        (
            "allow_multiple_responses",
            matches!(input.allow_multiple_responses, Some(None)),
        ),
        ("questions", matches!(input.questions, Some(None))),
        ("status", matches!(input.status, Some(None))),
        ("title", matches!(input.title, Some(None))),
    ]);
    let title = text_field(
        input.title.as_ref().and_then(|t| t.as_deref()),
        "title",
        MAX_TITLE,
        false,
        &mut errors,
    );
    let description = input
        .description
        .as_ref()
        .map(|d| description_field(d.as_deref(), &mut errors));
    let status = input
        .status
        .as_ref()
        .and_then(|s| s.as_ref())
        .and_then(|s| code(s, "status", &mut errors));
    let qlist = input
        .questions
        .as_ref()
        .and_then(|l| l.as_ref())
        .map(|l| questions(l, &mut errors));
    fail(errors)?;
    let view = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                // Checked below, after the survey's 404.
                hold_segment(conn, input.segment_id.flatten())?;
                lock(conn, Locked::Surveys, id)?;
                let mut row = find_survey(conn, id)?;
                let stored = row.clone();
                let current = from_db(&row.status, SurveyStatus::Draft);
                if qlist.is_some() && current != SurveyStatus::Draft {
                    return Err(ApiError::Conflict(format!(
                        "survey {id} is {current}: its questions are frozen"
                    )));
                }
                if let Some(next) = status {
                    transition(current, next)?;
                }
                if let Some(segment) = input.segment_id {
                    // Its panel was frozen as it opened: another target
                    // would name a segment the rate is not measured against.
                    if segment != row.segment_id && current != SurveyStatus::Draft {
                        return Err(ApiError::Conflict(format!(
                            "survey {id} is {current}: its target is frozen"
                        )));
                    }
                    segment_exists(conn, segment)?;
                }
                let next = status.filter(|n| *n != current);
                if next == Some(SurveyStatus::Open) {
                    // The questions it will have: those sent, or those stored.
                    let none = match &qlist {
                        Some(sent) => sent.is_empty(),
                        None => store::questions(conn, &[id])?.is_empty(),
                    };
                    if none {
                        return Err(ApiError::Conflict(format!(
                            "survey {id} has no questions: add some before opening it"
                        )));
                    }
                }
                // After every check of the body against the survey, before
                // any write: a 412 says the body was valid, so that
                // re-reading and sending it again can succeed.
                precondition::check(expected.as_deref(), row.version)?;
                if let Some(segment) = input.segment_id {
                    row.segment_id = segment;
                }
                if let Some(qlist) = &qlist {
                    store::replace_questions(conn, id, qlist)?;
                }
                let now = db::now();
                if let Some(next) = next {
                    match next {
                        SurveyStatus::Open => {
                            row.opened_at = Some(now);
                            row.panel_frozen_at = freeze_panel(conn, id, row.segment_id, now)?;
                        }
                        SurveyStatus::Closed => row.closed_at = Some(now),
                        SurveyStatus::Draft => {}
                    }
                    row.status = next.as_str().to_string();
                }
                if let Some(title) = title {
                    row.title = title;
                }
                if let Some(description) = description {
                    row.description = description;
                }
                if let Some(allow) = input.allow_multiple_responses.flatten() {
                    row.allow_multiple_responses = allow;
                }
                // Nothing differs (the current status, the same title, `{}`):
                // no write, no new version, nothing in the feed. Questions
                // sent are a write (they are replaced above).
                if qlist.is_none() && row == stored {
                    return detail(conn, row);
                }
                let before = row.version;
                row.version = before + 1;
                row.updated_at = now;
                precondition::require_saved(store::save(conn, &row, before)?, before)?;
                detail(conn, row)
            })
        })
        .await?;
    Ok(versioned(StatusCode::OK, view.version, None, &view))
}

/// Delete a survey that has no responses (admin or manager; 409 once it
/// has responses: close it instead, so that results and history stay).
#[utoipa::path(
    tag = "surveys",
    params(("id" = i64, Path, description = "Survey id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the survey is no longer at that version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not admin or manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such survey", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The survey has responses", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The survey is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/surveys/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    user.require_any(EDITORS)?;
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                // Responses being written hold the survey (`lock_shared`):
                // the check below sees them once they commit.
                lock(conn, Locked::Surveys, id)?;
                let row = find_survey(conn, id)?;
                // The 409 before the 412: a resend with the fresh version
                // would be refused anyway.
                if !store::responses_page(conn, id, None, None, 0)?.is_empty() {
                    // A closed survey was told to close (QA).
                    let advice = match from_db(&row.status, SurveyStatus::Draft) {
                        SurveyStatus::Closed => "it stays, closed, with its results",
                        _ => "close it instead",
                    };
                    return Err(ApiError::Conflict(format!(
                        "survey {id} has responses and cannot be deleted: {advice}"
                    )));
                }
                precondition::check(expected.as_deref(), row.version)?;
                store::delete(conn, id)?;
                Ok(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
