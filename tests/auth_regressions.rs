//! One regression test per finding of the access-control review (issue 15), over HTTP
//! against the real binary with real signed tokens. Each failed on the code before the fix.
mod auth_support;
mod common;

use auth_support::*;
use reqwest::Method;
use serde_json::{json, Value};

const SECRET: &str = "Bravowitz";

fn confined(scope: &str) -> String {
    token(json!({"scope": scope, "patient": "A"}))
}

async fn put(s: &common::TestServer, path: &str, body: Value) {
    let r = call(s, Method::PUT, path, Some(&practitioner()), Some(&body)).await;
    assert!(r.status == 200 || r.status == 201, "seed {path}: {} {}", r.status, r.text());
}

fn obs(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": format!("{SECRET}-{patient}")},
        "subject": {"reference": format!("Patient/{patient}")}})
}

async fn seed(s: &common::TestServer) {
    put(s, "/Patient/A", json!({"resourceType": "Patient", "id": "A", "name": [{"family": "Alphason"}]})).await;
    put(s, "/Patient/B", json!({"resourceType": "Patient", "id": "B", "name": [{"family": SECRET}]})).await;
    put(s, "/Observation/oA", obs("oA", "A")).await;
    put(s, "/Observation/oB", obs("oB", "B")).await;
}

fn leaks(text: &str) -> bool {
    text.contains(&format!("{SECRET}-B")) || text.contains("\"family\":\"Bravowitz\"") || text.contains("_hearthBlob")
}

async fn bundle(s: &common::TestServer, tok: &str, kind: &str, entries: Value) -> common::Resp {
    call(s, Method::POST, "", Some(tok), Some(&json!({"resourceType": "Bundle", "type": kind, "entry": entries}))).await
}

/// The current version of B's Observation, as the practitioner sees it.
async fn ob_version(s: &common::TestServer) -> String {
    let r = call(s, Method::GET, "/Observation/oB", Some(&practitioner()), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["meta"]["versionId"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_1_head_entries_are_reads_like_any_other() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    for scope in ["patient/*.rs", "patient/Observation.r patient/Observation.s"] {
        let tok = confined(scope);
        for kind in ["batch", "transaction"] {
            let r = bundle(&s, &tok, kind, json!([{"request": {"method": "HEAD", "url": "Observation"}}, {"request": {"method": "GET", "url": "Observation"}}])).await;
            assert!(!leaks(&r.text()), "{scope} {kind}: {}", r.text());
            if r.status == 200 {
                for e in r.json()["entry"].as_array().expect("entries") {
                    let ids: Vec<&str> = e["resource"]["entry"].as_array().map(|a| a.iter().filter_map(|x| x["resource"]["id"].as_str()).collect()).unwrap_or_default();
                    assert!(!ids.contains(&"oB"), "{scope} {kind}: {ids:?}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_2_instance_writes_with_a_query_are_still_checked() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    let tok = confined("patient/*.cruds");
    let before = ob_version(&s).await;
    let mut evil = obs("oB", "A");
    evil["code"]["text"] = json!("overwritten");
    for (m, body) in [(Method::PUT, Some(&evil)), (Method::DELETE, None)] {
        for path in ["/Observation/oB?x=1", "/Observation/oB?_format=json&x=1"] {
            let r = call(&s, m.clone(), path, Some(&tok), body).await;
            assert_denied(&r, 403, &format!("{m} {path}"), &[SECRET]);
            let mut rb = s.req(m.clone(), path).bearer_auth(&tok).header("if-match", "W/\"1\"");
            if let Some(b) = body {
                rb = common::json_body(rb, b);
            }
            assert_denied(&s.send(rb).await, 403, &format!("{m} {path} If-Match"), &[SECRET]);
        }
    }
    assert_eq!(ob_version(&s).await, before, "B's Observation changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_3_vread_is_decided_on_the_version_served() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    put(&s, "/Observation/moved", obs("moved", "B")).await;
    put(&s, "/Observation/moved", obs("moved", "A")).await;
    let tok = confined("patient/*.rs");
    let r = call(&s, Method::GET, "/Observation/moved/_history/1", Some(&tok), None).await;
    assert_denied(&r, 403, "top-level vread", &[SECRET]);
    assert_eq!(call(&s, Method::GET, "/Observation/moved/_history/2", Some(&tok), None).await.status, 200);
    let r = bundle(&s, &tok, "batch", json!([{"request": {"method": "GET", "url": "Observation/moved/_history/1"}}])).await;
    assert!(!leaks(&r.text()), "{}", r.text());
    if r.status == 200 {
        assert!(r.json()["entry"][0]["response"]["status"].as_str().unwrap_or("").starts_with("403"), "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_4_writes_must_stay_in_the_compartment_as_stored() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    let tok = confined("patient/*.cruds");
    let both = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": "Patient/B"}, "performer": [{"reference": "Patient/A"}]});
    assert_denied(&call(&s, Method::POST, "/Observation", Some(&tok), Some(&both)).await, 403, "subject B performer A", &[SECRET]);
    let own = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/A"}});
    assert_eq!(call(&s, Method::POST, "/Observation", Some(&tok), Some(&own)).await.status, 201);
    // A POSTed Patient whose fullUrl is `.../Patient/A` makes later `Patient/A` references
    // point at the new patient: decided on the references as rewritten.
    let base = s.url("");
    let r = bundle(&s, &tok, "transaction", json!([
        {"fullUrl": format!("{base}/Patient/A"), "resource": {"resourceType": "Patient", "name": [{"family": "New"}]}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": own, "request": {"method": "POST", "url": "Observation"}}
    ])).await;
    assert_denied(&r, 403, "fullUrl Patient/A", &[SECRET]);
    let count = call(&s, Method::GET, "/Patient?name=New&_summary=count", Some(&practitioner()), None).await;
    assert_eq!(count.json()["total"], 0, "nothing of the transaction is stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_5_malformed_claims_are_401() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    let bad = [
        json!({"cognito:groups": ["practitioner"], "custom:tenantId": 7}),
        json!({"cognito:groups": ["practitioner"], "custom:tenantId": ["a"]}),
        json!({"cognito:groups": ["practitioner"], "scope": 1}),
        json!({"cognito:groups": ["practitioner"], "custom:tenantId": ".."}),
        json!({"cognito:groups": 5}),
        json!({"scope": "user/*.rs", "fhirUser": "patient/A"}),
        json!({"scope": "user/*.rs", "fhirUser": "Patient/A_x"}),
        json!({"scope": "user/*.rs", "fhirUser": ["Patient/A"]}),
        json!({"scope": "user/Observation.rs?categroy=laboratory"}),
        json!({"scope": "patient/*.rs", "patient": ["A"]}),
        json!({"scope": "patient/*.zz", "patient": "A"}),
    ];
    for claims in bad {
        let r = call(&s, Method::GET, "/Observation", Some(&token(claims.clone())), None).await;
        assert_denied(&r, 401, &claims.to_string(), &[SECRET]);
    }
    let mut null_tenant = claims(json!({"cognito:groups": ["practitioner"]}));
    null_tenant["custom:tenantId"] = Value::Null;
    let r = call(&s, Method::GET, "/Observation", Some(&sign_rs256(&null_tenant, "rsa1.pem", "rsa-1")), None).await;
    assert_denied(&r, 401, "null tenant", &[SECRET]);
    // Well-formed ones still work.
    let ok = token(json!({"scope": "user/Observation.rs?category=laboratory"}));
    assert_eq!(call(&s, Method::GET, "/Observation", Some(&ok), None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_6_silo_tenants_cannot_name_paths() {
    let (s, _jwks) = start(&[("HEARTH_TENANCY", "silo")]).await;
    let t1 = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t1"}));
    let r = call(&s, Method::PUT, "/Patient/A", Some(&t1), Some(&json!({"resourceType": "Patient", "id": "A", "name": [{"family": SECRET}]}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    for bad in ["..", ".", "../t1", "t1/..", "a.b"] {
        let tok = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": bad}));
        let r = call(&s, Method::GET, "/Patient/A", Some(&tok), None).await;
        assert_denied(&r, 401, bad, &[SECRET]);
    }
    let r = s.send(s.req(Method::GET, "/../tenant/../fhir/Patient/A")).await;
    assert!(!r.text().contains(SECRET));
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_7_unknown_kids_do_not_stall_known_keys() {
    // A JWKS server whose second and later answers hang until released.
    let hold = std::sync::Arc::new(tokio::sync::Notify::new());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (h, n) = (hold.clone(), served.clone());
    let jwks = String::from_utf8(key_file("jwks.json")).expect("utf-8");
    let app = axum::Router::new().route(
        "/pool/.well-known/jwks.json",
        axum::routing::get(move || {
            let (h, n, body) = (h.clone(), n.clone(), jwks.clone());
            async move {
                if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                    h.notified().await;
                }
                ([("content-type", "application/json")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/pool/.well-known/jwks.json", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let env = [("HEARTH_AUTH", "jwt"), ("HEARTH_JWT_ISSUER", ISSUER), ("HEARTH_JWKS_URL", url.as_str()), ("HEARTH_JWT_AUDIENCE", AUDIENCE)];
    let s = tokio::task::block_in_place(|| common::TestServer::start_with_env(&env));
    let good = practitioner();
    assert_eq!(call(&s, Method::GET, "/metadata", Some(&good), None).await.status, 200);
    assert_eq!(call(&s, Method::GET, "/Patient", Some(&good), None).await.status, 200, "first fetch");
    // Wait past the refresh interval so an unknown kid triggers a fetch, which then hangs.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let claims = claims(json!({"cognito:groups": ["practitioner"]}));
    let unknown = sign_rs256(&claims, "rsa1.pem", "unknown-kid");
    let stalled = {
        let s_url = s.url("/Patient");
        tokio::spawn(async move { reqwest::Client::new().get(s_url).bearer_auth(unknown).send().await.map(|r| r.status().as_u16()) })
    };
    while served.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The fetch is in flight and held: a token with a known key must not wait for it.
    let known = tokio::time::timeout(std::time::Duration::from_secs(3), call(&s, Method::GET, "/Patient", Some(&good), None)).await;
    assert_eq!(known.expect("a known key waited for the JWKS fetch").status, 200);
    hold.notify_waiters();
    assert_eq!(stalled.await.expect("join").expect("answer"), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_8_searches_in_bundles_hydrate_binaries() {
    let (authed, _jwks) = start(&[]).await;
    let open = tokio::task::block_in_place(common::TestServer::start);
    for (s, tok) in [(&authed, Some(practitioner())), (&open, None)] {
        let bin = json!({"resourceType": "Binary", "id": "b1", "contentType": "text/plain", "data": "aGVsbG8="});
        assert_eq!(call(s, Method::PUT, "/Binary/b1", tok.as_deref(), Some(&bin)).await.status, 201);
        for kind in ["batch", "transaction"] {
            let b = json!({"resourceType": "Bundle", "type": kind, "entry": [
                {"request": {"method": "GET", "url": "Binary?_id=b1"}}, {"request": {"method": "GET", "url": "?_type=Binary"}}]});
            let r = call(s, Method::POST, "", tok.as_deref(), Some(&b)).await;
            assert_eq!(r.status, 200, "{}", r.text());
            assert!(!r.text().contains("_hearthBlob"), "{kind}: {}", r.text());
            assert_eq!(r.text().matches("aGVsbG8=").count(), 2, "{kind}: {}", r.text());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_9_list_membership_needs_the_list() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    put(&s, "/List/LB", json!({"resourceType": "List", "id": "LB", "status": "current", "mode": "working", "subject": {"reference": "Patient/B"},
        "entry": [{"item": {"reference": "Observation/oB"}}, {"item": {"reference": "Observation/oA"}}]})).await;
    let tok = confined("patient/*.rs");
    assert_denied(&call(&s, Method::GET, "/Observation?_list=LB", Some(&tok), None).await, 403, "_list of B", &[SECRET]);
    let auditor = token(json!({"cognito:groups": ["auditor"]}));
    assert_denied(&call(&s, Method::GET, "/Patient?_list=LB", Some(&auditor), None).await, 403, "auditor _list", &[SECRET]);
    assert_eq!(call(&s, Method::GET, "/Observation?_list=LB", Some(&practitioner()), None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_10_custom_search_parameters_belong_to_their_tenant() {
    let (s, _jwks) = start(&[]).await;
    let t2 = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t2"}));
    let def = practitioner();
    let sp = json!({"resourceType": "SearchParameter", "id": "eye", "url": "http://example.org/sp/eye-colour", "name": "eye", "status": "active",
        "description": "eye colour", "code": "eye-colour", "base": ["Patient"], "type": "token",
        "expression": "Patient.extension('http://example.org/eye').value"});
    let pat = |id: &str| json!({"resourceType": "Patient", "id": id, "extension": [{"url": "http://example.org/eye", "valueCode": "blue"}]});
    for tok in [&t2, &def] {
        assert_eq!(call(&s, Method::PUT, "/Patient/p", Some(tok), Some(&pat("p"))).await.status, 201);
    }
    assert_eq!(call(&s, Method::PUT, "/SearchParameter/eye", Some(&t2), Some(&sp)).await.status, 201);
    // $reindex acts on the caller's tenant only: t2's parameter is in force in t2, not in default.
    let r = call(&s, Method::POST, "/$reindex", Some(&t2), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["parameter"][0]["valueInteger"], 1, "{}", r.text());
    let strict = |tok: &str| s.req(Method::GET, "/Patient?eye-colour=blue").bearer_auth(tok.to_string()).header("prefer", "handling=strict");
    let r = s.send(strict(&t2)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["total"], 1, "{}", r.text());
    assert_eq!(s.send(strict(&def)).await.status, 400, "the default tenant has no such parameter");
    let r = call(&s, Method::POST, "/$reindex", Some(&def), None).await;
    assert_eq!((r.status, r.json()["parameter"][0]["valueInteger"].clone()), (200, json!(0)), "{}", r.text());
    assert_eq!(s.send(strict(&def)).await.status, 400);
    assert_eq!(s.send(strict(&t2)).await.status, 200, "another tenant's $reindex leaves t2's parameters alone");
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_search_parameters_of_a_tenant_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = tokio::task::block_in_place(|| common::TestServer::start_in(dir.path()));
    let sp = json!({"resourceType": "SearchParameter", "id": "eye", "url": "http://example.org/sp/eye-colour", "name": "eye", "status": "active",
        "description": "eye colour", "code": "eye-colour", "base": ["Patient"], "type": "token",
        "expression": "Patient.extension('http://example.org/eye').value"});
    let pat = json!({"resourceType": "Patient", "id": "p", "extension": [{"url": "http://example.org/eye", "valueCode": "blue"}]});
    // Tenant t2 through the URL prefix (no authentication here).
    let t2 = |s: &common::TestServer, p: &str| format!("{}/tenant/t2/fhir{p}", s.url("").trim_end_matches('/').trim_end_matches("/fhir"));
    let http = reqwest::Client::new();
    assert_eq!(s.send(common::json_body(http.put(t2(&s, "/Patient/p")), &pat)).await.status, 201);
    assert_eq!(s.send(common::json_body(http.put(t2(&s, "/SearchParameter/eye")), &sp)).await.status, 201);
    assert_eq!(s.send(http.post(t2(&s, "/$reindex"))).await.status, 200);
    let search = |s: &common::TestServer| http.get(t2(s, "/Patient?eye-colour=blue")).header("prefer", "handling=strict");
    let r = s.send(search(&s)).await;
    assert_eq!((r.status, r.json()["total"].clone()), (200, json!(1)), "{}", r.text());
    s.stop();
    let s2 = tokio::task::block_in_place(|| common::TestServer::start_in(dir.path()));
    let r = s2.send(search(&s2)).await;
    assert_eq!((r.status, r.json()["total"].clone()), (200, json!(1)), "after a restart: {}", r.text());
    assert_eq!(s2.send(s2.req(Method::GET, "/Patient?eye-colour=blue").header("prefer", "handling=strict")).await.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_11_a_confined_token_finds_its_own_patient() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    let tok = confined("patient/*.rs");
    for path in ["/Patient?_id=A", "/Patient", "/Patient/A/Patient", "/?_type=Patient"] {
        let r = call(&s, Method::GET, path, Some(&tok), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let v = r.json();
        let ids: Vec<&str> = v["entry"].as_array().map(|a| a.iter().filter_map(|e| e["resource"]["id"].as_str()).collect()).unwrap_or_default();
        assert_eq!(ids, vec!["A"], "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_entry_methods_and_paths_are_refused() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    let tok = confined("patient/*.cruds");
    for (m, url) in [("OPTIONS", "Observation"), ("TRACE", "Observation/oB"), ("GET", "Nope/1"), ("PUT", "metadata"), ("DELETE", "Observation/oB/_history/1")] {
        let r = bundle(&s, &tok, "transaction", json!([{"request": {"method": m, "url": url}}])).await;
        assert!((400..500).contains(&r.status) && r.status != 401, "{m} {url}: {} {}", r.status, r.text());
        assert!(!leaks(&r.text()), "{m} {url}: {}", r.text());
    }
}

/// Red-team findings after the rewrite: other Patients are other patients, whatever they
/// link to; history pages never show where hidden versions are; `crit` headers are refused.
#[tokio::test(flavor = "multi_thread")]
async fn other_patients_hidden_versions_and_critical_headers() {
    let (s, _jwks) = start(&[]).await;
    seed(&s).await;
    let tok = confined("patient/*.cruds");
    let impostor = json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "B-mrn"}], "link": [{"other": {"reference": "Patient/A"}, "type": "seealso"}]});
    assert_denied(&call(&s, Method::POST, "/Patient", Some(&tok), Some(&impostor)).await, 403, "create a Patient linked to A", &[SECRET]);
    let mut other = impostor.clone();
    other["id"] = json!("C");
    put(&s, "/Patient/C", json!({"resourceType": "Patient", "id": "C", "link": [{"other": {"reference": "Patient/A"}, "type": "seealso"}]})).await;
    assert_denied(&call(&s, Method::PUT, "/Patient/C", Some(&tok), Some(&other)).await, 403, "update a Patient linked to A", &[SECRET]);
    assert_denied(&call(&s, Method::DELETE, "/Patient/C", Some(&tok), None).await, 403, "delete a Patient linked to A", &[SECRET]);
    let tx = json!([{"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": impostor, "request": {"method": "POST", "url": "Patient"}}]);
    assert_denied(&bundle(&s, &tok, "transaction", tx).await, 403, "transaction creating a Patient", &[SECRET]);
    let mut own = json!({"resourceType": "Patient", "id": "A", "name": [{"family": "Alphason"}], "gender": "female"});
    assert_eq!(call(&s, Method::PUT, "/Patient/A", Some(&tok), Some(&own)).await.status, 200);
    own["link"] = json!([{"other": {"reference": "Patient/B"}, "type": "seealso"}]);
    assert_denied(&call(&s, Method::PUT, "/Patient/A", Some(&tok), Some(&own)).await, 403, "link own Patient to B", &[SECRET]);

    // An Observation that was A's (v1), then B's (v2, v3), then A's again (v4).
    for (i, p) in ["A", "B", "B", "A"].into_iter().enumerate() {
        let mut o = obs("moves", p);
        o["code"]["text"] = json!(format!("{SECRET}-{p}-step{i}"));
        put(&s, "/Observation/moves", o).await;
    }
    let read = confined("patient/*.rs");
    let mut seen = Vec::new();
    let mut next = Some("/Observation/moves/_history?_count=1".to_string());
    while let Some(path) = next {
        let r = call(&s, Method::GET, &path, Some(&read), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let b = r.json();
        let page: Vec<String> = b["entry"].as_array().map(|a| a.iter().filter_map(|e| e["resource"]["meta"]["versionId"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        assert!(!page.is_empty(), "an empty page shows a hidden version: {}", r.text());
        assert!(!leaks(&r.text()), "{}", r.text());
        seen.extend(page);
        next = common::next_link(&b);
    }
    assert_eq!(seen, vec!["4", "1"]);

    // A JOSE header with `crit` is refused even with a good signature.
    let header = json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT", "crit": ["exp"]});
    let c = claims(json!({"cognito:groups": ["practitioner"]}));
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let signing_input = format!("{}.{}", b64(&header), b64(&c));
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&key_file("rsa1.pem")).expect("key");
    let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, jsonwebtoken::Algorithm::RS256).expect("sign");
    let tok = format!("{signing_input}.{sig}");
    assert_denied(&call(&s, Method::GET, "/Patient/A", Some(&tok), None).await, 401, "crit header", &[SECRET]);
}
