//! Surveys, their questions, responses and answers: queries, and the
//! grouped counts the results are computed from.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::schema::{
    customers, survey_answers, survey_panel, survey_questions, survey_responses, surveys,
};
use super::DbConn;
use crate::domain::surveys::{card_after, ResponseSatisfaction};

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = surveys, treat_none_as_null = true)]
pub struct SurveyRow {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub segment_id: Option<i64>,
    pub allow_multiple_responses: bool,
    pub opened_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When the panel was frozen (`freeze_panel`); None: the rate follows
    /// the segment as it is now (a draft, no target, or opened before
    /// panels were frozen).
    pub panel_frozen_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable)]
pub struct QuestionRow {
    pub id: i64,
    pub survey_id: i64,
    pub position: i64,
    pub kind: String,
    pub text: String,
    pub dimension: Option<String>,
    /// JSON array of strings (`single_choice`).
    pub options: Option<String>,
    pub required: bool,
}

/// A question to store (the id comes from the database).
#[derive(Debug, Clone)]
pub struct NewQuestion {
    pub kind: String,
    pub text: String,
    pub dimension: Option<String>,
    pub options: Option<String>,
    pub required: bool,
}

#[derive(Debug, Clone, Queryable)]
pub struct ResponseRow {
    pub id: i64,
    pub survey_id: i64,
    pub customer_id: i64,
    pub user_id: Option<i64>,
    pub submitted_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct AnswerRow {
    pub id: i64,
    pub response_id: i64,
    pub survey_id: i64,
    pub question_id: i64,
    pub kind: String,
    pub dimension: Option<String>,
    pub number: Option<i64>,
    pub text: Option<String>,
}

pub fn insert(conn: &mut DbConn, r: &SurveyRow) -> QueryResult<SurveyRow> {
    let id: i64 = diesel::insert_into(surveys::table)
        .values((
            surveys::title.eq(&r.title),
            surveys::description.eq(&r.description),
            surveys::status.eq(&r.status),
            surveys::segment_id.eq(r.segment_id),
            surveys::allow_multiple_responses.eq(r.allow_multiple_responses),
            surveys::opened_at.eq(r.opened_at),
            surveys::closed_at.eq(r.closed_at),
            surveys::version.eq(r.version),
            surveys::created_at.eq(r.created_at),
            surveys::updated_at.eq(r.updated_at),
            surveys::panel_frozen_at.eq(r.panel_frozen_at),
        ))
        .returning(surveys::id)
        .get_result(conn)?;
    super::changes::record(
        conn,
        super::changes::SURVEY,
        id,
        super::changes::CREATED,
        r.version,
    )?;
    surveys::table.find(id).first(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<SurveyRow>> {
    surveys::table.find(id).first(conn).optional()
}

/// Saves `row` if the stored version is still `expected_version`.
pub fn save(conn: &mut DbConn, row: &SurveyRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        surveys::table
            .filter(surveys::id.eq(row.id))
            .filter(surveys::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        super::changes::record(
            conn,
            super::changes::SURVEY,
            row.id,
            super::changes::UPDATED,
            row.version,
        )?;
    }
    Ok(n == 1)
}

/// The surveys that target segment `segment_id`, by id.
pub fn targeting(conn: &mut DbConn, segment_id: i64) -> QueryResult<Vec<i64>> {
    surveys::table
        .filter(surveys::segment_id.eq(segment_id))
        .order(surveys::id)
        .select(surveys::id)
        .load(conn)
}

/// Takes the target off the surveys that target segment `segment_id` (it is
/// being deleted): each gets a new version, `updated_at` and a change in the
/// feed, as any other change of a survey (the database's `ON DELETE SET
/// NULL` alone would change them unseen).
pub fn untarget(conn: &mut DbConn, segment_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    let ids = targeting(conn, segment_id)?;
    super::row_lock::lock_all(conn, super::row_lock::Locked::Surveys, &ids)?;
    for id in ids {
        let Some(mut row) = find(conn, id)? else {
            continue;
        };
        if row.segment_id != Some(segment_id) {
            continue;
        }
        let expected = row.version;
        row.segment_id = None;
        row.version = expected + 1;
        row.updated_at = now;
        save(conn, &row, expected)?;
    }
    Ok(())
}

/// Deletes a survey with its questions, responses and answers.
pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    let version: i64 = surveys::table
        .find(id)
        .select(surveys::version)
        .first(conn)?;
    super::changes::record_deleted(conn, super::changes::SURVEY, id, version + 1, None)?;
    diesel::delete(survey_answers::table.filter(survey_answers::survey_id.eq(id))).execute(conn)?;
    diesel::delete(survey_responses::table.filter(survey_responses::survey_id.eq(id)))
        .execute(conn)?;
    diesel::delete(survey_questions::table.filter(survey_questions::survey_id.eq(id)))
        .execute(conn)?;
    diesel::delete(survey_panel::table.filter(survey_panel::survey_id.eq(id))).execute(conn)?;
    diesel::delete(surveys::table.find(id)).execute(conn)?;
    Ok(())
}

/// Surveys by id after `after_id`, `limit + 1` rows.
pub fn page(
    conn: &mut DbConn,
    status: Option<&str>,
    updated_since: Option<NaiveDateTime>,
    after_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<SurveyRow>> {
    let mut query = surveys::table
        .order(surveys::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(surveys::status.eq(status.to_string()));
    }
    if let Some(since) = updated_since {
        query = query.filter(surveys::updated_at.ge(since));
    }
    if let Some(after) = after_id {
        query = query.filter(surveys::id.gt(after));
    }
    query.load(conn)
}

/// The questions of the surveys, in order.
pub fn questions(conn: &mut DbConn, survey_ids: &[i64]) -> QueryResult<Vec<QuestionRow>> {
    survey_questions::table
        .filter(survey_questions::survey_id.eq_any(survey_ids))
        .order((survey_questions::survey_id, survey_questions::position))
        .load(conn)
}

/// Replaces a survey's questions (only while it is a draft: no answers).
pub fn replace_questions(
    conn: &mut DbConn,
    survey_id: i64,
    questions: &[NewQuestion],
) -> QueryResult<()> {
    diesel::delete(survey_questions::table.filter(survey_questions::survey_id.eq(survey_id)))
        .execute(conn)?;
    for (i, q) in questions.iter().enumerate() {
        diesel::insert_into(survey_questions::table)
            .values((
                survey_questions::survey_id.eq(survey_id),
                survey_questions::position.eq(i as i64 + 1),
                survey_questions::kind.eq(&q.kind),
                survey_questions::text.eq(&q.text),
                survey_questions::dimension.eq(&q.dimension),
                survey_questions::options.eq(&q.options),
                survey_questions::required.eq(q.required),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether the customer already answered the survey.
pub fn has_responded(conn: &mut DbConn, survey_id: i64, customer_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        survey_responses::table
            .filter(survey_responses::survey_id.eq(survey_id))
            .filter(survey_responses::customer_id.eq(customer_id)),
    ))
    .get_result(conn)
}

/// An answer to store.
pub struct NewAnswer<'a> {
    pub question_id: i64,
    pub kind: &'a str,
    pub dimension: Option<&'a str>,
    pub number: Option<i64>,
    pub text: Option<&'a str>,
}

/// Stores a response with its answers; returns it.
pub fn insert_response(
    conn: &mut DbConn,
    survey_id: i64,
    customer_id: i64,
    user_id: i64,
    at: NaiveDateTime,
    answers: &[NewAnswer],
) -> QueryResult<ResponseRow> {
    let row: ResponseRow = diesel::insert_into(survey_responses::table)
        .values((
            survey_responses::survey_id.eq(survey_id),
            survey_responses::customer_id.eq(customer_id),
            survey_responses::user_id.eq(Some(user_id)),
            survey_responses::submitted_at.eq(at),
        ))
        .returning((
            survey_responses::id,
            survey_responses::survey_id,
            survey_responses::customer_id,
            survey_responses::user_id,
            survey_responses::submitted_at,
        ))
        .get_result(conn)?;
    super::changes::record(
        conn,
        super::changes::SURVEY_RESPONSE,
        row.id,
        super::changes::CREATED,
        1,
    )?;
    for a in answers {
        diesel::insert_into(survey_answers::table)
            .values((
                survey_answers::response_id.eq(row.id),
                survey_answers::survey_id.eq(survey_id),
                survey_answers::question_id.eq(a.question_id),
                survey_answers::kind.eq(a.kind),
                survey_answers::dimension.eq(a.dimension),
                survey_answers::number.eq(a.number),
                survey_answers::text.eq(a.text),
            ))
            .execute(conn)?;
    }
    Ok(row)
}

/// Response `id` if it is one of survey `survey_id`'s (no row or one).
pub fn response_of(conn: &mut DbConn, survey_id: i64, id: i64) -> QueryResult<Vec<ResponseRow>> {
    survey_responses::table
        .filter(survey_responses::id.eq(id))
        .filter(survey_responses::survey_id.eq(survey_id))
        .load(conn)
}

/// A survey's responses by id after `after_id`, `limit + 1` rows, optionally one customer's.
pub fn responses_page(
    conn: &mut DbConn,
    survey_id: i64,
    customer_id: Option<i64>,
    after_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<ResponseRow>> {
    let mut query = survey_responses::table
        .filter(survey_responses::survey_id.eq(survey_id))
        .order(survey_responses::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(c) = customer_id {
        query = query.filter(survey_responses::customer_id.eq(c));
    }
    if let Some(after) = after_id {
        query = query.filter(survey_responses::id.gt(after));
    }
    query.load(conn)
}

/// The answers of the responses, by response and question position (by
/// the answers' ids they came in the order sent: a client lining answers
/// up with the questions by index read them wrong, a review).
pub fn answers_of(conn: &mut DbConn, response_ids: &[i64]) -> QueryResult<Vec<AnswerRow>> {
    survey_answers::table
        .inner_join(
            survey_questions::table.on(survey_questions::id.eq(survey_answers::question_id)),
        )
        .filter(survey_answers::response_id.eq_any(response_ids))
        .order((
            survey_answers::response_id,
            survey_questions::position,
            survey_answers::id,
        ))
        .select(survey_answers::all_columns)
        .load(conn)
}

/// Applies a response's satisfaction to the customer's card
/// (`domain::surveys::card_after`): each rated dimension replaces the
/// stored one, the others keep theirs, and overall is recomputed from the
/// card's dimensions. Nothing happens without a rating.
pub fn set_satisfaction(
    conn: &mut DbConn,
    customer_id: i64,
    s: &ResponseSatisfaction,
    at: NaiveDateTime,
) -> QueryResult<()> {
    if s.overall.is_none() {
        return Ok(());
    }
    let target = customers::table.find(customer_id);
    // Written first: the row is locked (PostgreSQL) or the database
    // (SQLite) until commit, so the dimensions read next are the ones the
    // overall is written beside, whatever response commits at the same time.
    diesel::update(target)
        .set(customers::satisfaction_at.eq(Some(at)))
        .execute(conn)?;
    let (product, service, social): (Option<f64>, Option<f64>, Option<f64>) = target
        .select((
            customers::satisfaction_product,
            customers::satisfaction_service,
            customers::satisfaction_social,
        ))
        .first(conn)?;
    let card = ResponseSatisfaction {
        overall: None,
        product,
        service,
        social,
    };
    let Some(after) = card_after(&card, s) else {
        return Ok(());
    };
    diesel::update(target)
        .set((
            customers::satisfaction_overall.eq(after.overall),
            customers::satisfaction_product.eq(after.product),
            customers::satisfaction_service.eq(after.service),
            customers::satisfaction_social.eq(after.social),
        ))
        .execute(conn)?;
    Ok(())
}

/// Answers counted by period, question and value.
#[derive(QueryableByName, Debug, Clone)]
pub struct AnswerCount {
    /// `YYYY-MM`.
    #[diesel(sql_type = Text)]
    pub period: String,
    #[diesel(sql_type = BigInt)]
    pub question_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub number: Option<i64>,
    /// The chosen option of `single_choice` answers (NULL for others).
    #[diesel(sql_type = Nullable<Text>)]
    pub choice: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Responses counted by period, with distinct customers.
#[derive(QueryableByName, Debug, Clone)]
pub struct ResponseCount {
    #[diesel(sql_type = Text)]
    pub period: String,
    #[diesel(sql_type = BigInt)]
    pub responses: i64,
}

/// The month (`YYYY-MM`, UTC) of `r.submitted_at`.
fn period_sql(conn: &DbConn) -> &'static str {
    match conn {
        DbConn::Sqlite(_) => "strftime('%Y-%m', r.submitted_at)",
        DbConn::Postgresql(_) => "to_char(r.submitted_at, 'YYYY-MM')",
    }
}

/// Answer counts per month of a survey's responses submitted in [from, to).
/// An archived card's answers are left out, as from every other figure
/// (its restore brings them back): a review found the response rate
/// leaving an archived respondent out while CSAT, NPS and the counts kept it.
pub fn answer_counts(
    conn: &mut DbConn,
    survey_id: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<AnswerCount>> {
    let period = period_sql(conn);
    diesel::sql_query(format!(
        "SELECT {period} AS period, a.question_id AS question_id, a.number AS number, \
           CASE WHEN a.kind = 'single_choice' THEN a.text ELSE NULL END AS choice, COUNT(*) AS count \
         FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id \
         JOIN customers c ON c.id = r.customer_id AND c.archived_at IS NULL \
         WHERE a.survey_id = $1 AND r.submitted_at >= $2 AND r.submitted_at < $3 \
         GROUP BY {period}, a.question_id, a.number, CASE WHEN a.kind = 'single_choice' THEN a.text ELSE NULL END"
    ))
    .bind::<BigInt, _>(survey_id)
    .bind::<diesel::sql_types::Timestamp, _>(from)
    .bind::<diesel::sql_types::Timestamp, _>(to)
    .load(conn)
}

/// Response counts per month of a survey in [from, to), archived cards'
/// left out (`answer_counts`).
pub fn response_counts(
    conn: &mut DbConn,
    survey_id: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<ResponseCount>> {
    let period = period_sql(conn);
    diesel::sql_query(format!(
        "SELECT {period} AS period, COUNT(*) AS responses \
         FROM survey_responses r \
         JOIN customers c ON c.id = r.customer_id AND c.archived_at IS NULL \
         WHERE r.survey_id = $1 AND r.submitted_at >= $2 AND r.submitted_at < $3 \
         GROUP BY {period}"
    ))
    .bind::<BigInt, _>(survey_id)
    .bind::<diesel::sql_types::Timestamp, _>(from)
    .bind::<diesel::sql_types::Timestamp, _>(to)
    .load(conn)
}

/// Freezes survey `survey_id`'s panel: the active customers `scope` (its
/// target segment) holds now. One INSERT ... SELECT, so that a segment of a
/// million cards is copied by the database in one statement. Returns the
/// panel's size.
pub fn freeze_panel(
    conn: &mut DbConn,
    survey_id: i64,
    scope: &super::segments::SegmentScope,
) -> QueryResult<usize> {
    use diesel::IntoSql;
    let members = customers::table
        .filter(customers::archived_at.is_null())
        .filter(scope.clone())
        .select((survey_id.into_sql::<BigInt>(), customers::id));
    diesel::insert_into(survey_panel::table)
        .values(members)
        .into_columns((survey_panel::survey_id, survey_panel::customer_id))
        .execute(conn)
}

/// The target segment's figures for a survey's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFigures {
    /// Active members now (an archived card leaves, a restored one returns).
    pub members: i64,
    /// Members who responded in [from, to).
    pub respondents: i64,
    /// Members who responded, per month with any (`period_sql`).
    pub monthly: Vec<(String, i64)>,
}

/// Active members of `scope` (the frozen panel, or the target segment now for
/// a survey without one), and how many of them responded in [from, to), in
/// all and per month. The members are counted once: the
/// count scans the cards for a broad rule.
pub fn target_figures(
    conn: &mut DbConn,
    survey_id: i64,
    scope: &super::segments::SegmentScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<TargetFigures> {
    let members: i64 = customers::table
        .filter(customers::archived_at.is_null())
        .filter(scope.clone())
        .count()
        .get_result(conn)?;
    let filtered = || {
        survey_responses::table
            .inner_join(customers::table)
            .filter(survey_responses::survey_id.eq(survey_id))
            .filter(survey_responses::submitted_at.ge(from))
            .filter(survey_responses::submitted_at.lt(to))
            .filter(customers::archived_at.is_null())
            .filter(scope.clone())
    };
    // A customer may respond in several months: the total is its own count.
    let respondents: i64 = filtered()
        .select(diesel::dsl::sql::<BigInt>(
            "COUNT(DISTINCT survey_responses.customer_id)",
        ))
        .get_result(conn)?;
    let period = period_sql(conn).replace("r.submitted_at", "survey_responses.submitted_at");
    let monthly: Vec<(String, i64)> = filtered()
        .group_by(diesel::dsl::sql::<Text>(&period))
        .select(diesel::dsl::sql::<(Text, BigInt)>(&format!(
            "{period}, COUNT(DISTINCT survey_responses.customer_id)"
        )))
        .load(conn)?;
    Ok(TargetFigures {
        members,
        respondents,
        monthly,
    })
}
