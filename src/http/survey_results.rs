//! `/surveys/{id}/results`: response count and rate, the distribution over
//! the five levels per rating question and per dimension, mean per
//! dimension, CSAT and NPS, in total and per month. The database groups and
//! counts the answers; the formulas are `domain::surveys`.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dates;
use super::extract::QueryParams;
use super::segments::scope_of;
use super::surveys::{find_survey, QuestionView};
use crate::auth::AuthUser;
use crate::db::segments::SegmentScope;
use crate::db::surveys::{self as store, AnswerCount, SurveyRow};
use crate::db::{self, DbConn};
use crate::domain::codes::{QuestionKind, SatisfactionDimension};
use crate::domain::surveys::{self as rules, Distribution};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// Answers per level (1 `very_dissatisfied` … 5 `very_satisfied`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(example = json!({"very_dissatisfied": 0, "dissatisfied": 1, "neutral": 2, "satisfied": 5, "very_satisfied": 4}))]
pub struct LevelCounts {
    pub very_dissatisfied: i64,
    pub dissatisfied: i64,
    pub neutral: i64,
    pub satisfied: i64,
    pub very_satisfied: i64,
}

impl From<Distribution> for LevelCounts {
    fn from(d: Distribution) -> Self {
        LevelCounts {
            very_dissatisfied: d[0],
            dissatisfied: d[1],
            neutral: d[2],
            satisfied: d[3],
            very_satisfied: d[4],
        }
    }
}

/// The rating answers of one dimension.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DimensionResult {
    pub dimension: SatisfactionDimension,
    /// `rating_5` answers in this dimension.
    pub answers: i64,
    pub distribution: LevelCounts,
    /// Mean level (1–5, two decimals); null without answers.
    pub mean: Option<f64>,
    /// Percent of answers at level 4 or 5 (0–100, one decimal); null without answers.
    pub csat: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChoiceCount {
    pub option: String,
    pub count: i64,
}

/// The answers to one question; the figures that fit its kind are set, the others null.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuestionResult {
    pub question_id: i64,
    pub position: i64,
    pub kind: QuestionKind,
    pub text: String,
    pub dimension: Option<SatisfactionDimension>,
    /// How many responses answered it.
    pub answers: i64,
    /// `rating_5`: answers per level.
    pub distribution: Option<LevelCounts>,
    /// `rating_5`: mean level.
    pub mean: Option<f64>,
    /// `rating_5`: percent of answers at level 4 or 5.
    pub csat: Option<f64>,
    /// `nps_0_10`: answers per score 0 to 10 (11 counts).
    pub scores: Option<Vec<i64>>,
    /// `nps_0_10`: percent 9–10 minus percent 0–6.
    pub nps: Option<f64>,
    /// `single_choice`: answers per option, in the question's order.
    pub choices: Option<Vec<ChoiceCount>>,
}

/// The figures of one calendar month (UTC) of the period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SurveyPeriod {
    /// `YYYY-MM`.
    #[schema(example = "2026-11")]
    pub period: String,
    pub responses: i64,
    /// Panel members who responded in this month ÷ `target_customers` (0–1); null without a panel or with an empty one.
    pub response_rate: Option<f64>,
    /// Over every `rating_5` answer (0–100).
    pub csat: Option<f64>,
    /// Over every `nps_0_10` answer (−100 to 100).
    pub nps: Option<f64>,
    pub dimensions: Vec<DimensionResult>,
    pub questions: Vec<QuestionResult>,
}

/// The results of a survey over responses submitted in [from, to).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SurveyResults {
    pub survey_id: i64,
    /// `from` as sent, clamped to the years 1–9999 and rounded up to the
    /// microsecond; null when not sent.
    pub from: Option<DateTime<Utc>>,
    /// `to`, as `from`.
    pub to: Option<DateTime<Utc>>,
    /// The panel: the target segment's active members when the survey
    /// opened, less those archived since. A survey's own responses, or an
    /// edit of the segment, do not change who was asked. A draft, or a
    /// survey opened before panels were frozen (`panel_frozen_at` null),
    /// counts its segment's active members now. Null without a panel: a
    /// survey that never had a target (one whose segment was deleted after
    /// it opened keeps its frozen panel, though `segment_id` is null).
    pub target_customers: Option<i64>,
    /// Responses in the window; like every figure below, those of cards
    /// archived since are left out (a restore brings them back).
    pub responses: i64,
    /// Panel members who responded ÷ `target_customers` (0–1, four
    /// decimals); null without a panel (or when the panel is empty).
    pub response_rate: Option<f64>,
    /// Percent of all `rating_5` answers at level 4 or 5 (0–100, one decimal); null without any.
    pub csat: Option<f64>,
    /// Percent of `nps_0_10` answers at 9–10 minus percent at 0–6 (−100 to 100, one decimal); null without any.
    pub nps: Option<f64>,
    /// All three dimensions, in order `product`, `service`, `social`.
    pub dimensions: Vec<DimensionResult>,
    /// Every question, in order.
    pub questions: Vec<QuestionResult>,
    /// Per month with responses, oldest first.
    pub periods: Vec<SurveyPeriod>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// Responses submitted at or after this instant (default: all).
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<Utc>>,
    /// Responses submitted before this instant (default: all).
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<Utc>>,
    /// The breakdown in `periods`: only `month` (the default).
    #[param(pattern = "^month$", example = "month")]
    pub period: Option<String>,
}

/// Figures over some answer counts.
struct Figures {
    csat: Option<f64>,
    nps: Option<f64>,
    dimensions: Vec<DimensionResult>,
    questions: Vec<QuestionResult>,
}

fn figures(questions: &[QuestionView], counts: &[&AnswerCount]) -> Figures {
    let mut all_ratings: Distribution = [0; 5];
    let mut all_scores = [0_i64; 11];
    let mut per_dimension: BTreeMap<&str, Distribution> = BTreeMap::new();
    let mut out = Vec::new();
    for q in questions {
        let mine: Vec<&&AnswerCount> = counts.iter().filter(|c| c.question_id == q.id).collect();
        let answers = mine.iter().map(|c| c.count).sum();
        let mut result = QuestionResult {
            question_id: q.id,
            position: q.position,
            kind: q.kind,
            text: q.text.clone(),
            dimension: q.dimension,
            answers,
            distribution: None,
            mean: None,
            csat: None,
            scores: None,
            nps: None,
            choices: None,
        };
        match q.kind {
            QuestionKind::Rating5 => {
                let mut d: Distribution = [0; 5];
                for c in &mine {
                    if let Some(n) = c.number.filter(|n| (1..=5).contains(n)) {
                        d[(n - 1) as usize] += c.count;
                    }
                }
                for i in 0..5 {
                    all_ratings[i] += d[i];
                }
                if let Some(dim) = q.dimension {
                    let e = per_dimension.entry(dim.as_str()).or_insert([0; 5]);
                    for i in 0..5 {
                        e[i] += d[i];
                    }
                }
                result.mean = rules::mean(&d);
                result.csat = rules::csat(&d);
                result.distribution = Some(d.into());
            }
            QuestionKind::Nps010 => {
                let mut s = [0_i64; 11];
                for c in &mine {
                    if let Some(n) = c.number.filter(|n| (0..=10).contains(n)) {
                        s[n as usize] += c.count;
                    }
                }
                for i in 0..11 {
                    all_scores[i] += s[i];
                }
                result.nps = rules::nps(&s);
                result.scores = Some(s.to_vec());
            }
            QuestionKind::SingleChoice => {
                result.choices = Some(
                    q.options
                        .iter()
                        .flatten()
                        .map(|o| ChoiceCount {
                            option: o.clone(),
                            count: mine
                                .iter()
                                .filter(|c| c.choice.as_deref() == Some(o.as_str()))
                                .map(|c| c.count)
                                .sum(),
                        })
                        .collect(),
                );
            }
            QuestionKind::Text => {}
        }
        out.push(result);
    }
    Figures {
        csat: rules::csat(&all_ratings),
        nps: rules::nps(&all_scores),
        dimensions: SatisfactionDimension::ALL
            .iter()
            .map(|dim| {
                let d = per_dimension.get(dim.as_str()).copied().unwrap_or([0; 5]);
                DimensionResult {
                    dimension: *dim,
                    answers: d.iter().sum(),
                    distribution: d.into(),
                    mean: rules::mean(&d),
                    csat: rules::csat(&d),
                }
            })
            .collect(),
        questions: out,
    }
}

/// Bounds far enough apart to hold every response, comparable as text on SQLite.
fn far(year: i32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// Who the rate is measured against: the panel frozen as the survey opened
/// (kept when its segment is deleted later), or, for a survey without one
/// (a draft, or opened before panels were frozen: the migration could not
/// evaluate rules, which are compiled here), its target segment as it is
/// now. None: no target.
fn target(conn: &mut DbConn, survey: &SurveyRow) -> Result<Option<SegmentScope>, ApiError> {
    if survey.panel_frozen_at.is_some() {
        return Ok(Some(SegmentScope::for_panel(survey.id)));
    }
    let segment = match survey.segment_id {
        Some(s) => crate::db::segments::find(conn, s)?,
        None => None,
    };
    segment.map(|row| scope_of(&row, db::now())).transpose()
}

fn results(
    conn: &mut DbConn,
    id: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<SurveyResults, ApiError> {
    let survey = find_survey(conn, id)?;
    let questions: Vec<QuestionView> = store::questions(conn, &[id])?
        .into_iter()
        .map(QuestionView::from)
        .collect();
    let bound = |t: DateTime<Utc>| crate::domain::instants::bound(t.naive_utc());
    let start = from.map(bound).unwrap_or(far(1970));
    let end = to.map(bound).unwrap_or(far(9999));
    let counts = store::answer_counts(conn, id, start, end)?;
    let responses = store::response_counts(conn, id, start, end)?;
    let (targets, total_respondents, monthly_respondents) = match target(conn, &survey)? {
        Some(scope) => {
            let t = store::target_figures(conn, id, &scope, start, end)?;
            (Some(t.members), t.respondents, t.monthly)
        }
        None => (None, 0, Vec::new()),
    };
    let months: BTreeSet<&str> = responses.iter().map(|r| r.period.as_str()).collect();
    let periods = months
        .into_iter()
        .map(|month| {
            let mine: Vec<&AnswerCount> = counts.iter().filter(|c| c.period == month).collect();
            let f = figures(&questions, &mine);
            let respondents = monthly_respondents
                .iter()
                .find(|(p, _)| p == month)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            SurveyPeriod {
                period: month.to_string(),
                responses: responses
                    .iter()
                    .filter(|r| r.period == month)
                    .map(|r| r.responses)
                    .sum(),
                response_rate: rules::response_rate(respondents, targets),
                csat: f.csat,
                nps: f.nps,
                dimensions: f.dimensions,
                questions: f.questions,
            }
        })
        .collect();
    let all: Vec<&AnswerCount> = counts.iter().collect();
    let f = figures(&questions, &all);
    // The bounds as judged, clamped to years 1–9999 (a `from` in year 0 came
    // back as `-0001-…`, no RFC 3339 date-time; a review), as the analytics
    // reports echo theirs.
    let echoed = |t: DateTime<Utc>| bound(t).and_utc();
    Ok(SurveyResults {
        survey_id: id,
        from: from.map(echoed),
        to: to.map(echoed),
        target_customers: targets,
        responses: responses.iter().map(|r| r.responses).sum(),
        response_rate: rules::response_rate(total_respondents, targets),
        csat: f.csat,
        nps: f.nps,
        dimensions: f.dimensions,
        questions: f.questions,
        periods,
    })
}

/// The results of a survey over the responses submitted in [`from`, `to`),
/// in total and per calendar month (UTC). The response rate counts the
/// panel's active members (the target segment's, frozen as the survey
/// opened) who responded, against their number; it is null for a survey
/// without a panel (one that never had a target: a segment deleted after
/// the survey opened leaves its frozen panel, and the rate, in place).
#[utoipa::path(
    tag = "surveys",
    params(("id" = i64, Path, description = "Survey id"), ResultsQuery),
    responses(
        (status = 200, body = SurveyResults),
        (status = 400, description = "Bad query parameter (e.g. `from` not before `to`, or a period other than month)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such survey", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/surveys/{id}/results")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.0;
    let mut errors = Vec::new();
    if q.period.as_deref().is_some_and(|p| p != "month") {
        errors.push(FieldError::new(
            "period",
            "invalid_value",
            "the only period is month",
        ));
    }
    // A bound beyond the four-digit years is clamped ("since ever"), as by
    // the analytics reports; only a leap second is refused.
    errors.extend(
        super::common::instants_out_of_range(&[("from", q.from), ("to", q.to)])
            .into_iter()
            .filter(|e| e.code == "leap_second"),
    );
    // [t, t) holds nothing: refused, as by the other period reports.
    errors.extend(super::common::empty_period(("from", q.from), ("to", q.to)));
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    let (from, to) = (q.from, q.to);
    let body = state
        .db
        // One snapshot: the figures come from several statements, and a
        // response or a card written between two of them made the panel's
        // respondents and the answers disagree. A report's turn: a target
        // counted now (a draft's) reads every card its segment holds.
        .report(move |conn| db::snapshot(conn, |conn| results(conn, id, from, to)))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
