//! Access control over HTTP against the real binary: tokens signed by test keys whose JWKS
//! the test serves on loopback; the attack suite of issue 5; tenants; role rules.
mod auth_support;
mod common;

use auth_support::*;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

const SECRET_NAME: &str = "Bravowitz";

async fn put(s: &common::TestServer, path: &str, body: Value, tok: &str) {
    let r = call(s, Method::PUT, path, Some(tok), Some(&body)).await;
    assert!(r.status == 200 || r.status == 201, "seed {path}: {} {}", r.status, r.text());
}

/// Patients A and B, each with a laboratory and a vital-signs Observation, an Encounter.
async fn seed(s: &common::TestServer, tok: &str) {
    put(s, "/Patient/A", json!({"resourceType": "Patient", "id": "A", "name": [{"family": "Alphason"}]}), tok).await;
    put(s, "/Patient/B", json!({"resourceType": "Patient", "id": "B", "name": [{"family": SECRET_NAME}]}), tok).await;
    for (p, kind) in [("A", "laboratory"), ("A", "vital-signs"), ("B", "laboratory"), ("B", "vital-signs")] {
        let id = format!("o{p}-{kind}");
        let obs = json!({"resourceType": "Observation", "id": id, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": kind}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": format!("secret-{p}")},
            "subject": {"reference": format!("Patient/{p}")}});
        put(s, &format!("/Observation/{id}"), obs, tok).await;
    }
    put(s, "/Encounter/eB", json!({"resourceType": "Encounter", "id": "eB", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, "subject": {"reference": "Patient/B"}}), tok).await;
}

fn ids(bundle: &Value) -> Vec<String> {
    let mut v: Vec<String> = bundle["entry"].as_array().map(|a| a.iter().filter_map(|e| {
        let r = &e["resource"];
        (r["resourceType"] != "OperationOutcome").then(|| format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or("")))
    }).collect()).unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_invalid_tokens_are_refused() {
    let (s, _jwks) = start(&[]).await;
    let prac = practitioner();
    seed(&s, &prac).await;
    let path = "/Patient/B";
    let secrets = [SECRET_NAME];
    // No token, or not a bearer token.
    assert_denied(&call(&s, Method::GET, path, None, None).await, 401, "no token", &secrets);
    let r = s.send(s.req(Method::GET, path).header("authorization", "Basic dXNlcjpwYXNz")).await;
    assert_denied(&r, 401, "basic auth", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some("not.a.jwt"), None).await, 401, "garbage", &secrets);
    let good = claims(json!({"cognito:groups": ["practitioner"]}));
    // Forged: the attacker's key under the trusted kid.
    assert_denied(&call(&s, Method::GET, path, Some(&sign_rs256(&good, "rsa2.pem", "rsa-1")), None).await, 401, "forged signature", &secrets);
    // Unknown kid.
    assert_denied(&call(&s, Method::GET, path, Some(&sign_rs256(&good, "rsa1.pem", "nope")), None).await, 401, "unknown kid", &secrets);
    // alg: none.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"})), b64(&good));
    assert_denied(&call(&s, Method::GET, path, Some(&none), None).await, 401, "alg none", &secrets);
    // HS256 "signed" with the public key (algorithm confusion).
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("rsa-1".into());
    let hs = jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(&key_file("rsa1.pub.pem"))).unwrap();
    assert_denied(&call(&s, Method::GET, path, Some(&hs), None).await, 401, "HS256 with the public key", &secrets);
    // An RS256 header on the EC key's kid.
    assert_denied(&call(&s, Method::GET, path, Some(&sign_rs256(&good, "rsa1.pem", "ec-1")), None).await, 401, "alg/key mismatch", &secrets);
    let bad = |extra: Value| token(json!({"cognito:groups": ["practitioner"]}).as_object().unwrap().clone().into_iter().chain(extra.as_object().unwrap().clone()).collect::<serde_json::Map<_, _>>().into());
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"exp": now() - 3600}))), None).await, 401, "expired", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"nbf": now() + 3600}))), None).await, 401, "not yet valid", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"iat": now() + 3600}))), None).await, 401, "issued in the future", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"iss": "https://evil.test/pool"}))), None).await, 401, "wrong issuer", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"aud": "other-app"}))), None).await, 401, "wrong audience", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"aud": null}))), None).await, 401, "no audience", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"exp": null}))), None).await, 401, "no expiry", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&bad(json!({"token_use": "refresh"}))), None).await, 401, "token_use refresh", &secrets);
    // Valid signature, but no group / an unknown group.
    assert_denied(&call(&s, Method::GET, path, Some(&token(json!({}))), None).await, 403, "missing group", &secrets);
    assert_denied(&call(&s, Method::GET, path, Some(&token(json!({"cognito:groups": ["admins"]}))), None).await, 403, "unknown group", &secrets);
    // Denied searches reveal no count either.
    let r = call(&s, Method::GET, "/Patient?_summary=count", Some(&token(json!({"cognito:groups": ["admins"]}))), None).await;
    assert_denied(&r, 403, "count with an unknown group", &["\"total\""]);
    // The same request with good tokens works: RS256, ES256, and a Cognito access token
    // that names its app client in client_id instead of aud.
    assert_eq!(call(&s, Method::GET, path, Some(&prac), None).await.status, 200);
    let es = sign_es256(&claims(json!({"cognito:groups": ["practitioner"]})));
    assert_eq!(call(&s, Method::GET, path, Some(&es), None).await.status, 200, "ES256");
    let cognito_access = token(json!({"aud": null, "client_id": "cognito-app-client", "cognito:groups": ["practitioner"]}));
    assert_eq!(call(&s, Method::GET, path, Some(&cognito_access), None).await.status, 200, "client_id audience");
    // The CapabilityStatement stays public and advertises the OAuth endpoints.
    let cs = call(&s, Method::GET, "/metadata", None, None).await;
    assert_eq!(cs.status, 200);
    let sec = &cs.json()["rest"][0]["security"];
    assert_eq!(sec["extension"][0]["url"], "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris", "{sec}");
    let sc = call(&s, Method::GET, "/.well-known/smart-configuration", None, None).await;
    assert_eq!(sc.status, 200, "{}", sc.text());
    // Only what the authorization server does (by default what Cognito does on its own).
    let has = |k: &str, v: &str| sc.json()[k].as_array().unwrap().iter().any(|c| c == v);
    assert!(has("capabilities", "launch-standalone") && !has("capabilities", "permission-v2") && !has("capabilities", "context-standalone-patient"));
    assert!(!has("token_endpoint_auth_methods_supported", "private_key_jwt") && !has("scopes_supported", "patient/*.rs"));
    // The audit record carries the request id the client sent (and the answer repeats).
    let r = s.send(s.req(Method::GET, "/Patient/A").bearer_auth(&prac).header("x-request-id", "trace-42")).await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("trace-42"));
    // Every request was audited, denials included, with no resource content. Lines are
    // appended by a background thread: wait (a little) for the last one.
    let mut audit = String::new();
    for _ in 0..100 {
        audit = std::fs::read_to_string(s.data_dir.join("audit.jsonl")).expect("audit log");
        if audit.contains("trace-42") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let lines: Vec<Value> = audit.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(lines.len() >= 20, "{} audit lines", lines.len());
    assert!(lines.iter().any(|l| l["outcome"] == "denied" && l["status"] == 401));
    assert!(lines.iter().any(|l| l["outcome"] == "success" && l["interaction"] == "read" && l["resource_type"] == "Patient" && l["id"] == "B" && l["principal"] == "user-1"));
    assert!(lines.iter().any(|l| l["request_id"] == "trace-42" && l["id"] == "A" && l["tenant"] == "default"));
    assert!(!audit.contains(SECRET_NAME), "the audit log holds resource content");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patient_token_stays_in_its_compartment() {
    let (s, _jwks) = start(&[]).await;
    seed(&s, &practitioner()).await;
    let pa = token(json!({"scope": "openid launch/patient patient/*.rs", "patient": "A"}));
    let t = Some(pa.as_str());
    let secrets = [SECRET_NAME, "secret-B"];
    // Own data is there.
    assert_eq!(call(&s, Method::GET, "/Patient/A", t, None).await.status, 200);
    assert_eq!(call(&s, Method::GET, "/Observation/oA-laboratory", t, None).await.status, 200);
    let r = call(&s, Method::GET, "/Observation", t, None).await;
    assert_eq!(ids(&r.json()), vec!["Observation/oA-laboratory", "Observation/oA-vital-signs"], "search is confined");
    assert_eq!(r.json()["total"], 2);
    // read, vread, instance history of B's data; a missing id looks the same.
    for p in ["/Patient/B", "/Observation/oB-laboratory", "/Observation/oB-laboratory/_history/1", "/Observation/oB-laboratory/_history", "/Observation/nothing-here", "/Encounter/eB"] {
        assert_denied(&call(&s, Method::GET, p, t, None).await, 403, p, &secrets);
    }
    // Counts only count what the token may see.
    let r = call(&s, Method::GET, "/Observation?_summary=count", t, None).await;
    assert_eq!(r.json()["total"], 2, "{}", r.text());
    let r = call(&s, Method::GET, "/Observation?code=8867-4&_total=accurate", t, None).await;
    assert_eq!(r.json()["total"], 2);
    let r = call(&s, Method::GET, "/Patient?_id=B", t, None).await;
    assert_eq!(r.json()["total"], 0, "{}", r.text());
    assert!(!r.text().contains(SECRET_NAME));
    // Chains and _has would look outside the compartment.
    assert_denied(&call(&s, Method::GET, &format!("/Observation?subject:Patient.name={SECRET_NAME}"), t, None).await, 403, "chain", &secrets);
    assert_denied(&call(&s, Method::GET, "/Patient?_has:Observation:subject:code=8867-4", t, None).await, 403, "_has", &secrets);
    // _include / _revinclude bring nothing of B.
    let r = call(&s, Method::GET, "/Observation?_include=Observation:subject", t, None).await;
    assert_eq!(ids(&r.json()), vec!["Observation/oA-laboratory", "Observation/oA-vital-signs", "Patient/A"]);
    let r = call(&s, Method::GET, "/Patient?_revinclude=Observation:subject&_revinclude=Encounter:subject", t, None).await;
    assert!(!r.text().contains("oB-") && !r.text().contains("eB") && !r.text().contains(SECRET_NAME), "{}", r.text());
    // Compartment search of B; type and system history.
    assert_denied(&call(&s, Method::GET, "/Patient/B/Observation", t, None).await, 403, "compartment search", &secrets);
    let r = call(&s, Method::GET, "/Patient/A/Observation", t, None).await;
    assert_eq!(ids(&r.json()).len(), 2);
    assert_denied(&call(&s, Method::GET, "/Observation/_history", t, None).await, 403, "type history", &secrets);
    assert_denied(&call(&s, Method::GET, "/_history", t, None).await, 403, "system history", &secrets);
    assert_denied(&call(&s, Method::GET, "/?_type=Observation,Patient", t, None).await, 403, "system search", &secrets);
    // batch and transaction entries: each decided as if sent on its own (in a batch a denied
    // entry answers 403; a transaction with one is refused whole).
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/oA-laboratory"}},
        {"request": {"method": "GET", "url": "Observation/oB-laboratory"}}]});
    let r = call(&s, Method::POST, "", t, Some(&batch)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["entry"][0]["response"]["status"], "200 OK");
    assert!(r.json()["entry"][1]["response"]["status"].as_str().unwrap_or("").starts_with("403"), "{}", r.text());
    assert!(!r.text().contains("secret-B"), "batch read leaks: {}", r.text());
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": batch["entry"].clone()});
    assert_denied(&call(&s, Method::POST, "", t, Some(&tx)).await, 403, "transaction read", &secrets);
    for url in ["Observation?subject=Patient/B", "Patient/B/Observation", "Observation/_history", "_history"] {
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": url}}]});
        let r = call(&s, Method::POST, "", t, Some(&batch)).await;
        assert!(!r.text().contains("secret-B") && !r.text().contains("oB-"), "batch GET {url} leaks: {}", r.text());
        let st = r.json()["entry"][0]["response"]["status"].as_str().unwrap_or("").to_string();
        assert!(st.starts_with("403") || (st.starts_with("200") && url.starts_with("Observation?")), "batch GET {url}: {st}");
    }
    // Writes with a read scope.
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/A"}});
    assert_denied(&call(&s, Method::POST, "/Observation", t, Some(&obs)).await, 403, "create with a read scope", &secrets);
    assert_denied(&call(&s, Method::DELETE, "/Observation/oA-laboratory", t, None).await, 403, "delete with a read scope", &secrets);
    // A write scope still stays in the compartment.
    let pw = token(json!({"scope": "patient/*.cruds", "patient": "A"}));
    let w = Some(pw.as_str());
    assert_eq!(call(&s, Method::POST, "/Observation", w, Some(&obs)).await.status, 201);
    let obs_b = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/B"}});
    assert_denied(&call(&s, Method::POST, "/Observation", w, Some(&obs_b)).await, 403, "create in B", &secrets);
    let mut moved = obs_b.clone();
    moved["id"] = json!("oB-laboratory");
    assert_denied(&call(&s, Method::PUT, "/Observation/oB-laboratory", w, Some(&moved)).await, 403, "update B's", &secrets);
    assert_denied(&call(&s, Method::DELETE, "/Observation/oB-laboratory", w, None).await, 403, "delete B's", &secrets);
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": obs_b, "request": {"method": "POST", "url": "Observation"}}]});
    assert_denied(&call(&s, Method::POST, "", w, Some(&tx)).await, 403, "transaction into B", &secrets);
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Observation/oB-vital-signs"}}]});
    assert_denied(&call(&s, Method::POST, "", w, Some(&tx)).await, 403, "transaction delete of B's", &secrets);
    // PATCH: within the compartment yes, moving a resource into B's no (nor by a Bundle).
    let jp = |ops: Value| s.req(Method::PATCH, "/Observation/oA-vital-signs").bearer_auth(&pw).header("content-type", "application/json-patch+json").body(ops.to_string());
    let r = s.send(jp(json!([{"op": "replace", "path": "/status", "value": "amended"}]))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.send(jp(json!([{"op": "replace", "path": "/subject/reference", "value": "Patient/B"}]))).await;
    assert_denied(&r, 403, "patch into B", &secrets);
    let r = s.send(s.req(Method::PATCH, "/Observation/oB-vital-signs").bearer_auth(&pw).header("content-type", "application/json-patch+json").body(json!([{"op": "replace", "path": "/status", "value": "amended"}]).to_string())).await;
    assert_denied(&r, 403, "patch of B's", &secrets);
    let r = call(&s, Method::GET, "/Observation/oA-vital-signs", Some(&practitioner()), None).await;
    assert!(r.text().contains("Patient/A") && r.text().contains("amended"), "{}", r.text());
    // A sorted search's page cursor (an in-memory snapshot) gives nothing to another caller.
    let r = call(&s, Method::GET, "/Observation?_sort=-_lastUpdated&_count=1", Some(&practitioner()), None).await;
    let next = common::next_link(&r.json()).expect("a next link");
    assert!(next.contains("_cursor=s"), "{next}");
    let r = call(&s, Method::GET, &next, t, None).await;
    assert!(!r.text().contains("secret-B") && !r.text().contains("oB-"), "a snapshot cursor leaked: {}", r.text());
    let other_tenant = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t9"}));
    let r = call(&s, Method::GET, &next, Some(&other_tenant), None).await;
    assert!(!r.text().contains("secret-") && !r.text().contains("\"Observation\""), "a snapshot cursor crossed tenants: {}", r.text());
    // Operations that touch data are not for restricted tokens.
    assert_denied(&call(&s, Method::POST, "/$reindex", w, None).await, 403, "$reindex", &secrets);
    // B's data is untouched.
    let r = call(&s, Method::GET, "/Observation/oB-vital-signs", Some(&practitioner()), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_v2_query_filtered_scopes() {
    let (s, _jwks) = start(&[]).await;
    seed(&s, &practitioner()).await;
    let lab = token(json!({"scope": "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory patient/Patient.r", "patient": "A"}));
    let t = Some(lab.as_str());
    let r = call(&s, Method::GET, "/Observation", t, None).await;
    assert_eq!(ids(&r.json()), vec!["Observation/oA-laboratory"], "{}", r.text());
    assert_eq!(call(&s, Method::GET, "/Observation/oA-laboratory", t, None).await.status, 200);
    assert_denied(&call(&s, Method::GET, "/Observation/oA-vital-signs", t, None).await, 403, "outside the filter", &[]);
    assert_eq!(call(&s, Method::GET, "/Patient/A", t, None).await.status, 200);
    // r without s: no search of Patient; no Encounter at all.
    assert_denied(&call(&s, Method::GET, "/Patient", t, None).await, 403, "search without s", &[]);
    assert_denied(&call(&s, Method::GET, "/Encounter", t, None).await, 403, "type not in scope", &[]);
    // user/ scopes (v1) are not confined to a patient; system/ neither.
    let user = token(json!({"scope": "user/Observation.read"}));
    assert_eq!(ids(&call(&s, Method::GET, "/Observation", Some(&user), None).await.json()).len(), 4);
    assert_denied(&call(&s, Method::PUT, "/Observation/oA-laboratory", Some(&user), Some(&json!({"resourceType": "Observation"}))).await, 403, "v1 read used to write", &[]);
    let sys = token(json!({"scope": "system/*.*"}));
    assert_eq!(call(&s, Method::GET, "/Encounter/eB", Some(&sys), None).await.status, 200);
    // A conditional reference searches its type: a token that may write Observations but not
    // search Patients cannot learn through a transaction whether a Patient matches.
    let writer = token(json!({"scope": "user/Observation.cruds"}));
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "request": {"method": "POST", "url": "Observation"},
        "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                     "subject": {"reference": "Patient?name=A"}}}]});
    let r = call(&s, Method::POST, "", Some(&writer), Some(&tx)).await;
    assert_denied(&r, 403, "conditional reference to a type not searchable", &[]);
    assert!(r.text().contains("search Patient"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_kept_apart() {
    let (s, _jwks) = start(&[]).await;
    let t1 = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t1"}));
    let t2 = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t2"}));
    let pat = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": SECRET_NAME}]});
    let r = s.send(common::json_body(s.req(Method::PUT, &format!("{}/tenant/t1/fhir/Patient/p1", s.root)), &pat).bearer_auth(&t1)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.header("location").unwrap_or_default().contains("/tenant/t1/fhir/Patient/p1"), "{:?}", r.header("location"));
    let get = |path: String, tok: String| {
        let s = &s;
        async move { s.send(s.req(Method::GET, &path).bearer_auth(tok).header("accept", "application/fhir+json")).await }
    };
    // Same tenant, by URL and by token alone.
    assert_eq!(get(format!("{}/tenant/t1/fhir/Patient/p1", s.root), t1.clone()).await.status, 200);
    assert_eq!(get(format!("{}/fhir/Patient/p1", s.root), t1.clone()).await.status, 200);
    // Another tenant's token on t1's URL; its own tenant does not have the data.
    assert_denied(&get(format!("{}/tenant/t1/fhir/Patient/p1", s.root), t2.clone()).await, 403, "cross-tenant URL", &[SECRET_NAME]);
    assert_eq!(get(format!("{}/fhir/Patient/p1", s.root), t2.clone()).await.status, 404);
    assert_eq!(get(format!("{}/tenant/t2/fhir/Patient/p1", s.root), t2.clone()).await.status, 404);
    let r = get(format!("{}/fhir/Patient?_summary=count", s.root), t2.clone()).await;
    assert_eq!(r.json()["total"], 0);
    // A token without a tenant is in the default tenant only.
    assert_denied(&get(format!("{}/tenant/t1/fhir/Patient/p1", s.root), practitioner()).await, 403, "no tenant claim", &[SECRET_NAME]);
    assert_eq!(get(format!("{}/fhir/Patient/p1", s.root), practitioner()).await.status, 404);
    // The same id in two tenants are two resources.
    let other = json!({"resourceType": "Patient", "id": "p1", "active": true});
    let r = s.send(common::json_body(s.req(Method::PUT, &format!("{}/tenant/t2/fhir/Patient/p1", s.root)), &other).bearer_auth(&t2)).await;
    assert_eq!(r.status, 201);
    let r = get(format!("{}/tenant/t1/fhir/Patient/p1", s.root), t1.clone()).await;
    assert!(r.text().contains(SECRET_NAME) && !r.text().contains("active"));
}

/// Each default group can do exactly what rules/default.json says, interaction by interaction.
#[tokio::test(flavor = "multi_thread")]
async fn default_role_rules_per_interaction() {
    let (s, _jwks) = start(&[]).await;
    let prac = practitioner();
    put(&s, "/Patient/p", json!({"resourceType": "Patient", "id": "p"}), &prac).await;
    put(&s, "/Coverage/c", json!({"resourceType": "Coverage", "id": "c", "status": "active",
        "beneficiary": {"reference": "Patient/p"}, "payor": [{"reference": "Patient/p"}]}), &prac).await;
    put(&s, "/Observation/o", json!({"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"}}), &prac).await;
    // (method, path, body type, interaction label)
    let cases: Vec<(Method, String, Option<&str>, &str, &str)> = ["Patient", "Coverage", "Observation"]
        .iter()
        .flat_map(|t| {
            let id = &t[..1].to_lowercase();
            vec![
                (Method::GET, format!("/{t}/{id}"), None, "read", *t),
                (Method::GET, format!("/{t}/{id}/_history/1"), None, "vread", *t),
                (Method::GET, format!("/{t}"), None, "search-type", *t),
                (Method::GET, format!("/{t}/{id}/_history"), None, "history-instance", *t),
                (Method::GET, format!("/{t}/_history"), None, "history-type", *t),
                (Method::POST, format!("/{t}"), Some(*t), "create", *t),
                (Method::PUT, format!("/{t}/{id}"), Some(*t), "update", *t),
                (Method::DELETE, format!("/{t}/new-{id}"), None, "delete", *t),
            ]
        })
        .collect();
    let expected = |group: &str, interaction: &str, t: &str| match group {
        "practitioner" => true,
        "non-practitioner" => t == "Coverage" && ["read", "vread", "search-type"].contains(&interaction),
        "auditor" => t == "Patient" && ["read", "vread", "search-type"].contains(&interaction),
        _ => false,
    };
    let body_for = |t: &str, id: Option<&str>| {
        let mut b = match t {
            "Patient" => json!({"resourceType": "Patient"}),
            "Coverage" => json!({"resourceType": "Coverage", "status": "active", "beneficiary": {"reference": "Patient/p"}, "payor": [{"reference": "Patient/p"}]}),
            _ => json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        };
        if let Some(id) = id {
            b["id"] = json!(id);
        }
        b
    };
    let mut failures = Vec::new();
    for group in ["practitioner", "non-practitioner", "auditor"] {
        let tok = token(json!({"cognito:groups": [group]}));
        for (m, path, body_type, interaction, t) in &cases {
            let body = body_type.map(|bt| body_for(bt, path.rsplit('/').next().filter(|_| *m == Method::PUT)));
            let r = call(&s, m.clone(), path, Some(&tok), body.as_ref()).await;
            let allowed = r.status < 400;
            if allowed != expected(group, interaction, t) || (!allowed && r.status != 403) {
                failures.push(format!("{group} {interaction} {path}: {} {}", r.status, common::truncate(&r.text(), 200)));
            }
        }
        // System-level interactions need every type.
        let r = call(&s, Method::GET, "/_history", Some(&tok), None).await;
        if (r.status == 200) != (group == "practitioner") {
            failures.push(format!("{group} history-system: {}", r.status));
        }
        let r = call(&s, Method::GET, "/?_type=Patient", Some(&tok), None).await;
        if (r.status == 200) != (group == "practitioner") {
            failures.push(format!("{group} search-system: {}", r.status));
        }
        // _include brings only types the group may read.
        let r = call(&s, Method::GET, "/Coverage?_include=Coverage:beneficiary", Some(&tok), None).await;
        if group == "non-practitioner" && (r.status != 200 || r.text().contains("\"Patient\"")) {
            failures.push(format!("{group} include: {} {}", r.status, r.text()));
        }
        // Chains and _has may only look into types the group may search.
        let r = call(&s, Method::GET, "/Coverage?beneficiary:Patient.name=x", Some(&tok), None).await;
        let expected_chain = if group == "practitioner" { 200 } else { 403 };
        if r.status != expected_chain {
            failures.push(format!("{group} chain into Patient: {}", r.status));
        }
        let r = call(&s, Method::GET, "/Patient?_has:Observation:subject:code=x", Some(&tok), None).await;
        if r.status != expected_chain {
            failures.push(format!("{group} _has from Observation: {}", r.status));
        }
        // Every batch entry is checked.
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Observation/o"}}]});
        let r = call(&s, Method::POST, "", Some(&tok), Some(&batch)).await;
        let entry_ok = r.status == 200 && r.json()["entry"][0]["response"]["status"].as_str().is_some_and(|x| x.starts_with("200"));
        if entry_ok != (group == "practitioner") {
            failures.push(format!("{group} batch with an Observation read: {}", r.status));
        }
    }
    assert!(failures.is_empty(), "rules not applied as written:\n{}", failures.join("\n"));
}
