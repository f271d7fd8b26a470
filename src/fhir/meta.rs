//! Server-managed fields: `id`, `meta.versionId`, `meta.lastUpdated`, and instant text.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Formats microseconds since the epoch as a FHIR instant with microsecond precision.
pub fn instant(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Formats microseconds since the epoch as an HTTP date (for `Last-Modified`).
pub fn http_date(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000).max(0) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// Sets `id`, `meta.versionId` and `meta.lastUpdated`, keeping every other field as it was.
pub fn stamp(resource: &mut Value, id: &str, version: u64, last_updated: i64) {
    let Some(obj) = resource.as_object_mut() else { return };
    obj.insert("id".into(), Value::String(id.to_string()));
    let meta = obj.entry("meta").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(m) = meta.as_object_mut() {
        m.insert("versionId".into(), Value::String(version.to_string()));
        m.insert("lastUpdated".into(), Value::String(instant(last_updated)));
    }
}

/// Parses a FHIR date, dateTime or instant into the half-open range of microseconds it
/// covers at its precision (e.g. `2024` covers the whole year). Times without a zone
/// are taken as UTC.
pub fn parse_range(text: &str) -> Option<(i64, i64)> {
    use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
    let t = text.trim();
    let date_range = |y: i32, m: Option<u32>, d: Option<u32>| -> Option<(i64, i64)> {
        let start = NaiveDate::from_ymd_opt(y, m.unwrap_or(1), d.unwrap_or(1))?;
        let end = match (m, d) {
            (None, _) => NaiveDate::from_ymd_opt(y + 1, 1, 1)?,
            (Some(m), None) => {
                if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1)? } else { NaiveDate::from_ymd_opt(y, m + 1, 1)? }
            }
            (Some(_), Some(_)) => start.succ_opt()?,
        };
        let s = Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0)?).timestamp_micros();
        let e = Utc.from_utc_datetime(&end.and_hms_opt(0, 0, 0)?).timestamp_micros();
        Some((s, e))
    };
    if !t.contains('T') {
        let parts: Vec<&str> = t.split('-').collect();
        let num = |s: &str, len: usize| if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u32>().ok() } else { None };
        return match parts.as_slice() {
            [y] => date_range(num(y, 4)? as i32, None, None),
            [y, m] => date_range(num(y, 4)? as i32, Some(num(m, 2)?), None),
            [y, m, d] => date_range(num(y, 4)? as i32, Some(num(m, 2)?), Some(num(d, 2)?)),
            _ => None,
        };
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        let micros = dt.timestamp_micros();
        let precision = fraction_precision_micros(t);
        return Some((micros, micros + precision));
    }
    // dateTime without seconds or without zone.
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(ndt) = NaiveDateTime::parse_from_str(t, fmt) {
            let micros = Utc.from_utc_datetime(&ndt).timestamp_micros();
            let step = if fmt.ends_with("%M") { 60_000_000 } else { fraction_precision_micros(t) };
            let _ = ndt.year();
            return Some((micros, micros + step));
        }
    }
    let zoned = match t.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => t.to_string(),
    };
    for fmt in ["%Y-%m-%dT%H:%M%:z"] {
        if let Ok(dt) = DateTime::parse_from_str(&zoned, fmt) {
            let micros = dt.timestamp_micros();
            return Some((micros, micros + 60_000_000));
        }
    }
    None
}

/// The width of the last digit of a time's seconds (1 s, 100 ms, ... 1 µs).
fn fraction_precision_micros(t: &str) -> i64 {
    let Some(dot) = t.find('.') else { return 1_000_000 };
    let digits = t[dot + 1..].bytes().take_while(|b| b.is_ascii_digit()).count().min(6);
    10i64.pow(6 - digits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_precision() {
        let (s, e) = parse_range("2024").unwrap();
        assert_eq!(instant(s), "2024-01-01T00:00:00.000000Z");
        assert_eq!(instant(e), "2025-01-01T00:00:00.000000Z");
        let (_, e) = parse_range("2024-02").unwrap();
        assert_eq!(instant(e), "2024-03-01T00:00:00.000000Z");
        let (s, e) = parse_range("2024-02-03T04:05:06.5Z").unwrap();
        assert_eq!(e - s, 100_000);
        let (s, _) = parse_range("2024-02-03T04:05:06+01:00").unwrap();
        assert_eq!(instant(s), "2024-02-03T03:05:06.000000Z");
        let (s, e) = parse_range("2024-05-01T10:00Z").unwrap();
        assert_eq!((instant(s).as_str(), e - s), ("2024-05-01T10:00:00.000000Z", 60_000_000));
        assert!(parse_range("2024-13").is_none());
        assert!(parse_range("yesterday").is_none());
    }

    #[test]
    fn stamp_keeps_other_meta() {
        let mut v = serde_json::json!({"resourceType": "Patient", "meta": {"tag": [{"code": "x"}]}});
        stamp(&mut v, "a", 3, 0);
        assert_eq!(v["meta"]["versionId"], "3");
        assert_eq!(v["meta"]["tag"][0]["code"], "x");
        assert_eq!(v["meta"]["lastUpdated"], "1970-01-01T00:00:00.000000Z");
    }
}
