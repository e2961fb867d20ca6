//! Shared pieces of responses.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::reference::{CodeEntry, Strategy};

/// A database timestamp (UTC) as it goes on the wire.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// How to engage or manage, in the project's own words.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StrategyView {
    /// `S`, `V` or `B` for CPR stages; absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "V")]
    pub code: Option<String>,
    #[schema(example = "Steady, fact-based persuasion")]
    pub name: String,
    pub summary: String,
    pub actions: Vec<String>,
}

impl From<&Strategy> for StrategyView {
    fn from(s: &Strategy) -> Self {
        StrategyView {
            code: s.code.map(String::from),
            name: s.name.to_string(),
            summary: s.summary.to_string(),
            actions: s.actions.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// One code of a reference list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CodeEntryView {
    #[schema(example = "rational")]
    pub code: String,
    #[schema(example = "Rational and composed")]
    pub label_en: String,
    #[schema(example = "理智沉稳型")]
    pub label_zh: String,
    pub description: String,
    /// The strategy for this code, where the domain has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategyView>,
}

impl From<&CodeEntry> for CodeEntryView {
    fn from(e: &CodeEntry) -> Self {
        CodeEntryView {
            code: e.code.to_string(),
            label_en: e.label_en.to_string(),
            label_zh: e.label_zh.to_string(),
            description: e.description.to_string(),
            strategy: e.strategy.as_ref().map(StrategyView::from),
        }
    }
}
