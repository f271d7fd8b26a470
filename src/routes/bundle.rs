//! Bundles on the wire. Stored resource bodies are spliced in as raw JSON, not re-parsed.
use serde_json::{json, Map, Value};

use super::response::Output;
use crate::fhir::meta;
use crate::persistence::{HistoryPage, Method, StoredVersion};

/// A page link: `base/path?params&_cursor=...` (no `?` when there is nothing to add).
pub fn page_url(base_url: &str, path: &str, params: &[(String, String)], cursor: Option<&str>) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    if let Some(c) = cursor {
        ser.append_pair("_cursor", c);
    }
    let qs = ser.finish();
    let base = if path.is_empty() { base_url.to_string() } else { format!("{base_url}/{path}") };
    if qs.is_empty() { base } else { format!("{base}?{qs}") }
}

/// Serialises `entry` with `resource` (raw JSON) as its second member.
fn entry_json(out: &mut Vec<u8>, full_url: &str, resource: Option<&[u8]>, rest: &Map<String, Value>) {
    out.extend_from_slice(b"{\"fullUrl\":");
    out.extend_from_slice(&serde_json::to_vec(full_url).unwrap_or_default());
    if let Some(body) = resource {
        out.extend_from_slice(b",\"resource\":");
        out.extend_from_slice(body);
    }
    for (k, v) in rest {
        out.push(b',');
        out.extend_from_slice(&serde_json::to_vec(k).unwrap_or_default());
        out.push(b':');
        out.extend_from_slice(&serde_json::to_vec(v).unwrap_or_default());
    }
    out.push(b'}');
}

fn history_entry(out: &mut Vec<u8>, o: &Output, v: &StoredVersion) {
    let full_url = format!("{}/{}/{}", o.base_url, v.resource_type, v.id);
    let (url, status) = match v.method {
        Method::Post => (v.resource_type.clone(), "201 Created"),
        Method::Put if v.created => (format!("{}/{}", v.resource_type, v.id), "201 Created"),
        Method::Put => (format!("{}/{}", v.resource_type, v.id), "200 OK"),
        Method::Delete => (format!("{}/{}", v.resource_type, v.id), "204 No Content"),
    };
    let mut rest = Map::new();
    rest.insert("request".into(), json!({"method": v.method.as_str(), "url": url}));
    rest.insert(
        "response".into(),
        json!({"status": status, "etag": format!("W/\"{}\"", v.version), "lastModified": meta::instant(v.last_updated)}),
    );
    entry_json(out, &full_url, v.body.as_deref(), &rest);
}

/// A `history` Bundle for one page, with `self` and (when there is more) `next` links.
pub fn history(o: &Output, page: &HistoryPage, self_url: &str, next_url: Option<&str>) -> Vec<u8> {
    let mut head = Map::new();
    head.insert("resourceType".into(), json!("Bundle"));
    head.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    head.insert("meta".into(), json!({"lastUpdated": meta::instant(meta::now_micros())}));
    head.insert("type".into(), json!("history"));
    if let Some(total) = page.total {
        head.insert("total".into(), json!(total));
    }
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = next_url {
        links.push(json!({"relation": "next", "url": next}));
    }
    head.insert("link".into(), Value::Array(links));
    let mut out = serde_json::to_vec(&Value::Object(head)).unwrap_or_default();
    if page.entries.is_empty() {
        return out;
    }
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"entry\":[");
    for (i, v) in page.entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        history_entry(&mut out, o, v);
    }
    out.extend_from_slice(b"]}");
    out
}
