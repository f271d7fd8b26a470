//! A corpus of bad requests: each must get a 4xx with an OperationOutcome (never a 5xx),
//! and none may store anything.
mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

const MAX_BODY: usize = 100_000;

/// One bad request.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Acceptable statuses; empty = any 4xx.
    expect: &'static [u16],
    /// Paths that must still answer 404 afterwards (nothing was stored there).
    probe: Vec<String>,
}

fn post(name: &'static str, ty: &str, body: impl Into<Vec<u8>>, expect: &'static [u16]) -> Case {
    Case {
        name,
        method: Method::POST,
        path: format!("/{ty}"),
        content_type: Some(FHIR_JSON),
        headers: vec![],
        body: body.into(),
        expect,
        probe: vec![],
    }
}

/// PUT at `/{ty}/{id}`; probes that the id stays unknown.
fn put(name: &'static str, ty: &str, id: &str, body: impl Into<Vec<u8>>, expect: &'static [u16]) -> Case {
    Case {
        name,
        method: Method::PUT,
        path: format!("/{ty}/{id}"),
        content_type: Some(FHIR_JSON),
        headers: vec![],
        body: body.into(),
        expect,
        probe: vec![format!("/{ty}/{id}")],
    }
}

/// A Patient body with `extra` JSON members spliced in (raw text, so literals stay exact).
fn pat(extra: &str) -> String {
    if extra.is_empty() {
        r#"{"resourceType":"Patient"}"#.to_string()
    } else {
        format!(r#"{{"resourceType":"Patient",{extra}}}"#)
    }
}

/// An otherwise valid Observation with `extra` members spliced in.
fn obs(extra: &str) -> String {
    format!(r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},{extra}}}"#)
}

/// An otherwise valid Patient with id `id` for PUT.
fn pat_id(id: &str, extra: &str) -> String {
    if extra.is_empty() {
        format!(r#"{{"resourceType":"Patient","id":"{id}"}}"#)
    } else {
        format!(r#"{{"resourceType":"Patient","id":"{id}",{extra}}}"#)
    }
}

const C400: &[u16] = &[400];
const C400_422: &[u16] = &[400, 422];

fn corpus() -> Vec<Case> {
    let mut c = vec![
        // --- JSON syntax (400) ---
        post("malformed: truncated object", "Patient", r#"{"resourceType":"Patient","#, C400),
        post("malformed: truncated inside string", "Patient", r#"{"resourceType":"Pat"#, C400),
        post("malformed: truncated body mid-array", "Patient", r#"{"resourceType":"Patient","name":[{"family":"Sm"#, C400),
        post("empty body", "Patient", "", C400),
        post("whitespace-only body", "Patient", "  \n\t ", C400),
        post("JSON null body", "Patient", "null", C400_422),
        post("JSON array body", "Patient", "[]", C400_422),
        post("JSON string body", "Patient", r#""Patient""#, C400_422),
        post("JSON number body", "Patient", "42", C400_422),
        post("trailing garbage", "Patient", r#"{"resourceType":"Patient"} xyz"#, C400),
        post("two JSON documents", "Patient", r#"{"resourceType":"Patient"}{"resourceType":"Patient"}"#, C400),
        post("single quotes", "Patient", "{'resourceType':'Patient'}", C400),
        post("trailing comma", "Patient", r#"{"resourceType":"Patient",}"#, C400),
        post("comment in JSON", "Patient", r#"{"resourceType":"Patient" /* c */}"#, C400),
        post("NaN literal", "Observation", obs(r#""valueQuantity":{"value":NaN}"#), C400),
        post("leading-zero number", "Observation", obs(r#""valueQuantity":{"value":05}"#), C400),
        post("unescaped control char in string", "Patient", pat("\"name\":[{\"family\":\"a\u{1}b\"}]"), C400_422),
        post("invalid UTF-8 bytes", "Patient", {
            let mut b = br#"{"resourceType":"Patient","name":[{"family":""#.to_vec();
            b.extend_from_slice(&[0xff, 0xfe, 0xc3]);
            b.extend_from_slice(br#""}]}"#);
            b
        }, C400),
        post("lone surrogate escape", "Patient", pat(r#""name":[{"family":"\ud800"}]"#), C400_422),
        post("deeply nested arrays (10000)", "Patient", "[".repeat(10_000), C400),
        post("deeply nested objects (10000)", "Patient", format!("{}{}", r#"{"resourceType":"Patient","extension":"#, r#"{"a":"#.repeat(10_000)), C400),
        post("deeply nested closed arrays (5000)", "Patient", format!(r#"{{"resourceType":"Patient","x":{}{}}}"#, "[".repeat(5000), "]".repeat(5000)), C400_422),
        post("duplicate property", "Patient", r#"{"resourceType":"Patient","gender":"male","gender":"female"}"#, C400_422),
        // --- resourceType ---
        post("missing resourceType", "Patient", r#"{"gender":"male"}"#, C400_422),
        post("resourceType mismatch with URL", "Patient", obs(r#""id":"x""#), C400),
        post("resourceType is a number", "Patient", r#"{"resourceType":5}"#, C400_422),
        post("resourceType is an array", "Patient", r#"{"resourceType":["Patient"]}"#, C400_422),
        post("abstract resourceType DomainResource", "DomainResource", r#"{"resourceType":"DomainResource"}"#, &[400, 404]),
        post("unknown resource type", "Foo", r#"{"resourceType":"Foo"}"#, &[404, 400]),
        post("lower-case resource type", "patient", r#"{"resourceType":"patient"}"#, &[404, 400]),
        // --- elements ---
        post("unknown element", "Patient", pat(r#""foo":1"#), C400_422),
        post("unknown nested element", "Patient", pat(r#""name":[{"family":"x","bogus":"y"}]"#), C400_422),
        post("element from another type", "Patient", pat(r#""status":"active""#), C400_422),
        post("bad date: month 13", "Patient", pat(r#""birthDate":"1980-13-45""#), C400_422),
        post("bad date: US format", "Patient", pat(r#""birthDate":"01/02/1980""#), C400_422),
        post("bad date: time in a date", "Patient", pat(r#""birthDate":"1980-01-01T10:00:00Z""#), C400_422),
        post("bad date: Feb 30", "Patient", pat(r#""birthDate":"2021-02-30""#), C400_422),
        post("bad dateTime: hour 25", "Observation", obs(r#""effectiveDateTime":"2020-01-01T25:00:00Z""#), C400_422),
        post("bad dateTime: time without zone", "Observation", obs(r#""effectiveDateTime":"2020-01-01T10:00:00""#), C400_422),
        post("bad instant: date only", "Observation", obs(r#""issued":"2020-01-01""#), C400_422),
        post("cardinality: array for single", "Patient", pat(r#""gender":["male"]"#), C400_422),
        post("cardinality: single for array", "Patient", pat(r#""name":{"family":"x"}"#), C400_422),
        post("cardinality: empty array", "Patient", pat(r#""name":[]"#), C400_422),
        post("empty object in array", "Patient", pat(r#""name":[{}]"#), C400_422),
        post("missing required Observation.status", "Observation", r#"{"resourceType":"Observation","code":{"text":"x"}}"#, C400_422),
        post("missing required Observation.code", "Observation", r#"{"resourceType":"Observation","status":"final"}"#, C400_422),
        post("code outside required binding: gender", "Patient", pat(r#""gender":"robot""#), C400_422),
        post("code outside required binding: Observation.status", "Observation", r#"{"resourceType":"Observation","status":"bogus","code":{"text":"x"}}"#, C400_422),
        post("code outside required binding: narrative status", "Patient", pat(r#""text":{"status":"bogus","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}"#), C400_422),
        post("code with wrong case: gender Male", "Patient", pat(r#""gender":"Male""#), C400_422),
        post("number as string (decimal)", "Observation", obs(r#""valueQuantity":{"value":"5"}"#), C400_422),
        post("string as boolean", "Patient", pat(r#""active":"true""#), C400_422),
        post("number as boolean", "Patient", pat(r#""active":1"#), C400_422),
        post("number as string element", "Patient", pat(r#""name":[{"family":42}]"#), C400_422),
        post("object as string element", "Patient", pat(r#""gender":{"value":"male"}"#), C400_422),
        post("decimal for integer", "Patient", pat(r#""multipleBirthInteger":1.5"#), C400_422),
        post("integer out of 32-bit range", "Patient", pat(r#""multipleBirthInteger":9999999999"#), C400_422),
        post("negative unsignedInt", "Patient", pat(r#""photo":[{"contentType":"image/png","size":-1}]"#), C400_422),
        post("null value", "Patient", pat(r#""gender":null"#), C400_422),
        post("null in array", "Patient", pat(r#""name":[null]"#), C400_422),
        post("empty string value", "Patient", pat(r#""gender":"""#), C400_422),
        post("empty string family", "Patient", pat(r#""name":[{"family":""}]"#), C400_422),
        post("whitespace in uri", "Patient", pat(r#""identifier":[{"system":"http://a b","value":"1"}]"#), C400_422),
        post("bad choice type suffix", "Observation", obs(r#""valueFoo":"x""#), C400_422),
        post("lower-case choice suffix", "Observation", obs(r#""valuestring":"x""#), C400_422),
        post("bare choice name value[x]", "Observation", obs(r#""value":"x""#), C400_422),
        post("two choice types at once", "Observation", obs(r#""valueString":"x","valueBoolean":true"#), C400_422),
        post("choice type not allowed here", "Patient", pat(r#""deceasedString":"yes""#), C400_422),
        post("extension without url", "Patient", pat(r#""extension":[{"valueString":"x"}]"#), C400_422),
        post("extension url not a string", "Patient", pat(r#""extension":[{"url":5,"valueString":"x"}]"#), C400_422),
        post("extension with neither value nor extension", "Patient", pat(r#""extension":[{"url":"http://e.org/x"}]"#), C400_422),
        post("extension with value and nested extension", "Patient", pat(r#""extension":[{"url":"http://e.org/x","valueString":"a","extension":[{"url":"b","valueString":"c"}]}]"#), C400_422),
        post("modifierExtension without url", "Patient", pat(r#""modifierExtension":[{"valueBoolean":true}]"#), C400_422),
        post("primitive extension not an object", "Patient", pat(r#""gender":"male","_gender":"x""#), C400_422),
        post("invalid contained resource", "Patient", pat(r#""contained":[{"resourceType":"Patient","id":"c1","gender":"robot"}]"#), C400_422),
        post("contained without resourceType", "Patient", pat(r#""contained":[{"id":"c1"}]"#), C400_422),
        post("contained of unknown type", "Patient", pat(r#""contained":[{"resourceType":"Foo","id":"c1"}]"#), C400_422),
        // --- ids and URL/body agreement on PUT ---
        put("PUT id mismatch", "Patient", "bad-put-1", pat_id("other", ""), C400),
        put("PUT without body id", "Patient", "bad-put-2", pat(""), C400),
        put("PUT resourceType mismatch", "Patient", "bad-put-3", r#"{"resourceType":"Observation","id":"bad-put-3","status":"final","code":{"text":"x"}}"#, C400),
        put("PUT invalid id character _", "Patient", "bad_id", pat_id("bad_id", ""), C400),
        put("PUT invalid id character !", "Patient", "bad!id", pat_id("bad!id", ""), C400),
        put("PUT id with encoded space", "Patient", "bad%20id", pat_id("bad id", ""), C400),
        put("PUT 65-char id", "Patient", &"a".repeat(65), pat_id(&"a".repeat(65), ""), C400),
        put("PUT invalid content", "Patient", "bad-put-4", pat_id("bad-put-4", r#""gender":"robot""#), C400_422),
        put("PUT id element is a number", "Patient", "5", r#"{"resourceType":"Patient","id":5}"#, C400_422),
        put("PUT malformed JSON", "Patient", "bad-put-5", r#"{"resourceType":"Patient","id":"bad-put-5""#, C400),
        put("PUT unknown type", "Foo", "bad-put-6", r#"{"resourceType":"Foo","id":"bad-put-6"}"#, &[404, 400]),
        put("PUT wrong content on existing id", "Patient", "existing", pat_id("existing", r#""birthDate":"not-a-date""#), C400_422),
        put("PUT id mismatch on existing id", "Patient", "existing", pat_id("other", ""), C400),
    ];
    // the existing resource must not be 404 afterwards: drop those probes
    for case in c.iter_mut() {
        case.probe.retain(|p| p != "/Patient/existing");
    }

    // --- Content-Type (415) ---
    let valid = pat(r#""gender":"male""#);
    for (name, ct) in [
        ("Content-Type text/plain", "text/plain"),
        ("Content-Type application/xml", "application/xml"),
        ("Content-Type application/fhir+xml", "application/fhir+xml"),
        ("Content-Type form-urlencoded", "application/x-www-form-urlencoded"),
        ("Content-Type image/png on a Patient", "image/png"),
    ] {
        let mut case = post(name, "Patient", valid.clone(), &[415]);
        case.content_type = Some(ct);
        c.push(case);
    }
    let mut case = put("PUT Content-Type text/plain", "Patient", "bad-ct-1", pat_id("bad-ct-1", ""), &[415]);
    case.content_type = Some("text/plain");
    c.push(case);

    // --- Accept / _format: refuse before doing anything (406) ---
    let mut case = post("Accept application/fhir+xml on create", "Patient", valid.clone(), &[406]);
    case.headers.push(("accept", "application/fhir+xml".into()));
    c.push(case);
    let mut case = post("_format=xml on create", "Patient", valid.clone(), &[406]);
    case.path = "/Patient?_format=xml".into();
    c.push(case);

    // --- conditional writes on the existing resource (412) ---
    let mut case = put("If-Match stale on PUT", "Patient", "existing", pat_id("existing", r#""gender":"other""#), &[412]);
    case.probe.clear();
    case.headers.push(("if-match", "W/\"7\"".into()));
    c.push(case);
    c.push(Case {
        name: "If-Match stale on DELETE",
        method: Method::DELETE,
        path: "/Patient/existing".into(),
        content_type: None,
        headers: vec![("if-match", "W/\"9\"".into())],
        body: vec![],
        expect: &[412],
        probe: vec![],
    });
    let mut case = put("If-Match malformed", "Patient", "existing", pat_id("existing", r#""gender":"other""#), &[400, 412]);
    case.probe.clear();
    case.headers.push(("if-match", "garbage".into()));
    c.push(case);

    // --- wrong method / URL shapes ---
    c.push(post("POST to an instance URL", "Patient/some-id", valid.clone(), &[405, 400, 404]));
    let mut case = put("PUT to a type URL", "Patient", "x", valid.clone(), &[405, 400, 404]);
    case.path = "/Patient".into();
    case.probe.clear();
    c.push(case);
    c.push(Case {
        name: "DELETE of unknown type",
        method: Method::DELETE,
        path: "/Foo/1".into(),
        content_type: None,
        headers: vec![],
        body: vec![],
        expect: &[404, 400],
        probe: vec![],
    });
    c.push(Case {
        name: "GET with invalid id",
        method: Method::GET,
        path: "/Patient/bad_id".into(),
        content_type: None,
        headers: vec![],
        body: vec![],
        expect: &[400, 404],
        probe: vec![],
    });

    // --- size limit (413) ---
    let big_family = "x".repeat(MAX_BODY + 10);
    c.push(post("oversized body (POST)", "Patient", pat(&format!(r#""name":[{{"family":"{big_family}"}}]"#)), &[413]));
    c.push(put("oversized body (PUT)", "Patient", "bad-big-1", pat_id("bad-big-1", &format!(r#""name":[{{"family":"{big_family}"}}]"#)), &[413]));
    let mut case = post("oversized raw Binary", "Binary", vec![0u8; MAX_BODY * 2], &[413]);
    case.content_type = Some("application/octet-stream");
    c.push(case);
    c.push(post("oversized malformed body", "Patient", "[".repeat(MAX_BODY + 1), &[413, 400]));
    c
}

#[tokio::test]
async fn bad_requests_get_4xx_outcomes_and_store_nothing() {
    let limit = MAX_BODY.to_string();
    let s = TestServer::start_with_args(&["--max-body-bytes", &limit]);
    // one existing resource that some cases target
    let existing = json!({"resourceType": "Patient", "id": "existing", "gender": "male"});
    let r = s.put_json("/Patient/existing", &existing).await;
    r.expect(201, "seed Patient/existing");
    let seeded = r.json();
    let before = s.system_history_count().await;
    assert_eq!(before, 1);

    let cases = corpus();
    assert!(cases.len() >= 50, "corpus has only {} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "duplicate case name {}", c.name);
    }
    let mut failures = Vec::new();
    for case in &cases {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(ct) = case.content_type {
            headers.push(("content-type", ct));
        }
        if !case.headers.iter().any(|(h, _)| *h == "accept") {
            headers.push(("accept", FHIR_JSON));
        }
        for (h, v) in &case.headers {
            headers.push((h, v.as_str()));
        }
        let (status, body) = if case.expect.contains(&413) {
            // the server may answer before reading the body: read while writing, like curl
            let path = format!("/fhir{}", case.path);
            match raw_request(&s.root, case.method.as_str(), &path, &headers, case.body.clone()).await {
                Some(r) => (r.status, bytes::Bytes::from(r.body)),
                None => {
                    failures.push(format!("[{}] connection closed without a response", case.name));
                    continue;
                }
            }
        } else {
            let mut rb = s.req(case.method.clone(), &case.path);
            for (h, v) in &headers {
                rb = rb.header(*h, *v);
            }
            if !case.body.is_empty() || case.method != Method::GET {
                rb = rb.body(case.body.clone());
            }
            match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    (status, resp.bytes().await.unwrap_or_default())
                }
                Err(e) => {
                    failures.push(format!("[{}] request failed: {e:?}", case.name));
                    continue;
                }
            }
        };
        if !(400..500).contains(&status) {
            failures.push(format!("[{}] status {status} (want 4xx {:?}); body: {}", case.name, case.expect, truncate(&String::from_utf8_lossy(&body), 300)));
            continue;
        }
        if !case.expect.is_empty() && !case.expect.contains(&status) {
            failures.push(format!("[{}] status {status}, want one of {:?}; body: {}", case.name, case.expect, truncate(&String::from_utf8_lossy(&body), 300)));
        }
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => {
                if let Err(e) = check_outcome(&v) {
                    failures.push(format!("[{}] status {status}: body is not a proper OperationOutcome: {e}: {}", case.name, truncate(&String::from_utf8_lossy(&body), 300)));
                }
            }
            Err(_) => failures.push(format!("[{}] status {status}: body is not JSON: {}", case.name, truncate(&String::from_utf8_lossy(&body), 300))),
        }
        for p in &case.probe {
            let g = s.get(p).await;
            if g.status != 404 && g.status != 400 {
                failures.push(format!("[{}] afterwards GET {p} -> {} (want 404: nothing stored)", case.name, g.status));
            }
        }
    }
    // the server survived and nothing was stored
    let h = s.send(s.client.get(format!("{}/health", s.root))).await;
    if h.status != 200 {
        failures.push(format!("server unhealthy after the corpus: {}", h.status));
    }
    let after = s.system_history_count().await;
    if after != before {
        let entries = s.history_entries("/_history?_count=1000").await;
        let list: Vec<String> = entries
            .iter()
            .map(|e| format!("{} {}", e["request"]["method"], e["fullUrl"]))
            .collect();
        failures.push(format!("system history went from {before} to {after} versions: {list:?}"));
    }
    let g = s.get("/Patient/existing").await;
    if g.status != 200 || g.json() != seeded {
        failures.push(format!("Patient/existing changed: {} {}", g.status, truncate(&g.text(), 300)));
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn body_under_the_limit_is_accepted() {
    // the limit must not reject what fits: a ~90 kB resource with a 100 kB limit
    let limit = MAX_BODY.to_string();
    let s = TestServer::start_with_args(&["--max-body-bytes", &limit]);
    let fam = "y".repeat(MAX_BODY - 10_000);
    let body = json!({"resourceType": "Patient", "name": [{"family": fam}]});
    s.post_json("/Patient", &body).await.expect(201, "90 kB Patient under a 100 kB limit");
}

/// A body shorter than its Content-Length, then the client stops sending: the server must
/// not store anything, must not answer 5xx, and must keep serving.
#[tokio::test]
async fn truncated_body_on_the_wire() {
    let s = TestServer::start();
    let body = r#"{"resourceType":"Patient","gender":"ma"#;
    let req = format!(
        "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len() + 60
    );
    if let Some(r) = raw_http(&s.root, req.into_bytes(), true).await {
        assert!((400..500).contains(&r.status), "truncated body answered {}: {}", r.status, r.head);
    }
    s.send(s.client.get(format!("{}/health", s.root))).await.expect(200, "healthy after truncated body");
    assert_eq!(s.system_history_count().await, 0, "a truncated body must store nothing");
}

/// Over the limit without a Content-Length (chunked): the limit must hold while reading.
#[tokio::test]
async fn oversized_chunked_body_is_413() {
    let limit = MAX_BODY.to_string();
    let s = TestServer::start_with_args(&["--max-body-bytes", &limit]);
    let body = format!(r#"{{"resourceType":"Patient","name":[{{"family":"{}"}}]}}"#, "z".repeat(MAX_BODY * 2));
    let mut req = b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for chunk in body.as_bytes().chunks(8192) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = raw_http(&s.root, req, false).await.expect("a response to an oversized chunked body");
    assert_eq!(r.status, 413, "oversized chunked body: {}", r.head);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("413 body is not JSON ({e}): {}", String::from_utf8_lossy(&r.body)));
    check_outcome(&v).unwrap_or_else(|e| panic!("413 body: {e}"));
    assert_eq!(s.system_history_count().await, 0, "nothing stored");
}

/// A small chunked body (no Content-Length) is accepted like any other.
#[tokio::test]
async fn chunked_body_under_the_limit_is_accepted() {
    let s = TestServer::start();
    let body = r#"{"resourceType":"Patient","gender":"male"}"#;
    let (a, b) = body.split_at(10);
    let req = format!(
        "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let r = raw_http(&s.root, req.into_bytes(), false).await.expect("response");
    assert_eq!(r.status, 201, "chunked create: {} {}", r.head, String::from_utf8_lossy(&r.body));
    assert_eq!(s.system_history_count().await, 1);
}
