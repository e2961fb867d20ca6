//! `/surveys/{id}/responses`: recording a customer's answers to an open
//! survey, and listing them.
//!
//! Recording a response, in one transaction: the answers are checked
//! against the questions (`domain::surveys::check_answers`), the customer's
//! latest satisfaction per dimension and overall is updated from the
//! response's rating answers, a `survey_answered` event goes into the
//! customer's history (and timeline), and the customer's loyalty type is
//! recomputed. Roles: `admin`, `manager`, `integration`, and `sales` for the
//! customers it owns; everyone reads, the list and each response at
//! `/surveys/{id}/responses/{response_id}` (the 201's `Location`).
//!
//! A response never changes once recorded: its `ETag` carries version 1,
//! the version the change feed gives it.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::common::versioned;
use super::customers::writable_customer;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::surveys::{domain_question, find_survey};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::events::{self, NewEvent, SURVEY_ANSWERED};
use crate::db::page::{self, Cursor};
use crate::db::row_lock::{lock_shared, Locked};
use crate::db::surveys::{self as store, AnswerRow, NewAnswer, ResponseRow};
use crate::db::{self, customers, stats, DbConn};
use crate::domain::codes::{from_db, QuestionKind, SurveyStatus};
use crate::domain::surveys::{self as rules, SentAnswer};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// Most answers in one response (a survey has at most 100 questions).
const MAX_ANSWERS: usize = 100;

/// One answer as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"question_id": 7, "value": 4}))]
pub struct AnswerInput {
    /// A question of this survey.
    #[schema(required = true, value_type = i64)]
    pub question_id: Option<i64>,
    /// `rating_5`: an integer 1–5; `nps_0_10`: an integer 0–10;
    /// `single_choice`: one of the options, exactly; `text`: 1 to 4,000 characters.
    #[schema(required = true, schema_with = integer_or_string)]
    pub value: Option<Value>,
}

/// An answer's value in the spec: a number or a string, by question kind
/// (an `Object` here made the spec's own example, `"value": 4`, invalid).
fn integer_or_string() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    utoipa::openapi::RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(
                "By the question's kind: `rating_5` an integer 1–5; `nps_0_10` an integer \
                 0–10; `single_choice` one of the options, exactly; `text` 1 to 4,000 \
                 characters.",
            ))
            .examples([serde_json::json!(4)])
            .build(),
    ))
}

/// A customer's response to an open survey.
///
/// Rules (all reported at once in one 422, each at its path):
/// `customer_id` is required and must be a customer (`unknown_customer`);
/// `answers` holds 1 to 100 answers; each `answers[i].question_id` must be a
/// question of this survey (`unknown_question`), answered once
/// (`duplicate`); each `answers[i].value` must fit its question's kind
/// (`invalid_type`, `range`, `invalid_choice`, `blank`, `length`);
/// every required question must be answered (`answers`, `missing_answer`).
/// Leave out the optional questions the customer did not answer. Like every
/// JSON body, the whole response is at most 256 KiB (413 beyond): about 20
/// answers of 4,000 Chinese characters each.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": 42, "answers": [
    {"question_id": 7, "value": 4}, {"question_id": 8, "value": 5},
    {"question_id": 9, "value": 9}, {"question_id": 10, "value": "Faster delivery to Ningbo"}
]}))]
pub struct ResponseCreate {
    #[schema(required = true, value_type = i64)]
    pub customer_id: Option<i64>,
    #[schema(required = true, value_type = Vec<AnswerInput>, min_items = 1, max_items = 100)]
    pub answers: Option<Vec<AnswerInput>>,
}

/// One stored answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AnswerView {
    pub question_id: i64,
    pub kind: QuestionKind,
    /// A number for `rating_5` and `nps_0_10`, a string for `single_choice` and `text`.
    #[schema(schema_with = integer_or_string)]
    pub value: Value,
}

impl From<AnswerRow> for AnswerView {
    fn from(a: AnswerRow) -> Self {
        AnswerView {
            question_id: a.question_id,
            kind: from_db(&a.kind, QuestionKind::Text),
            value: match (a.number, a.text) {
                (Some(n), _) => Value::from(n),
                (None, Some(t)) => Value::from(t),
                (None, None) => Value::Null,
            },
        }
    }
}

/// The satisfaction one response gives (1–5): the mean of its `rating_5`
/// answers per dimension (two decimals), and overall the mean of those
/// dimension means (each weighs the same, however many questions rated it),
/// rounded once from the exact fractions (product 5, 5, 4 and service 5, 4:
/// 55/12 = 4.58); null where it has none. `nps_0_10` answers do not count
/// (they give the NPS). The card's overall is the mean of the card's stored
/// dimensions after the response, not this one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"overall": 4.5, "product": 5.0, "service": 4.0, "social": null}))]
pub struct ResponseSatisfactionView {
    pub overall: Option<f64>,
    pub product: Option<f64>,
    pub service: Option<f64>,
    pub social: Option<f64>,
}

/// A response with its answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 301, "survey_id": 3, "customer_id": 42, "user_id": 2,
    "submitted_at": "2026-11-25T09:30:00Z",
    "answers": [{"question_id": 7, "kind": "rating_5", "value": 4}, {"question_id": 8, "kind": "nps_0_10", "value": 9}],
    "satisfaction": {"overall": 4.0, "product": null, "service": 4.0, "social": null}}))]
pub struct ResponseView {
    pub id: i64,
    pub survey_id: i64,
    pub customer_id: i64,
    /// Who recorded it.
    pub user_id: Option<i64>,
    pub submitted_at: DateTime<Utc>,
    pub answers: Vec<AnswerView>,
    pub satisfaction: ResponseSatisfactionView,
}

fn view(r: ResponseRow, answers: Vec<AnswerRow>) -> ResponseView {
    let domain: Vec<rules::Answer> = answers
        .iter()
        .map(|a| rules::Answer {
            question_id: a.question_id,
            kind: from_db(&a.kind, QuestionKind::Text),
            dimension: a.dimension.as_deref().and_then(|d| {
                <crate::domain::codes::SatisfactionDimension as crate::domain::codes::Code>::parse(
                    d,
                )
            }),
            number: a.number,
            text: a.text.clone(),
        })
        .collect();
    let s = rules::response_satisfaction(&domain);
    ResponseView {
        id: r.id,
        survey_id: r.survey_id,
        customer_id: r.customer_id,
        user_id: r.user_id,
        submitted_at: utc(r.submitted_at),
        answers: answers.into_iter().map(AnswerView::from).collect(),
        satisfaction: ResponseSatisfactionView {
            overall: s.overall,
            product: s.product,
            service: s.service,
            social: s.social,
        },
    }
}

/// The response as the API shows it, if it exists (the change feed's `data`).
pub fn view_of(conn: &mut DbConn, id: i64) -> Result<Option<ResponseView>, ApiError> {
    use crate::db::schema::survey_responses;
    use diesel::prelude::*;
    let rows: Vec<ResponseRow> = survey_responses::table.find(id).load(conn)?;
    Ok(views(conn, rows)?.into_iter().next())
}

/// The version in a response's `ETag`: a response never changes, and the
/// change feed records its creation as version 1 (`store::insert_response`).
const RESPONSE_VERSION: i64 = 1;

/// A response's answer: its `ETag`, and on a create its `Location`.
fn respond(status: StatusCode, view: &ResponseView) -> HttpResponse {
    let location = format!("/api/v1/surveys/{}/responses/{}", view.survey_id, view.id);
    versioned(status, RESPONSE_VERSION, Some(location), view)
}

fn views(conn: &mut DbConn, rows: Vec<ResponseRow>) -> Result<Vec<ResponseView>, ApiError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    // Grouped in one pass (each response's answers stay in id order, as
    // `answers_of` reads them): partitioning what was left for every
    // response took a page's answers times its responses.
    let mut by_response: HashMap<i64, Vec<AnswerRow>> = HashMap::with_capacity(ids.len());
    for a in store::answers_of(conn, &ids)? {
        by_response.entry(a.response_id).or_default().push(a);
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = by_response.remove(&r.id).unwrap_or_default();
            view(r, mine)
        })
        .collect())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResponsePage {
    pub items: Vec<ResponseView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResponseQuery {
    /// Only this customer's responses.
    pub customer_id: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Record a customer's response to an open survey (409 when the survey is
/// not open, or when the customer already responded and the survey does
/// not allow multiple responses). Updates the customer's latest
/// satisfaction (each dimension the response rates, and overall) and
/// loyalty type, and writes a `survey_answered` event to its history.
#[utoipa::path(
    tag = "surveys",
    params(("id" = i64, Path, description = "Survey id")),
    request_body = ResponseCreate,
    responses(
        (status = 201, body = ResponseView, headers(("ETag" = String), ("Location" = String, description = "The response's URL: `/api/v1/surveys/{id}/responses/{response_id}`"))),
        (status = 403, description = "Viewer, or a sales user for a customer it does not own", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such survey", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Survey not open, or a second response from the customer (no `errors`); or the customer is archived (`errors`: `[{field: customer_id, code: archived}]`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid answers or customer, each named by its path", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/surveys/{id}/responses")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<ResponseCreate>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let input = body.0;
    let mut shape = Vec::new();
    if input.customer_id.is_none() {
        shape.push(FieldError::new("customer_id", "required", "is required"));
    }
    match &input.answers {
        None => shape.push(FieldError::new("answers", "required", "is required")),
        Some(a) if a.len() > MAX_ANSWERS => shape.push(FieldError::new(
            "answers",
            "length",
            format!("takes at most {MAX_ANSWERS} answers"),
        )),
        Some(_) => {}
    }
    let sent: Vec<SentAnswer> = input
        .answers
        .unwrap_or_default()
        .into_iter()
        .map(|a| SentAnswer {
            question_id: a.question_id,
            value: a.value,
        })
        .collect();
    let customer_id = input.customer_id;
    let response = state
        .db
        .write_grouped(move |conn| {
            // Held to the commit: a concurrent close or delete of the survey
            // waits for this response, or this response for it (the delete
            // would otherwise cascade over a response answered 201).
            lock_shared(conn, Locked::Surveys, id)?;
            let survey = find_survey(conn, id)?;
            let status = from_db(&survey.status, SurveyStatus::Draft);
            if status != SurveyStatus::Open {
                return Err(ApiError::Conflict(format!(
                    "survey {id} is {status}: only open surveys take responses"
                )));
            }
            let mut errors = shape;
            if let Some(c) = customer_id {
                if !customers::exists(conn, c)? {
                    errors.push(FieldError::new(
                        "customer_id",
                        "unknown_customer",
                        format!("no customer {c}"),
                    ));
                }
            }
            let questions: Vec<_> = store::questions(conn, &[id])?
                .iter()
                .map(domain_question)
                .collect();
            let answers = if errors.iter().any(|e| e.field == "answers") {
                Vec::new()
            } else {
                match rules::check_answers(&questions, &sent) {
                    Ok(a) => a,
                    Err(e) => {
                        errors.extend(e);
                        Vec::new()
                    }
                }
            };
            let Some(customer_id) = customer_id.filter(|_| errors.is_empty()) else {
                errors.sort_by(|a, b| a.field.cmp(&b.field));
                return Err(ApiError::Validation(errors));
            };
            writable_customer(conn, &user, customer_id)?;
            if !survey.allow_multiple_responses
                && store::has_responded(conn, id, customer_id)?
            {
                return Err(ApiError::Conflict(format!(
                    "customer {customer_id} already responded to survey {id}, which takes one response per customer"
                )));
            }
            record(conn, &survey, customer_id, user.id, &answers)
        })
        .await?;
    Ok(respond(StatusCode::CREATED, &response))
}

/// Stores the response and applies it to the customer.
fn record(
    conn: &mut DbConn,
    survey: &store::SurveyRow,
    customer_id: i64,
    user_id: i64,
    answers: &[rules::Answer],
) -> Result<ResponseView, ApiError> {
    let now = db::now();
    let stored: Vec<NewAnswer> = answers
        .iter()
        .map(|a| NewAnswer {
            question_id: a.question_id,
            kind: a.kind.as_str(),
            dimension: a.dimension.map(|d| d.as_str()),
            number: a.number,
            text: a.text.as_deref(),
        })
        .collect();
    let row = store::insert_response(conn, survey.id, customer_id, user_id, now, &stored)?;
    let satisfaction = rules::response_satisfaction(answers);
    store::set_satisfaction(conn, customer_id, &satisfaction, now)?;
    // Two decimals always (`4.00`, not `4`): the text a consumer parses or
    // compares is the same for every value.
    let overall = satisfaction.overall.map(|v| format!("{v:.2}"));
    let reason = format!("survey {}: {}", survey.id, survey.title);
    events::insert(
        conn,
        &NewEvent {
            customer_id,
            kind: SURVEY_ANSWERED,
            from_value: None,
            to_value: overall.as_deref(),
            subject_id: Some(row.id),
            reason: Some(&reason),
            user_id: Some(user_id),
            at: now,
        },
    )?;
    // Every figure as of now, stamped (`stats_at`): refreshing the loyalty
    // type alone, a walk begun before the response still judged the card at
    // its older instant and undid the type, with an event dated before the
    // one it undid (a review; as the wallet change and the unpin).
    stats::refresh_card(conn, customer_id, now)?;
    let answers = store::answers_of(conn, &[row.id])?;
    Ok(view(row, answers))
}

/// Read one response of a survey, as its create answered it (404 when the
/// survey has no such response). A response never changes: its `ETag`'s
/// version is always 1.
#[utoipa::path(
    tag = "surveys",
    params(("id" = i64, Path, description = "Survey id"),
        ("response_id" = i64, Path, description = "Response id")),
    responses(
        (status = 200, body = ResponseView, headers(("ETag" = String))),
        (status = 404, description = "No such survey, or no such response of it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/surveys/{id}/responses/{response_id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (id, response_id) = path.into_inner();
    let view = state
        .db
        .lookup(move |conn| {
            find_survey(conn, id)?;
            let rows = store::response_of(conn, id, response_id)?;
            views(conn, rows)?.into_iter().next().ok_or_else(|| {
                ApiError::NotFound(format!("survey {id} has no response {response_id}"))
            })
        })
        .await?;
    Ok(respond(StatusCode::OK, &view))
}

/// A survey's responses with their answers, oldest first.
#[utoipa::path(
    tag = "surveys",
    params(("id" = i64, Path, description = "Survey id"), ResponseQuery),
    responses(
        (status = 200, body = ResponsePage),
        (status = 400, description = "Bad query parameter", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such survey", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/surveys/{id}/responses")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<ResponseQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.0;
    let limit = page::limit(q.limit)?;
    // One list per survey and customer: another's cursor is refused.
    let list_name = super::common::list_name(&format!("survey-responses:{id}"), q.customer_id);
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, "id"))
        .transpose()?
        .map(|c| c.id);
    let page = state
        .db
        .run(move |conn| {
            find_survey(conn, id)?;
            let rows = store::responses_page(conn, id, q.customer_id, after, limit)?;
            let page = page::finish(rows, limit, &list_name, |r| Cursor {
                s: "id".into(),
                k: Value::Null,
                id: r.id,
            });
            Ok(ResponsePage {
                items: views(conn, page.items)?,
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
