//! Content negotiation and request headers: Accept/_format, Content-Type, Prefer, ETags.
use axum::http::HeaderMap;

use crate::error::{FhirError, Result};

pub const FHIR_JSON: &str = "application/fhir+json";

/// What the client accepts, once `_format` and `Accept` are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The JSON media type to answer with.
    pub json_type: &'static str,
    /// The raw Accept media types (lower case, parameters removed), for Binary reads.
    pub accept: Vec<String>,
    /// True when the client asked for FHIR JSON explicitly (Accept or `_format`).
    pub explicit_json: bool,
}

fn json_media(m: &str) -> Option<&'static str> {
    match m {
        "application/fhir+json" | "application/json+fhir" | "json" => Some(FHIR_JSON),
        "application/json" => Some("application/json"),
        _ => None,
    }
}

fn media_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|m| m.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Reads `_format` (which wins) and `Accept`. `binary_read` allows any media type.
pub fn negotiate(headers: &HeaderMap, format: Option<&str>, binary_read: bool) -> Result<Negotiated> {
    if let Some(f) = format {
        let f = f.trim().to_ascii_lowercase();
        return match json_media(&f) {
            Some(t) => Ok(Negotiated { json_type: t, accept: vec![t.to_string()], explicit_json: true }),
            None => Err(FhirError::NotAcceptable(format!("_format '{f}' is not supported: this server speaks JSON only (json, application/fhir+json)"))),
        };
    }
    let Some(accept) = headers.get(axum::http::header::ACCEPT) else {
        return Ok(Negotiated { json_type: FHIR_JSON, accept: Vec::new(), explicit_json: false });
    };
    let accept = media_list(accept.to_str().unwrap_or(""));
    if accept.is_empty() {
        return Ok(Negotiated { json_type: FHIR_JSON, accept, explicit_json: false });
    }
    if let Some(t) = accept.iter().find_map(|m| json_media(m)) {
        return Ok(Negotiated { json_type: t, accept, explicit_json: true });
    }
    if binary_read || accept.iter().any(|m| m == "*/*" || m == "application/*") {
        return Ok(Negotiated { json_type: FHIR_JSON, accept, explicit_json: false });
    }
    Err(FhirError::NotAcceptable(format!(
        "cannot answer with {}: this server speaks JSON only (application/fhir+json, application/json)",
        accept.join(", ")
    )))
}

/// The request body's media type (lower case, without parameters), if any.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("invalid").split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

pub fn is_json_media(media: &str) -> bool {
    json_media(media).is_some() && media != "json"
}

/// Checks that a body is sent as FHIR JSON (a missing Content-Type is taken as JSON).
pub fn require_json_body(headers: &HeaderMap) -> Result<()> {
    match content_type(headers) {
        None => Ok(()),
        Some(m) if is_json_media(&m) => Ok(()),
        Some(m) => Err(FhirError::UnsupportedMediaType(format!(
            "Content-Type '{m}' is not supported: send application/fhir+json or application/json"
        ))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    Minimal,
    Representation,
    OperationOutcome,
}

/// `Prefer: return=...` (default: representation).
pub fn prefer_return(headers: &HeaderMap) -> Return {
    for value in headers.get_all("prefer") {
        for part in value.to_str().unwrap_or("").split([',', ';']) {
            let part = part.trim().to_ascii_lowercase().replace(' ', "");
            match part.as_str() {
                "return=minimal" => return Return::Minimal,
                "return=operationoutcome" => return Return::OperationOutcome,
                "return=representation" => return Return::Representation,
                _ => {}
            }
        }
    }
    Return::Representation
}

/// Parses an ETag such as `W/"3"` or `"3"` into a version number.
pub fn parse_etag(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

/// `If-Match`: the version the client expects; 400 if the header is not a version ETag.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>> {
    match headers.get(axum::http::header::IF_MATCH) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().unwrap_or("");
            parse_etag(text)
                .map(Some)
                .ok_or_else(|| FhirError::BadRequest(format!("If-Match '{text}' is not a version ETag such as W/\"3\"")))
        }
    }
}

/// `If-None-Match` on reads: the versions the client already has (`*` matches any).
pub fn if_none_match(headers: &HeaderMap, current: u64) -> bool {
    headers.get_all(axum::http::header::IF_NONE_MATCH).iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .any(|tag| tag.trim() == "*" || parse_etag(tag) == Some(current))
    })
}

/// `If-None-Match: *` on a write: create only, never replace.
pub fn if_none_match_any(headers: &HeaderMap) -> bool {
    headers.get_all(axum::http::header::IF_NONE_MATCH).iter().any(|v| v.to_str().unwrap_or("").split(',').any(|t| t.trim() == "*"))
}

/// `If-Modified-Since`: true when the resource has not changed since the given HTTP date.
pub fn not_modified_since(headers: &HeaderMap, last_updated_micros: i64) -> bool {
    let Some(v) = headers.get(axum::http::header::IF_MODIFIED_SINCE) else { return false };
    let Ok(since) = httpdate::parse_http_date(v.to_str().unwrap_or("")) else { return false };
    let Ok(since) = since.duration_since(std::time::UNIX_EPOCH) else { return false };
    last_updated_micros.div_euclid(1_000_000) <= since.as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn etags() {
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("W/\"x\""), None);
    }

    #[test]
    fn accept_json_or_406() {
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_static("application/fhir+xml"));
        assert!(negotiate(&h, None, false).is_err());
        assert!(negotiate(&h, Some("json"), false).is_ok());
        h.insert("accept", HeaderValue::from_static("text/html, */*;q=0.8"));
        assert!(negotiate(&h, None, false).is_ok());
        h.insert("accept", HeaderValue::from_static("application/json"));
        assert_eq!(negotiate(&h, None, false).unwrap().json_type, "application/json");
    }
}
