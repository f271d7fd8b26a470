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
    /// In a mutex only so that the request is `Sync` (it is taken once, with `&mut self`).
    body: std::sync::Mutex<Option<Body>>,
    max_body: usize,
    pub out: Output,
    /// The tenant of the URL prefix `/tenant/{id}/...`, if any.
    pub url_tenant: Option<String>,
    /// The tenant every interaction of this request runs in (URL and token agree).
    pub tenant: String,
    /// The authenticated caller; `None` without authentication (mode `none`).
    pub principal: Option<std::sync::Arc<crate::auth::principal::Principal>>,
    /// What the request does and what the caller may do (set before routing).
    pub target: Option<crate::model::interaction::Target>,
    pub access: crate::auth::principal::Access,
    pub request_id: String,
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
        let path = parts.uri.path().to_string();
        // `/tenant/{id}{base}/...`: the tenant in the URL (checked against the token's).
        let mut url_tenant = None;
        let mut rest = path.as_str();
        if let Some(after) = path.strip_prefix("/tenant/") {
            let (id, tail) = match after.find('/') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            };
            if !crate::model::tenant::is_valid_tenant(id) {
                return Err((FhirError::NotFound("no such tenant".into()), Output::new(base_url, None, pretty)));
            }
            url_tenant = Some(id.to_string());
            rest = tail;
        }
        let base_url = match &url_tenant {
            None => base_url,
            Some(t) => match base_url.strip_suffix(app.base_path.as_str()) {
                Some(root) if !app.base_path.is_empty() => format!("{root}/tenant/{t}{}", app.base_path),
                _ => format!("{base_url}/tenant/{t}"),
            },
        };
        let out = Output::new(base_url, None, pretty);
        let rest = rest.strip_prefix(app.base_path.as_str()).unwrap_or(rest);
        let mut segments = Vec::new();
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            match percent_encoding::percent_decode_str(seg).decode_utf8() {
                Ok(s) => segments.push(s.into_owned()),
                Err(_) => return Err((FhirError::BadRequest("the path is not valid UTF-8".into()), out)),
            }
        }
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(FhirRequest {
            method: parts.method,
            path,
            segments,
            query,
            headers: parts.headers,
            body: std::sync::Mutex::new(Some(body)),
            max_body: app.config.max_body_bytes,
            out,
            tenant: url_tenant.clone().unwrap_or_else(|| crate::TENANT.to_string()),
            url_tenant,
            principal: None,
            target: None,
            access: crate::auth::principal::Access::Full,
            // Set by the tracing middleware (crate::observability), which answers with it too.
            request_id,
        })
    }

    /// A Bundle entry's `GET` or `HEAD` as a request of its own, by the same caller in the
    /// same tenant. `url` is relative to the base (or absolute on it), with its query.
    pub fn entry(&self, head: bool, url: &str, headers: HeaderMap) -> Result<FhirRequest> {
        let url = url.strip_prefix(self.out.base_url.as_str()).unwrap_or(url);
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut segments = Vec::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            let s = percent_encoding::percent_decode_str(seg).decode_utf8().map_err(|_| FhirError::BadRequest("request.url is not valid UTF-8".into()))?;
            segments.push(s.into_owned());
        }
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        Ok(FhirRequest {
            method: if head { Method::HEAD } else { Method::GET },
            path: format!("/{}", path.trim_start_matches('/')),
            segments,
            query,
            headers,
            body: std::sync::Mutex::new(None),
            max_body: self.max_body,
            out: Output::new(self.out.base_url.clone(), None, false),
            url_tenant: self.url_tenant.clone(),
            tenant: self.tenant.clone(),
            principal: self.principal.clone(),
            target: None,
            access: crate::auth::principal::Access::Full,
            request_id: self.request_id.clone(),
        })
    }

    /// The access checks for this request's caller and tenant.
    pub fn guard<'a>(&self, app: &'a AppState) -> crate::auth::guard::Guard<'a> {
        crate::auth::guard::Guard { fhir: &app.fhir, rules: &app.auth.rules, tenant: self.tenant.clone(), principal: self.principal.clone() }
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
        let body = self.body.get_mut().ok().and_then(Option::take).ok_or_else(|| FhirError::Internal("the request body was already read".into()))?;
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
