//! Shared pieces of responses.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

use crate::domain::reference::{CodeEntry, Strategy};

/// A database timestamp (UTC) as it goes on the wire.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A timestamp as chrono's `Serialize` writes it (RFC 3339, `Z`, a fraction
/// only when there is one), handed to the serializer as one string: chrono
/// writes it a character at a time, each through serde_json's escaper, ~5 %
/// of a list page's CPU (docs/BENCHMARKS.md, session 27). For the hot views'
/// `#[serde(serialize_with = "rfc3339")]`; a test holds it to chrono's text.
pub fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut out = StampText::default();
    match out.rfc3339(t) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// The longest `rfc3339` text: `YYYY-MM-DDTHH:MM:SS.fffffffffZ`.
const STAMP_LEN: usize = 30;

/// A timestamp written into the stack (one allocation per timestamp was as
/// dear as chrono's character-at-a-time writing).
#[derive(Default)]
struct StampText {
    buf: [u8; STAMP_LEN],
    len: usize,
}

impl StampText {
    /// chrono's `SecondsFormat::AutoSi` with `Z`: a fraction of 3, 6 or 9
    /// digits, only when there is one. `None` (chrono writes it then) for a
    /// year outside 0–9999 or a leap second.
    fn rfc3339(&mut self, t: &DateTime<Utc>) -> Option<&str> {
        use chrono::{Datelike, Timelike};
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        self.number(year, 4);
        self.byte(b'-');
        self.number(t.month(), 2);
        self.byte(b'-');
        self.number(t.day(), 2);
        self.byte(b'T');
        self.number(t.hour(), 2);
        self.byte(b':');
        self.number(t.minute(), 2);
        self.byte(b':');
        self.number(t.second(), 2);
        match nanos {
            0 => {}
            n if n % 1_000_000 == 0 => self.fraction(n / 1_000_000, 3),
            n if n % 1_000 == 0 => self.fraction(n / 1_000, 6),
            n => self.fraction(n, 9),
        }
        self.byte(b'Z');
        std::str::from_utf8(&self.buf[..self.len]).ok()
    }

    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn fraction(&mut self, n: u32, digits: usize) {
        self.byte(b'.');
        self.number(n, digits);
    }

    /// `n` in exactly `digits` decimal digits (zero-padded).
    fn number(&mut self, mut n: u32, digits: usize) {
        for slot in self.buf[self.len..self.len + digits].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len += digits;
    }
}

/// [`rfc3339`] for an optional timestamp (`null` when absent).
pub fn opt_rfc3339<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// How to engage or manage, in the project's own words.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StrategyView {
    /// `S`, `V` or `B` for CPR stages; absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "V", nullable = false)]
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
    #[schema(nullable = false)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Both {
        #[serde(serialize_with = "rfc3339")]
        ours: DateTime<Utc>,
        chrono: DateTime<Utc>,
        #[serde(serialize_with = "opt_rfc3339")]
        ours_opt: Option<DateTime<Utc>>,
        chrono_opt: Option<DateTime<Utc>>,
    }

    #[test]
    fn timestamps_serialize_exactly_as_chrono_serializes_them() {
        let stamps = [
            "2026-07-16 07:05:22",
            "2026-07-16 07:05:22.5",
            "2026-07-16 07:05:22.123",
            "2026-07-16 07:05:22.123456",
            "2026-07-16 07:05:22.000000001",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.999999999",
        ];
        let mut times: Vec<NaiveDateTime> = stamps
            .iter()
            .filter_map(|text| NaiveDateTime::parse_from_str(text, "%F %T%.f").ok())
            .collect();
        assert_eq!(times.len(), stamps.len());
        // chrono's own writer: a year past 9999, a leap second.
        times.extend(
            chrono::NaiveDate::from_ymd_opt(10_000, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
        );
        times.extend(
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000)),
        );
        assert_eq!(times.len(), stamps.len() + 2);
        for naive in times {
            let t = utc(naive);
            let text = naive.to_string();
            for opt in [Some(t), None] {
                let v = serde_json::to_value(Both {
                    ours: t,
                    chrono: t,
                    ours_opt: opt,
                    chrono_opt: opt,
                })
                .unwrap_or_default();
                assert_eq!(v["ours"], v["chrono"], "{text}");
                assert_eq!(v["ours_opt"], v["chrono_opt"], "{text}");
                assert!(v["ours"].is_string(), "{text}: {v}");
            }
        }
    }
}
