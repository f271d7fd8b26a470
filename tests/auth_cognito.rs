//! Cognito-shaped tokens from Cognito emulated by `moto[server]` (started by `common::aws`
//! from the virtualenv that scripts/test.sh creates in .cache/venv-moto). Its JWKS is served
//! at `/<pool>/.well-known/jwks.json`; its `iss` is the AWS address, not the emulator's,
//! which is why issuer and JWKS URL are configured separately.
mod auth_support;
mod common;

use std::time::Duration;

use auth_support::{assert_denied, call};
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

struct Moto {
    url: String,
    http: reqwest::Client,
}

impl Moto {
    fn start() -> Moto {
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
        Moto { url: common::aws::moto_url().to_string(), http }
    }

    async fn call(&self, target: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/", self.url))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("AWSCognitoIdentityProviderService.{target}"))
            .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=0")
            .body(body.to_string())
            .send()
            .await
            .expect("moto call");
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{target}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A pool with a tenant attribute, an app client and the default groups.
    async fn pool(&self, name: &str) -> (String, String) {
        let p = self.call("CreateUserPool", json!({"PoolName": name, "Schema": [{"Name": "tenantId", "AttributeDataType": "String", "Mutable": true}]})).await;
        let pool = p["UserPool"]["Id"].as_str().unwrap().to_string();
        let c = self
            .call("CreateUserPoolClient", json!({"UserPoolId": pool, "ClientName": "smart-app", "ExplicitAuthFlows": ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}))
            .await;
        let client = c["UserPoolClient"]["ClientId"].as_str().unwrap().to_string();
        for g in ["practitioner", "non-practitioner", "auditor"] {
            self.call("CreateGroup", json!({"GroupName": g, "UserPoolId": pool})).await;
        }
        (pool, client)
    }

    /// (access token, id token) of a new user in `group` (none: no group) and `tenant`.
    async fn user(&self, pool: &str, client: &str, name: &str, group: Option<&str>, tenant: &str) -> (String, String) {
        self.call("AdminCreateUser", json!({"UserPoolId": pool, "Username": name, "TemporaryPassword": "Tmp-pass-123!",
            "UserAttributes": [{"Name": "custom:tenantId", "Value": tenant}]})).await;
        self.call("AdminSetUserPassword", json!({"UserPoolId": pool, "Username": name, "Password": "Real-pass-123!", "Permanent": true})).await;
        if let Some(g) = group {
            self.call("AdminAddUserToGroup", json!({"UserPoolId": pool, "Username": name, "GroupName": g})).await;
        }
        let r = self
            .call("AdminInitiateAuth", json!({"UserPoolId": pool, "ClientId": client, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                "AuthParameters": {"USERNAME": name, "PASSWORD": "Real-pass-123!"}}))
            .await;
        let a = &r["AuthenticationResult"];
        (a["AccessToken"].as_str().unwrap().to_string(), a["IdToken"].as_str().unwrap().to_string())
    }
}

fn claims_of(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cognito_tokens_from_moto() {
    let moto = Moto::start();
    let (pool, client) = moto.pool("hearth").await;
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}");
    let jwks = format!("{}/{pool}/.well-known/jwks.json", moto.url);
    let s = tokio::task::block_in_place(|| {
        common::TestServer::start_with_env(&[
            ("HEARTH_AUTH", "jwt"),
            ("HEARTH_JWT_ISSUER", &issuer),
            ("HEARTH_JWKS_URL", &jwks),
            ("HEARTH_JWT_AUDIENCE", &client),
        ])
    });
    let (doc_access, doc_id) = moto.user(&pool, &client, "doc", Some("practitioner"), "t1").await;
    assert_eq!(claims_of(&doc_access)["token_use"], "access");
    assert_eq!(claims_of(&doc_access)["client_id"], client.as_str());
    // An access token (client_id, cognito:groups, no tenant claim: the default tenant).
    let pat = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Cognitoson"}]});
    let r = call(&s, Method::PUT, "/Patient/p1", Some(&doc_access), Some(&pat)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(call(&s, Method::GET, "/Patient/p1", Some(&doc_access), None).await.status, 200);
    // An ID token (aud, custom:tenantId = t1): tenant t1, which does not have p1.
    assert_eq!(claims_of(&doc_id)["custom:tenantId"], "t1");
    let t1 = |p: &str| format!("{}/tenant/t1/fhir{p}", s.root);
    let r = s.send(common::json_body(s.req(Method::PUT, &t1("/Patient/p2")), &json!({"resourceType": "Patient", "id": "p2"})).bearer_auth(&doc_id)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(call(&s, Method::GET, "/Patient/p1", Some(&doc_id), None).await.status, 404, "p1 is in the default tenant");
    let r = s.send(s.req(Method::GET, &format!("{}/tenant/t2/fhir/Patient/p2", s.root)).bearer_auth(&doc_id)).await;
    assert_denied(&r, 403, "cross-tenant by URL", &[]);
    // Groups: an auditor reads patients but not observations; a user without a group nothing.
    let (aud_access, _) = moto.user(&pool, &client, "aud", Some("auditor"), "t1").await;
    assert_eq!(call(&s, Method::GET, "/Patient/p1", Some(&aud_access), None).await.status, 200);
    assert_denied(&call(&s, Method::GET, "/Observation", Some(&aud_access), None).await, 403, "auditor on Observation", &[]);
    assert_denied(&call(&s, Method::DELETE, "/Patient/p1", Some(&aud_access), None).await, 403, "auditor delete", &[]);
    let (none_access, _) = moto.user(&pool, &client, "nobody", None, "t1").await;
    assert_denied(&call(&s, Method::GET, "/Patient/p1", Some(&none_access), None).await, 403, "no group", &["Cognitoson"]);
    // A token of another pool (same emulator, same signing key!) fails on its issuer.
    let (pool2, client2) = moto.pool("other").await;
    let (other, _) = moto.user(&pool2, &client2, "doc", Some("practitioner"), "t1").await;
    assert_denied(&call(&s, Method::GET, "/Patient/p1", Some(&other), None).await, 401, "another pool", &["Cognitoson"]);
    // A tampered token (auditor promoted to practitioner) fails on its signature.
    let mut parts: Vec<String> = aud_access.split('.').map(str::to_string).collect();
    let mut c = claims_of(&aud_access);
    c["cognito:groups"] = json!(["practitioner"]);
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
    assert_denied(&call(&s, Method::DELETE, "/Patient/p1", Some(&parts.join(".")), None).await, 401, "tampered", &[]);
    assert_eq!(call(&s, Method::GET, "/Patient/p1", Some(&doc_access), None).await.status, 200, "p1 still there");
}
