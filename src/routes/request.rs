//! One parsed FHIR request: path segments, query, headers, body, output settings.
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request};
use bytes::Bytes;
use serde_json::Value;

use super::negotiate::{self, Negotiated};
use super::response::Output;
use super::AppState;
use crate::error::{FhirError, Result};

pub struct FhirRequest {
    pub method: Method,
    /// The request path as sent, for messages.
    pub path: String,
    /// Percent-decoded path segments after the FHIR base.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    body: Option<Body>,
    max_body: usize,
    pub out: Output,
}

impl FhirRequest {
    pub fn parse(app: &AppState, req: Request<Body>) -> std::result::Result<FhirRequest, (FhirError, Output)> {
        let (parts, body) = req.into_parts();
        let base_url = match &app.config.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string);
                let host = host.unwrap_or_else(|| app.config.listen.to_string());
                format!("http://{host}{}", app.base_path)
            }
        };
        let query: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let pretty = query.iter().any(|(k, v)| k == "_pretty" && v == "true");
        let out = Output::new(base_url, None, pretty);
        let path = parts.uri.path().to_string();
        let rest = path.strip_prefix(app.base_path.as_str()).unwrap_or(&path);
        let mut segments = Vec::new();
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            match percent_encoding::percent_decode_str(seg).decode_utf8() {
                Ok(s) => segments.push(s.into_owned()),
                Err(_) => return Err((FhirError::BadRequest("the path is not valid UTF-8".into()), out)),
            }
        }
        Ok(FhirRequest {
            method: parts.method,
            path,
            segments,
            query,
            headers: parts.headers,
            body: Some(body),
            max_body: app.config.max_body_bytes,
            out,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Applies `_format`/`Accept`; JSON answers then use the negotiated media type.
    pub fn negotiate(&mut self, binary_read: bool) -> Result<Negotiated> {
        let n = negotiate::negotiate(&self.headers, self.param("_format"), binary_read)?;
        self.out.json_type = n.json_type;
        Ok(n)
    }

    /// The whole body, at most the configured size (413 beyond).
    pub async fn body_bytes(&mut self) -> Result<Bytes> {
        let too_large = || FhirError::PayloadTooLarge(format!("the request body is larger than the limit of {} bytes", self.max_body));
        if let Some(len) = self.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()) {
            if len > self.max_body {
                return Err(too_large());
            }
        }
        let body = self.body.take().ok_or_else(|| FhirError::Internal("the request body was already read".into()))?;
        match axum::body::to_bytes(body, self.max_body).await {
            Ok(b) => Ok(b),
            Err(e) => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&s.to_string());
                    source = s.source();
                }
                if text.contains("length limit") {
                    Err(too_large())
                } else {
                    Err(FhirError::BadRequest(format!("could not read the request body: {e}")))
                }
            }
        }
    }

    /// The body parsed as JSON (400 with the parser's message when it is not).
    pub async fn json_body(&mut self) -> Result<Value> {
        negotiate::require_json_body(&self.headers)?;
        let bytes = self.body_bytes().await?;
        parse_json(&bytes)
    }
}

pub fn parse_json(bytes: &[u8]) -> Result<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FhirError::BadRequest("the request body is empty; a FHIR JSON resource is required".into()));
    }
    let value = crate::fhir::json::parse(bytes).map_err(|e| FhirError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(FhirError::BadRequest("the body must be a JSON object (a FHIR resource)".into()));
    }
    Ok(value)
}
