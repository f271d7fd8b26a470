//! Shared by the access-control tests: test keys, a JWKS served over HTTP on loopback,
//! signed tokens, and a server started with `HEARTH_AUTH=jwt` trusting them.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{json_body, Resp, TestServer};

pub const ISSUER: &str = "https://issuer.test/pool";
pub const AUDIENCE: &str = "hearth-api";

pub fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/auth/{name}", env!("CARGO_MANIFEST_DIR"))).expect("test key")
}

/// A JWKS served by the test itself on 127.0.0.1 (the key set can be swapped).
pub struct Jwks {
    pub url: String,
    pub body: Arc<Mutex<String>>,
}

pub async fn serve_jwks() -> Jwks {
    let body = Arc::new(Mutex::new(String::from_utf8(key_file("jwks.json")).expect("utf-8")));
    let shared = body.clone();
    let app = axum::Router::new().route(
        "/pool/.well-known/jwks.json",
        axum::routing::get(move || {
            let b = shared.lock().expect("lock").clone();
            async move { ([("content-type", "application/json")], b) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind jwks");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Jwks { url: format!("http://{addr}/pool/.well-known/jwks.json"), body }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a valid access token; `extra` members are merged in (null removes).
pub fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "iat": now(), "exp": now() + 600, "token_use": "access"});
    if let (Some(o), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

pub fn sign_rs256(claims: &Value, pem: &str, kid: &str) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(&key_file(pem)).expect("rsa key");
    jsonwebtoken::encode(&h, claims, &key).expect("sign")
}

pub fn sign_es256(claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("ec-1".into());
    let key = EncodingKey::from_ec_pem(&key_file("ec1.pem")).expect("ec key");
    jsonwebtoken::encode(&h, claims, &key).expect("sign")
}

/// A valid RS256 token with these extra claims.
pub fn token(extra: Value) -> String {
    sign_rs256(&claims(extra), "rsa1.pem", "rsa-1")
}

pub fn practitioner() -> String {
    token(json!({"cognito:groups": ["practitioner"]}))
}

pub async fn start(extra_env: &[(&str, &str)]) -> (TestServer, Jwks) {
    let jwks = serve_jwks().await;
    let mut env: Vec<(&str, &str)> = vec![
        ("HEARTH_AUTH", "jwt"),
        ("HEARTH_JWT_ISSUER", ISSUER),
        ("HEARTH_JWKS_URL", jwks.url.as_str()),
        ("HEARTH_JWT_AUDIENCE", "hearth-api,cognito-app-client"),
    ];
    env.extend_from_slice(extra_env);
    let server = tokio::task::block_in_place(|| TestServer::start_with_env(&env));
    (server, jwks)
}

pub async fn call(s: &TestServer, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
    let mut rb = s.req(method, path).header("accept", "application/fhir+json");
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = json_body(rb, b);
    }
    s.send(rb).await
}

/// Asserts a denial: 401 or 403 (as given), an OperationOutcome, and none of `secrets` in
/// the body or the headers.
pub fn assert_denied(r: &Resp, status: u16, ctx: &str, secrets: &[&str]) {
    assert_eq!(r.status, status, "{ctx}: expected {status}, got {} {}", r.status, r.text());
    let v = r.json();
    assert_eq!(v["resourceType"], "OperationOutcome", "{ctx}: {}", r.text());
    if status == 401 {
        assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{ctx}: WWW-Authenticate");
    }
    let headers = format!("{:?}", r.headers);
    for s in secrets {
        assert!(!r.text().contains(s), "{ctx}: body leaks {s}: {}", r.text());
        assert!(!headers.contains(s), "{ctx}: headers leak {s}");
    }
    assert!(r.header("etag").is_none() && r.header("location").is_none() && r.header("last-modified").is_none(), "{ctx}: version headers on a denial");
}
