//! Parsing of Bundle entries into typed requests, before any store work.
use serde_json::Value;

use crate::error::{FhirError, Result};
use crate::interactions::patch::PatchBody;
use crate::search::params::Registry;
use crate::search::query::SearchQuery;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// The resource an entry writes to: a known id, or conditional criteria.
#[derive(Debug, Clone)]
pub enum Target {
    Id(String),
    Criteria(SearchQuery),
    /// POST: the server-assigned id.
    New(String),
    /// GET or HEAD: the url's path segments and query, run after the writes; `url` as sent
    /// (relative to the base).
    Read { segments: Vec<String>, params: Vec<(String, String)>, url: String, head: bool },
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub index: usize,
    pub verb: Verb,
    pub resource_type: String,
    pub target: Target,
    pub full_url: Option<String>,
    pub resource: Option<Value>,
    pub patch: Option<PatchBody>,
    pub if_none_exist: Option<SearchQuery>,
    /// The `ifNoneExist` text, to spot two entries with the same criteria.
    pub if_none_exist_text: Option<String>,
    pub if_match: Option<u64>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    /// Set when the references were rewritten before the transaction: what is left for it.
    pub ref_slots: Option<Vec<super::references::Slot>>,
}

/// A new server-assigned id: a UUID in the version 7 layout (48 bits of Unix milliseconds,
/// 12 bits of a counter, 62 random bits), so ids assigned one after the other sort one
/// after the other and the store appends them to its indexes instead of inserting them at
/// random places. Unique: the time-and-counter prefix never repeats within a process, and
/// 62 random bits separate processes.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let tick = (millis & 0xffff_ffff_ffff) << 12;
    let prev = LAST.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(tick.max(last + 1))).unwrap_or(0);
    let now = tick.max(prev + 1);
    let mut b = *uuid::Uuid::new_v4().as_bytes();
    let ms = (now >> 12).to_be_bytes();
    b[..6].copy_from_slice(&ms[2..8]);
    b[6] = 0x70 | ((now >> 8) & 0x0f) as u8;
    b[7] = (now & 0xff) as u8;
    // b[8..] keeps the random bits and the RFC 4122 variant of the v4 UUID.
    uuid::Uuid::from_bytes(b).to_string()
}

fn bad(msg: impl Into<String>) -> FhirError {
    FhirError::BadRequest(msg.into())
}

fn parse_etag(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Parses `entry[index]`. `base_url` lets absolute request urls on this server through.
pub fn parse(defs: &crate::fhir::definitions::Definitions, registry: &Registry, index: usize, mut entry: Value, base_url: &str) -> Result<Entry> {
    // The resource is moved out, not copied.
    let resource = entry.as_object_mut().and_then(|o| o.swap_remove("resource"));
    let request = entry.get("request").ok_or_else(|| bad("the entry has no request"))?;
    let method = request.get("method").and_then(Value::as_str).ok_or_else(|| bad("request.method is missing"))?;
    let verb = match method {
        "GET" | "HEAD" => Verb::Get,
        "POST" => Verb::Post,
        "PUT" => Verb::Put,
        "PATCH" => Verb::Patch,
        "DELETE" => Verb::Delete,
        other => return Err(bad(format!("request.method '{}' is not supported", short(other)))),
    };
    let url = request.get("url").and_then(Value::as_str).ok_or_else(|| bad("request.url is missing"))?;
    let url = url.strip_prefix(base_url).unwrap_or(url);
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let mut segments = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let s = percent_encoding::percent_decode_str(seg).decode_utf8().map_err(|_| bad("request.url is not valid UTF-8"))?;
        segments.push(s.into_owned());
    }
    let full_url = entry.get("fullUrl").and_then(Value::as_str).map(str::to_string);
    let opt_str = |k: &str| request.get(k).and_then(Value::as_str).map(str::to_string);
    let if_match = match opt_str("ifMatch") {
        None => None,
        Some(t) => Some(parse_etag(&t).ok_or_else(|| bad(format!("ifMatch '{}' is not a version ETag such as W/\"3\"", short(&t))))?),
    };
    let resource_type = segments.first().cloned().unwrap_or_default();
    let criteria = |q: &str| crate::interactions::conditional::criteria(registry, &resource_type, q);
    // Writes are classified by the one routing table (`crate::model::interaction`); reads
    // are run later by a dispatcher that classifies them with the same table.
    let target = if verb == Verb::Get {
        Target::Read {
            segments: segments.clone(),
            params: form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
            url: url.to_string(),
            head: method == "HEAD",
        }
    } else {
        use crate::model::interaction::{self as typed, Kind};
        let is_type = |t: &str| defs.is_resource_type(t);
        let not_compartment = |_: &str| false;
        let names = typed::Names { is_type: &is_type, is_compartment: &not_compartment };
        let m = axum::http::Method::from_bytes(method.as_bytes()).map_err(|_| bad("request.method is not valid"))?;
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let t = typed::parse(&m, &s, &names)?;
        let criteria_text = query.filter(|q| !q.trim_start_matches('?').is_empty());
        match (&t.kind, t.id) {
            (Kind::Create, _) => Target::New(new_id()),
            (Kind::Update | Kind::Patch | Kind::Delete, Some(id)) => {
                crate::interactions::check_id(&id)?;
                Target::Id(id)
            }
            (Kind::ConditionalUpdate | Kind::ConditionalPatch | Kind::ConditionalDelete, _) => match criteria_text {
                Some(q) => Target::Criteria(criteria(q)?),
                None => return Err(bad(format!("request.url '{}' needs an id or conditional criteria", short(url)))),
            },
            _ => return Err(bad(format!("request.url '{}' is not valid for {method} in a Bundle", short(url)))),
        }
    };
    let mut out = Entry {
        index,
        verb,
        resource_type: resource_type.clone(),
        target,
        full_url,
        resource: None,
        patch: None,
        if_none_exist: None,
        if_none_exist_text: None,
        if_match,
        if_none_match: opt_str("ifNoneMatch"),
        if_modified_since: opt_str("ifModifiedSince"),
        ref_slots: None,
    };
    match verb {
        Verb::Post | Verb::Put => {
            let r = resource.ok_or_else(|| bad(format!("a {method} entry needs a resource")))?;
            if !r.is_object() {
                return Err(bad("entry.resource must be a JSON object"));
            }
            if let (Verb::Put, Target::Id(id)) = (verb, &out.target) {
                match r.get("id") {
                    Some(Value::String(b)) if b == id => {}
                    Some(_) => return Err(bad(format!("the resource's id does not match the id in request.url ('{id}')"))),
                    None => return Err(bad(format!("the resource has no id; it must be '{id}' as in request.url"))),
                }
            }
            if let Some(q) = opt_str("ifNoneExist") {
                if verb == Verb::Post {
                    out.if_none_exist = Some(criteria(&q)?);
                    out.if_none_exist_text = Some(q);
                }
            }
            out.resource = Some(r);
        }
        Verb::Patch => {
            let r = resource.ok_or_else(|| bad("a PATCH entry needs a resource (Parameters or Binary)"))?;
            out.patch = Some(PatchBody::from_resource(&r)?);
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_ids_are_uuids_in_increasing_order() {
        let ids: Vec<String> = (0..10_000).map(|_| super::new_id()).collect();
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "{} then {}", w[0], w[1]);
        }
        for id in &ids[..10] {
            let u = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(u.get_version_num(), 7);
            assert_eq!(id.len(), 36);
        }
    }
}
