//! Satisfaction surveys (客户满意度, DOMAIN.md §8): checking a response's
//! answers against the questions, the satisfaction one response gives the
//! customer, and the scores of the results (distribution, mean, CSAT, NPS).
//!
//! Scores are computed here from grouped counts the database returns, so
//! the formulas live in one place and are unit-tested at their boundaries.

use std::collections::HashSet;

use serde_json::Value;

use super::codes::{QuestionKind, SatisfactionDimension};
use crate::error::FieldError;

/// Longest free-text answer.
pub const MAX_TEXT_ANSWER: usize = 4000;

/// A question as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub id: i64,
    pub kind: QuestionKind,
    /// `rating_5` only.
    pub dimension: Option<SatisfactionDimension>,
    /// `single_choice` only.
    pub options: Vec<String>,
    pub required: bool,
}

/// An answer as sent (either part may be missing).
#[derive(Debug, Clone, PartialEq)]
pub struct SentAnswer {
    pub question_id: Option<i64>,
    pub value: Option<Value>,
}

/// A checked answer, ready to store: numbers (rating, nps) in `number`,
/// choices and texts in `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub question_id: i64,
    pub kind: QuestionKind,
    pub dimension: Option<SatisfactionDimension>,
    pub number: Option<i64>,
    pub text: Option<String>,
}

fn integer_in(
    value: &Value,
    low: i64,
    high: i64,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    // JSON has one number type: `7.0` is the integer 7, as in every other
    // integer field (a review found it refused here); 1e20 is out of range.
    let whole = value.as_i64().or_else(|| {
        let f = value.as_f64().filter(|f| f.fract() == 0.0)?;
        Some(if (low as f64..=high as f64).contains(&f) {
            #[allow(clippy::cast_possible_truncation)]
            let n = f as i64;
            n
        } else {
            high.saturating_add(1)
        })
    });
    match whole {
        Some(n) if (low..=high).contains(&n) => Some(n),
        Some(_) => {
            errors.push(FieldError::new(
                field,
                "range",
                format!("must be an integer from {low} to {high}"),
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                field,
                "invalid_type",
                format!("must be an integer from {low} to {high}"),
            ));
            None
        }
    }
}

/// Checks one value against its question; `field` names it in errors.
fn check_value(
    q: &Question,
    value: &Value,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Answer> {
    let (number, text) = match q.kind {
        QuestionKind::Rating5 => (Some(integer_in(value, 1, 5, field, errors)?), None),
        QuestionKind::Nps010 => (Some(integer_in(value, 0, 10, field, errors)?), None),
        QuestionKind::SingleChoice => match value.as_str() {
            Some(s) if q.options.iter().any(|o| o == s) => (None, Some(s.to_string())),
            // A number or a boolean is the client's serialization bug, not
            // a choice the respondent got wrong.
            None => {
                errors.push(FieldError::new(
                    field,
                    "invalid_type",
                    "must be a string, one of the options",
                ));
                return None;
            }
            Some(_) => {
                errors.push(FieldError::new(
                    field,
                    "invalid_choice",
                    format!("must be one of: {}", q.options.join(", ")),
                ));
                return None;
            }
        },
        // The length as sent, as every other text field judges it (padding
        // let 4,001 characters through; a review); the trimmed text is kept.
        QuestionKind::Text => match value.as_str() {
            None => {
                errors.push(FieldError::new(field, "invalid_type", "must be a string"));
                return None;
            }
            // Too long before blank, as the other text fields judge it.
            Some(s) if s.chars().count() > MAX_TEXT_ANSWER => {
                errors.push(FieldError::new(
                    field,
                    "length",
                    format!("must be at most {MAX_TEXT_ANSWER} characters"),
                ));
                return None;
            }
            Some(s) if s.trim().is_empty() => {
                errors.push(FieldError::new(field, "blank", "must not be blank"));
                return None;
            }
            Some(s) => (None, Some(s.trim().to_string())),
        },
    };
    Some(Answer {
        question_id: q.id,
        kind: q.kind,
        dimension: q.dimension,
        number,
        text,
    })
}

/// Checks the answers of one response against the survey's questions and
/// reports every problem at once: each bad answer by its path
/// (`answers[2].value`, `answers[0].question_id`), and each required
/// question left unanswered under `answers`.
pub fn check_answers(
    questions: &[Question],
    sent: &[SentAnswer],
) -> Result<Vec<Answer>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut answers = Vec::new();
    let mut seen = HashSet::new();
    if sent.is_empty() {
        errors.push(FieldError::new(
            "answers",
            "length",
            "must hold at least one answer",
        ));
    }
    for (i, a) in sent.iter().enumerate() {
        let Some(id) = a.question_id else {
            errors.push(FieldError::new(
                format!("answers[{i}].question_id"),
                "required",
                "is required",
            ));
            continue;
        };
        let Some(q) = questions.iter().find(|q| q.id == id) else {
            errors.push(FieldError::new(
                format!("answers[{i}].question_id"),
                "unknown_question",
                format!("question {id} is not in this survey"),
            ));
            continue;
        };
        if !seen.insert(id) {
            errors.push(FieldError::new(
                format!("answers[{i}].question_id"),
                "duplicate",
                format!("question {id} is answered twice"),
            ));
            continue;
        }
        match &a.value {
            None | Some(Value::Null) => errors.push(FieldError::new(
                format!("answers[{i}].value"),
                "required",
                "is required (leave out questions you do not answer)",
            )),
            Some(v) => {
                if let Some(answer) = check_value(q, v, &format!("answers[{i}].value"), &mut errors)
                {
                    answers.push(answer);
                }
            }
        }
    }
    for q in questions.iter().filter(|q| q.required) {
        if !seen.contains(&q.id) {
            errors.push(FieldError::new(
                "answers",
                "missing_answer",
                format!("question {} is required", q.id),
            ));
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

/// What one response says about the customer's satisfaction (1–5): the
/// mean of its `rating_5` answers per dimension, and overall the mean of
/// those dimension means, each weighing the same (the card's overall
/// follows that rule over its stored values: `overall_of`). `nps_0_10` answers do not count: they measure willingness
/// to recommend on another scale and are reported as NPS only. None where
/// the response has no rating answer (the card keeps the earlier value).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResponseSatisfaction {
    pub overall: Option<f64>,
    pub product: Option<f64>,
    pub service: Option<f64>,
    pub social: Option<f64>,
}

/// The sum and count of some ratings; None without any.
fn sum_of<'a>(values: impl Iterator<Item = &'a i64>) -> Option<(i64, i64)> {
    let (sum, n) = values.fold((0_i64, 0_i64), |(s, n), v| (s + v, n + 1));
    (n > 0).then_some((sum, n))
}

/// The mean of dimension means given as (sum, count), from the exact
/// fraction: Σ(sᵢ/nᵢ)/k over a common denominator, rounded once. Rounding
/// each mean first and then their mean was 0.01 off: product 5,5,4 and
/// service 5,4 are 4.67 and 4.50, whose mean 4.585 rounded to 4.59 where
/// (14/3 + 9/2)/2 = 55/12 = 4.5833 is 4.58. At most 100 answers: the
/// products stay far inside an i64.
fn exact_mean_of_means(parts: &[(i64, i64)]) -> Option<f64> {
    if parts.is_empty() {
        return None;
    }
    let den: i64 = parts.iter().map(|(_, n)| n).product();
    let num: i64 = parts.iter().map(|(s, n)| s * (den / n)).sum();
    Some(ratio(num, den * parts.len() as i64, 2))
}

pub fn response_satisfaction(answers: &[Answer]) -> ResponseSatisfaction {
    let ratings: Vec<(SatisfactionDimension, i64)> = answers
        .iter()
        .filter(|a| a.kind == QuestionKind::Rating5)
        .filter_map(|a| Some((a.dimension?, a.number?)))
        .collect();
    let of = |d: SatisfactionDimension| {
        sum_of(
            ratings
                .iter()
                .filter(move |(dim, _)| *dim == d)
                .map(|(_, v)| v),
        )
    };
    let sums = [
        of(SatisfactionDimension::Product),
        of(SatisfactionDimension::Service),
        of(SatisfactionDimension::Social),
    ];
    let mean = |i: usize| sums[i].map(|(sum, n)| ratio(sum, n, 2));
    let rated: Vec<(i64, i64)> = sums.iter().flatten().copied().collect();
    ResponseSatisfaction {
        overall: exact_mean_of_means(&rated),
        product: mean(0),
        service: mean(1),
        social: mean(2),
    }
}

/// The overall satisfaction of dimension values (two decimals each, as
/// stored): their mean over the dimensions that have one, two decimals,
/// halves up; None without any. Each dimension weighs the same however many
/// questions rated it, and overall never contradicts the dimensions shown
/// beside it: a card at product 5 and service 5 rated 2 on social is at
/// 4.00, not at the 2.00 of the one answer that moved it.
pub fn overall_of(dimensions: [Option<f64>; 3]) -> Option<f64> {
    // In hundredths, so the mean rounds from the exact fraction (`ratio`);
    // the values are 1–5 with two decimals, exact once rounded.
    let hundredths: Vec<i64> = dimensions
        .iter()
        .flatten()
        .map(|v| (v * 100.0).round() as i64)
        .collect();
    let n = hundredths.len() as i64;
    (n > 0).then(|| ratio(hundredths.iter().sum(), n * 100, 2))
}

/// A card's satisfaction after a response: each dimension the response
/// rates replaces the card's, the others keep theirs, and overall is
/// recomputed from the result. None when the response rates nothing (the
/// card stays as it is).
pub fn card_after(
    card: &ResponseSatisfaction,
    response: &ResponseSatisfaction,
) -> Option<ResponseSatisfaction> {
    response.overall?;
    let product = response.product.or(card.product);
    let service = response.service.or(card.service);
    let social = response.social.or(card.social);
    Some(ResponseSatisfaction {
        overall: overall_of([product, service, social]),
        product,
        service,
        social,
    })
}

/// `num / den` rounded to `places` decimals, halves away from zero (4.475
/// is 4.48, as `level` rounds 4.5 up), on integers: `(num / den * 10^p)
/// .round()` rounded some exact halves down (179/40 = 4.475 is 447.4999…
/// hundredths as a float, so 4.47). 0 for `den` 0, which callers rule out.
pub fn ratio(num: i64, den: i64, places: u32) -> f64 {
    if den == 0 {
        return 0.0;
    }
    let scale = 10_i128.pow(places);
    let (num, den) = (i128::from(num) * scale, i128::from(den));
    let (quotient, rest) = (num / den, num % den);
    // The rest has the sign of `num`; it is a half or more when twice it
    // reaches the divisor.
    let away = if 2 * rest.abs() >= den.abs() {
        if (num < 0) != (den < 0) {
            -1
        } else {
            1
        }
    } else {
        0
    };
    // At most |i64| × 10^places: exact in f64 for the places used (≤ 4)
    // up to 2^53; the division gives the float nearest the decimal.
    (quotient + away) as f64 / scale as f64
}

/// Answers per level 1–5 (index 0 is level 1).
pub type Distribution = [i64; 5];

/// Mean level (1–5, two decimals); None without answers.
pub fn mean(d: &Distribution) -> Option<f64> {
    let total: i64 = d.iter().sum();
    let weighted: i64 = d.iter().zip(1_i64..).map(|(n, level)| n * level).sum();
    (total > 0).then(|| ratio(weighted, total, 2))
}

/// CSAT: percent of answers at level 4 or 5 (0–100, one decimal); None without answers.
pub fn csat(d: &Distribution) -> Option<f64> {
    let total: i64 = d.iter().sum();
    (total > 0).then(|| ratio((d[3] + d[4]) * 100, total, 1))
}

/// NPS from answers per score 0–10: percent promoters (9–10) minus percent
/// detractors (0–6), −100 to 100, one decimal; None without answers.
pub fn nps(scores: &[i64; 11]) -> Option<f64> {
    let total: i64 = scores.iter().sum();
    let promoters = scores[9] + scores[10];
    let detractors: i64 = scores[..7].iter().sum();
    (total > 0).then(|| ratio((promoters - detractors) * 100, total, 1))
}

/// The level (1–5) a mean satisfaction rounds to (halves round up: 4.5 is 5).
pub fn level(mean: f64) -> i64 {
    if mean < 1.5 {
        1
    } else if mean < 2.5 {
        2
    } else if mean < 3.5 {
        3
    } else if mean < 4.5 {
        4
    } else {
        5
    }
}

/// Responding customers ÷ target customers (0–1, four decimals); None
/// without a target or when it has no members.
pub fn response_rate(respondents: i64, targets: Option<i64>) -> Option<f64> {
    match targets {
        Some(t) if t > 0 => Some(ratio(respondents, t, 4)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn questions() -> Vec<Question> {
        vec![
            Question {
                id: 1,
                kind: QuestionKind::Rating5,
                dimension: Some(SatisfactionDimension::Product),
                options: vec![],
                required: true,
            },
            Question {
                id: 2,
                kind: QuestionKind::Nps010,
                dimension: None,
                options: vec![],
                required: false,
            },
            Question {
                id: 3,
                kind: QuestionKind::SingleChoice,
                dimension: None,
                options: vec!["price".into(), "quality".into()],
                required: false,
            },
            Question {
                id: 4,
                kind: QuestionKind::Text,
                dimension: None,
                options: vec![],
                required: false,
            },
            Question {
                id: 5,
                kind: QuestionKind::Rating5,
                dimension: Some(SatisfactionDimension::Service),
                options: vec![],
                required: false,
            },
        ]
    }

    fn sent(id: i64, v: Value) -> SentAnswer {
        SentAnswer {
            question_id: Some(id),
            value: Some(v),
        }
    }

    fn fields(r: Result<Vec<Answer>, Vec<FieldError>>) -> Vec<(String, String)> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn valid_answers_pass_at_every_boundary() {
        for (id, v) in [
            (1, json!(1)),
            (1, json!(5)),
            (2, json!(0)),
            (2, json!(10)),
            // An integral float is the integer (JSON has one number type).
            (1, json!(5.0)),
            (2, json!(7.0)),
            (3, json!("quality")),
            (4, json!("  fine  ")),
        ] {
            let mut answers = vec![sent(id, v)];
            if id != 1 {
                answers.push(sent(1, json!(3)));
            }
            assert!(check_answers(&questions(), &answers).is_ok(), "{id}");
        }
        let seven = check_answers(&questions(), &[sent(1, json!(3)), sent(2, json!(7.0))]);
        assert_eq!(
            seven.ok().and_then(|a| a.get(1).and_then(|a| a.number)),
            Some(7)
        );
        // Whole but out of range is a range error, however large.
        for big in [json!(11.0), json!(1e20), json!(-1e20)] {
            let got = fields(check_answers(
                &questions(),
                &[sent(1, json!(3)), sent(2, big.clone())],
            ));
            assert_eq!(
                got,
                vec![("answers[1].value".into(), "range".into())],
                "{big}"
            );
        }
        let ok = check_answers(&questions(), &[sent(1, json!(4)), sent(4, json!(" ok "))]);
        assert_eq!(
            ok.ok().and_then(|a| a.get(1).and_then(|a| a.text.clone())),
            Some("ok".to_string())
        );
    }

    #[test]
    fn each_bad_answer_is_named_by_its_path() {
        let got = fields(check_answers(
            &questions(),
            &[
                sent(1, json!(0)),
                sent(2, json!(11)),
                sent(3, json!("colour")),
                sent(4, json!("   ")),
                sent(5, json!(4.5)),
                sent(99, json!(1)),
                SentAnswer {
                    question_id: None,
                    value: Some(json!(1)),
                },
                sent(2, json!(null)),
            ],
        ));
        assert_eq!(
            got,
            vec![
                ("answers[0].value".into(), "range".into()),
                ("answers[1].value".into(), "range".into()),
                ("answers[2].value".into(), "invalid_choice".into()),
                ("answers[3].value".into(), "blank".into()),
                ("answers[4].value".into(), "invalid_type".into()),
                ("answers[5].question_id".into(), "unknown_question".into()),
                ("answers[6].question_id".into(), "required".into()),
                ("answers[7].question_id".into(), "duplicate".into()),
            ]
        );
    }

    #[test]
    fn required_questions_and_empty_responses() {
        let got = fields(check_answers(&questions(), &[sent(2, json!(9))]));
        assert_eq!(got, vec![("answers".into(), "missing_answer".into())]);
        let got = fields(check_answers(&questions(), &[]));
        assert_eq!(
            got,
            vec![
                ("answers".into(), "length".into()),
                ("answers".into(), "missing_answer".into())
            ]
        );
        let got = fields(check_answers(&questions(), &[sent(1, json!(null))]));
        assert_eq!(got, vec![("answers[0].value".into(), "required".into())]);
        // As sent: padding counts.
        let padded = format!("{} ", "x".repeat(MAX_TEXT_ANSWER));
        let got = fields(check_answers(&questions(), &[sent(4, json!(padded))]));
        assert!(
            got.contains(&("answers[0].value".into(), "length".into())),
            "{got:?}"
        );
        let long = "x".repeat(MAX_TEXT_ANSWER + 1);
        let got = fields(check_answers(
            &questions(),
            &[sent(1, json!(2)), sent(4, json!(long)), sent(3, json!(1))],
        ));
        assert_eq!(
            got,
            vec![
                ("answers[1].value".into(), "length".into()),
                ("answers[2].value".into(), "invalid_type".into())
            ]
        );
    }

    #[test]
    fn satisfaction_of_a_response() {
        let answers = check_answers(
            &questions(),
            &[sent(1, json!(5)), sent(5, json!(2)), sent(2, json!(10))],
        )
        .unwrap_or_default();
        let s = response_satisfaction(&answers);
        // nps 10 does not count; (5 + 2) / 2 = 3.5
        assert_eq!(s.overall, Some(3.5));
        assert_eq!(s.product, Some(5.0));
        assert_eq!(s.service, Some(2.0));
        assert_eq!(s.social, None);
        let none = response_satisfaction(&[]);
        assert_eq!(none, ResponseSatisfaction::default());
    }

    fn sat(
        product: Option<f64>,
        service: Option<f64>,
        social: Option<f64>,
    ) -> ResponseSatisfaction {
        ResponseSatisfaction {
            overall: overall_of([product, service, social]),
            product,
            service,
            social,
        }
    }

    /// Found by a review: a one-question social survey answered 2 set a
    /// card at product 5 and service 5 to overall 2.00 (the response's
    /// own mean), flipping loyalty and raising low satisfaction.
    #[test]
    fn overall_is_the_mean_of_the_cards_dimensions() {
        let card = sat(Some(5.0), Some(5.0), None);
        assert_eq!(card.overall, Some(5.0));
        let response = sat(None, None, Some(2.0));
        assert_eq!(response.overall, Some(2.0));
        assert_eq!(
            card_after(&card, &response),
            Some(sat(Some(5.0), Some(5.0), Some(2.0)))
        );
        assert_eq!(
            card_after(&card, &response).and_then(|c| c.overall),
            Some(4.0)
        );
        // A rated dimension replaces the card's; nothing rated leaves the card.
        let after = card_after(&card, &sat(Some(1.0), None, None));
        assert_eq!(after, Some(sat(Some(1.0), Some(5.0), None)));
        assert_eq!(after.and_then(|c| c.overall), Some(3.0));
        assert_eq!(card_after(&card, &ResponseSatisfaction::default()), None);
        // An empty card takes the response as it is.
        let full = sat(Some(3.5), Some(4.0), Some(1.0));
        assert_eq!(
            card_after(&ResponseSatisfaction::default(), &full),
            Some(full)
        );
    }

    #[test]
    fn overall_of_rounds_the_exact_mean() {
        assert_eq!(overall_of([None, None, None]), None);
        assert_eq!(overall_of([Some(4.48), None, None]), Some(4.48));
        // 3.5 + 4 + 1 = 8.5 / 3 = 2.8333…
        assert_eq!(overall_of([Some(3.5), Some(4.0), Some(1.0)]), Some(2.83));
        // 4.47 + 4.48 = 8.95 / 2 = 4.475: a half, up (as a float mean, 4.47).
        assert_eq!(overall_of([Some(4.47), None, Some(4.48)]), Some(4.48));
        assert_eq!(overall_of([Some(1.0), Some(2.0), Some(2.0)]), Some(1.67));
    }

    /// Found by a review: product 5,5,4 (14/3 = 4.67) and service 5,4
    /// (4.50) gave overall 4.59, the rounded mean of the rounded means
    /// (4.585); the exact mean of the means is 55/12 = 4.5833…: 4.58. The
    /// card keeps its rule, the mean of its stored values beside it.
    #[test]
    fn a_responses_overall_rounds_once_from_the_exact_means() {
        let answers: Vec<Answer> = [
            (SatisfactionDimension::Product, 5),
            (SatisfactionDimension::Product, 5),
            (SatisfactionDimension::Product, 4),
            (SatisfactionDimension::Service, 5),
            (SatisfactionDimension::Service, 4),
        ]
        .into_iter()
        .zip(0..)
        .map(|((d, v), i)| Answer {
            question_id: i,
            kind: QuestionKind::Rating5,
            dimension: Some(d),
            number: Some(v),
            text: None,
        })
        .collect();
        let s = response_satisfaction(&answers);
        assert_eq!(
            (s.overall, s.product, s.service),
            (Some(4.58), Some(4.67), Some(4.5))
        );
        let card = card_after(&ResponseSatisfaction::default(), &s);
        assert_eq!(card.and_then(|c| c.overall), Some(4.59));
        // Three dimensions: (14/3 + 9/2 + 1) / 3 = 61/18 = 3.3888…
        let mut three = answers.clone();
        three.push(Answer {
            question_id: 9,
            kind: QuestionKind::Rating5,
            dimension: Some(SatisfactionDimension::Social),
            number: Some(1),
            text: None,
        });
        assert_eq!(response_satisfaction(&three).overall, Some(3.39));
    }

    /// The response's overall weighs its dimensions alike: four product
    /// answers of 5 and one service answer of 1 are 3.00, not 4.20.
    #[test]
    fn a_responses_overall_weighs_dimensions_alike() {
        let answers: Vec<Answer> = [(SatisfactionDimension::Product, 5); 4]
            .into_iter()
            .chain([(SatisfactionDimension::Service, 1)])
            .zip(0..)
            .map(|((d, v), i)| Answer {
                question_id: i,
                kind: QuestionKind::Rating5,
                dimension: Some(d),
                number: Some(v),
                text: None,
            })
            .collect();
        let s = response_satisfaction(&answers);
        assert_eq!(
            (s.overall, s.product, s.service),
            (Some(3.0), Some(5.0), Some(1.0))
        );
    }

    /// Found by a review: rounded as floats, 179/40 = 4.475 (447.4999…
    /// hundredths) came out 4.47.
    #[test]
    fn exact_halves_round_up() {
        assert_eq!(ratio(179, 40, 2), 4.48);
        assert_eq!(ratio(23, 40, 2), 0.58);
        assert_eq!(ratio(41, 40, 2), 1.03);
        assert_eq!(ratio(3, 20_000, 4), 0.0002);
        assert_eq!(ratio(-100, 400, 1), -0.3);
        assert_eq!(ratio(100, -400, 1), -0.3);
        // Below and above a half, and whole values.
        assert_eq!(ratio(1, 3, 2), 0.33);
        assert_eq!(ratio(2, 3, 2), 0.67);
        assert_eq!(ratio(8_949, 2_000, 2), 4.47);
        assert_eq!(ratio(8_951, 2_000, 2), 4.48);
        assert_eq!(ratio(0, 7, 2), 0.0);
        assert_eq!(ratio(5, 1, 2), 5.0);
        assert_eq!(ratio(i64::MAX, 1, 4), i64::MAX as f64);
        // 21 answers of 4 and 19 of 5: 179 / 40.
        assert_eq!(mean(&[0, 0, 0, 21, 19]), Some(4.48));
        assert_eq!(response_rate(3, Some(20_000)), Some(0.0002));
        // A card's satisfaction: one response with those 40 ratings.
        let ratings: Vec<Answer> = (0..40)
            .map(|i| Answer {
                question_id: i,
                kind: QuestionKind::Rating5,
                dimension: Some(SatisfactionDimension::Product),
                number: Some(if i < 21 { 4 } else { 5 }),
                text: None,
            })
            .collect();
        let s = response_satisfaction(&ratings);
        assert_eq!((s.overall, s.product), (Some(4.48), Some(4.48)));
    }

    #[test]
    fn csat_counts_levels_four_and_five() {
        assert_eq!(csat(&[0, 0, 0, 0, 0]), None);
        assert_eq!(csat(&[1, 1, 1, 0, 0]), Some(0.0));
        assert_eq!(csat(&[0, 0, 0, 1, 1]), Some(100.0));
        assert_eq!(csat(&[1, 0, 1, 1, 0]), Some(33.3));
        assert_eq!(csat(&[0, 0, 1, 1, 1]), Some(66.7));
    }

    #[test]
    fn nps_is_promoters_minus_detractors() {
        let mut s = [0_i64; 11];
        assert_eq!(nps(&s), None);
        s[6] = 1; // detractor boundary
        s[7] = 1; // passive
        s[8] = 1; // passive
        s[9] = 1; // promoter boundary
        assert_eq!(nps(&s), Some(0.0));
        s[10] = 2;
        assert_eq!(nps(&s), Some(33.3));
        assert_eq!(nps(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Some(-100.0));
        assert_eq!(nps(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]), Some(100.0));
    }

    #[test]
    fn mean_and_level() {
        assert_eq!(mean(&[0; 5]), None);
        assert_eq!(mean(&[1, 0, 0, 0, 1]), Some(3.0));
        assert_eq!(mean(&[0, 0, 1, 1, 1]), Some(4.0));
        assert_eq!(mean(&[1, 1, 1, 0, 0]), Some(2.0));
        assert_eq!(mean(&[0, 0, 0, 2, 1]), Some(4.33));
        assert_eq!(level(1.0), 1);
        assert_eq!(level(1.49), 1);
        assert_eq!(level(1.5), 2);
        assert_eq!(level(2.49), 2);
        assert_eq!(level(2.5), 3);
        assert_eq!(level(3.49), 3);
        assert_eq!(level(3.5), 4);
        assert_eq!(level(4.49), 4);
        assert_eq!(level(4.5), 5);
        assert_eq!(level(5.0), 5);
    }

    #[test]
    fn response_rate_needs_targets() {
        assert_eq!(response_rate(3, None), None);
        assert_eq!(response_rate(3, Some(0)), None);
        assert_eq!(response_rate(1, Some(3)), Some(0.3333));
        assert_eq!(response_rate(4, Some(4)), Some(1.0));
    }
}
