//! Shared by the access-control matrix and property tests: the secret marking Patient B's
//! data, and the scanners that find B (or anything outside Patient A's compartment) in an
//! answer.
#![allow(dead_code)]

use reqwest::Method;
use serde_json::Value;

use crate::auth_support::call;
use crate::common::{self, Resp, TestServer};

/// In every resource of Patient B (and in version 1 of oA-hist).
pub const SECRET: &str = "Bravowitz";

/// Everything of Patient B (a confined token for A must never see any of it).
pub const B_IDS: &[&str] = &["Patient/B", "Observation/oB", "Condition/cB", "Encounter/eB", "Claim/clB", "List/LB"];

pub async fn seed_put(s: &TestServer, tok: &str, path: &str, body: Value) {
    let r = call(s, Method::PUT, path, Some(tok), Some(&body)).await;
    assert!(r.status == 200 || r.status == 201, "seed PUT {path}: {} {}", r.status, r.text());
}

/// Every JSON object with a `resourceType`, nested ones included.
pub fn resources<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if m.get("resourceType").and_then(Value::as_str).is_some() {
                out.push(v);
            }
            for x in m.values() {
                resources(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| resources(x, out)),
        _ => {}
    }
}

pub fn rid(r: &Value) -> String {
    format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""))
}

/// Whether `s` refers to `target` (`Patient/B`): an occurrence bounded by start or `/`
/// before and end, `/`, `?`, `#` or `&` after.
pub fn refers_to(s: &str, target: &str) -> bool {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find(target) {
        let i = from + i;
        let end = i + target.len();
        let before = i == 0 || bytes[i - 1] == b'/';
        let after = end == s.len() || matches!(bytes[end], b'/' | b'?' | b'#' | b'&');
        if before && after {
            return true;
        }
        from = i + 1;
    }
    false
}

pub fn forbidden_strings(v: &Value, forbidden: &[&str], path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let rt = m.get("resourceType").and_then(Value::as_str);
            if rt == Some("OperationOutcome") {
                return;
            }
            for (k, x) in m {
                if rt == Some("Bundle") && k == "link" {
                    continue;
                }
                forbidden_strings(x, forbidden, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                forbidden_strings(x, forbidden, &format!("{path}[{i}]"), out);
            }
        }
        Value::String(s) => {
            for f in forbidden {
                if refers_to(s, f) {
                    out.push(format!("{path} = {s:?} refers to {f}"));
                }
            }
        }
        _ => {}
    }
}

pub fn is_patient_a(r: &Value) -> bool {
    r.get("reference").and_then(Value::as_str).is_some_and(|s| s == "Patient/A" || s.ends_with("/Patient/A"))
}

/// Why a resource is not in A's compartment alone (None: it is, or it is not data).
pub fn outside_a(r: &Value) -> Option<String> {
    let rt = r["resourceType"].as_str().unwrap_or("");
    let ok = match rt {
        "OperationOutcome" | "Bundle" | "CapabilityStatement" | "Parameters" => true,
        "Patient" => r["id"] == "A",
        "Observation" => {
            is_patient_a(&r["subject"]) || r["performer"].as_array().is_some_and(|a| a.iter().any(is_patient_a))
        }
        "Condition" | "Encounter" | "List" => is_patient_a(&r["subject"]),
        "Claim" => is_patient_a(&r["patient"]),
        _ => false,
    };
    (!ok).then(|| format!("{} (not in Patient A's compartment): {}", rid(r), common::truncate(&r.to_string(), 300)))
}

pub async fn prac_get(s: &TestServer, prac: &str, path: &str) -> Resp {
    call(s, Method::GET, path, Some(prac), None).await
}

/// The number of versions in the whole (default-tenant) server, read by the practitioner.
pub async fn history_count(s: &TestServer, prac: &str) -> usize {
    let mut n = 0;
    let mut next = Some("/_history?_count=1000".to_string());
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        assert!(pages < 1000, "history paging does not end");
        let r = prac_get(s, prac, &url).await;
        assert_eq!(r.status, 200, "practitioner history: {}", r.text());
        let b = r.json();
        n += b["entry"].as_array().map_or(0, Vec::len);
        next = common::next_link(&b);
    }
    n
}

/// Marker strings in the body or headers, and location headers that refer to a forbidden
/// resource.
pub fn surface_problems(r: &Resp, markers: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let text = r.text();
    let headers = format!("{:?}", r.headers);
    for m in markers {
        if text.contains(m) {
            out.push(format!("body contains {m:?}"));
        }
        if headers.contains(m) {
            out.push(format!("headers contain {m:?}"));
        }
    }
    for h in ["location", "content-location"] {
        if let Some(v) = r.header(h) {
            for f in forbidden {
                if refers_to(&v, f) {
                    out.push(format!("header {h}: {v} refers to {f}"));
                }
            }
        }
    }
    out
}
