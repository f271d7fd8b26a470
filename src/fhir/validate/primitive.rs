//! Primitive values: JSON representation, the type's regex, numeric ranges and calendar
//! validity of dates.
use crate::fhir::definitions::{JsonKind, TypeDef};
use chrono::NaiveDate;
use serde_json::Value;

type Check = Result<(), (&'static str, String)>;

/// Check one primitive JSON value (not null, not an array) against its type.
pub fn check(ptd: &TypeDef, v: &Value) -> Check {
    let name = ptd.name.as_str();
    let kind = ptd.json.unwrap_or(JsonKind::String);
    match (kind, v) {
        (_, Value::Null) => Err(("structure", format!("null is not a valid {name} value"))),
        (JsonKind::Bool, Value::Bool(_)) => Ok(()),
        (JsonKind::Integer, Value::Number(n)) => {
            let text = n.to_string();
            matches_regex(ptd, &text)?;
            let parsed: Option<i64> = text.trim_start_matches('+').parse().ok();
            let (lo, hi) = match name {
                "positiveInt" => (1, i64::from(i32::MAX)),
                "unsignedInt" => (0, i64::from(i32::MAX)),
                _ => (i64::from(i32::MIN), i64::from(i32::MAX)),
            };
            match parsed {
                Some(i) if i >= lo && i <= hi => Ok(()),
                _ => Err(("value", format!("'{text}' is not a valid {name} (range {lo}..{hi})"))),
            }
        }
        (JsonKind::Decimal, Value::Number(n)) => matches_regex(ptd, &n.to_string()),
        (JsonKind::String, Value::String(s)) => {
            if s.is_empty() {
                return Err(("value", format!("Empty string is not a valid {name}")));
            }
            if name == "xhtml" {
                return if s.trim_start().starts_with("<div") {
                    Ok(())
                } else {
                    Err(("value", "Narrative div must be XHTML starting with <div".to_string()))
                };
            }
            matches_regex(ptd, s)?;
            if matches!(name, "date" | "dateTime" | "instant") {
                check_calendar(s).map_err(|m| ("value", format!("'{s}' is not a valid {name}: {m}")))?;
            }
            Ok(())
        }
        _ => Err(("structure", format!("Expected a JSON {} for {name}, found {}", json_name(kind), found(v)))),
    }
}

fn matches_regex(ptd: &TypeDef, text: &str) -> Check {
    match &ptd.regex {
        Some(re) if !re.is_match(text) => {
            let shown: String = text.chars().take(80).collect();
            Err(("value", format!("'{shown}' is not a valid {}", ptd.name)))
        }
        _ => Ok(()),
    }
}

/// The date part (YYYY-MM-DD) of a date/dateTime/instant must exist in the calendar.
fn check_calendar(s: &str) -> Result<(), &'static str> {
    let (Some(y), Some(m), Some(d)) = (s.get(0..4), s.get(5..7), s.get(8..10)) else {
        return Ok(()); // partial date (year or year-month): the regex is enough
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err("unreadable date");
    };
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(_) => Ok(()),
        None => Err("no such day in the calendar"),
    }
}

fn json_name(k: JsonKind) -> &'static str {
    match k {
        JsonKind::Bool => "boolean",
        JsonKind::Integer => "integer number",
        JsonKind::Decimal => "number",
        JsonKind::String => "string",
    }
}

fn found(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
