//! Bearer-token verification: RS256/ES256 (and the other RSA/EC algorithms) with keys from a
//! JWKS URL (cached; refreshed on an unknown `kid`, at most once per `REFRESH_EVERY`) or from
//! a fixed key set (dev tokens). `alg: none` and HMAC are never accepted.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// Keys are fetched again after this long even when every kid is known (revoked keys leave).
const MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct Key {
    key: DecodingKey,
    /// The algorithm the JWK declares, if any.
    alg: Option<Algorithm>,
    rsa: bool,
}

pub enum KeySource {
    Url(String),
    Fixed,
}

pub struct Verifier {
    pub issuer: String,
    pub audiences: Vec<String>,
    source: KeySource,
    keys: RwLock<HashMap<String, Key>>,
    /// When the last fetch started (never held across a fetch).
    last_fetch: std::sync::Mutex<Option<Instant>>,
    /// Held by the one fetch in flight; verifications with known keys never wait for it.
    refreshing: Mutex<()>,
    http: reqwest::Client,
}

fn keys_of(set: &JwkSet) -> HashMap<String, Key> {
    let mut out = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let rsa = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => true,
            AlgorithmParameters::EllipticCurve(_) => false,
            // Symmetric or unknown keys are never trusted.
            _ => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
        let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
        out.insert(kid, Key { key, alg, rsa });
    }
    out
}

/// Whether the JOSE header carries `crit` (decoded only when the header mentions it).
fn has_critical_extensions(token: &str) -> bool {
    use base64::Engine;
    let head = token.split('.').next().unwrap_or("");
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head.trim_end_matches('=')) else { return true };
    serde_json::from_slice::<Value>(&bytes).map(|h| h.get("crit").is_some()).unwrap_or(true)
}

impl Verifier {
    pub fn new(issuer: String, audiences: Vec<String>, jwks_url: String) -> Verifier {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
        // A key server on this machine is never reached through a proxy.
        let loopback = ["http://127.", "http://localhost", "http://[::1]"].iter().any(|p| jwks_url.starts_with(p));
        if loopback {
            builder = builder.no_proxy();
        }
        let http = builder.build().unwrap_or_default();
        Verifier { issuer, audiences, source: KeySource::Url(jwks_url), keys: RwLock::new(HashMap::new()), last_fetch: std::sync::Mutex::new(None), refreshing: Mutex::new(()), http }
    }

    pub fn with_keys(issuer: String, audiences: Vec<String>, set: &JwkSet) -> Verifier {
        Verifier {
            issuer,
            audiences,
            source: KeySource::Fixed,
            keys: RwLock::new(keys_of(set)),
            last_fetch: std::sync::Mutex::new(None),
            refreshing: Mutex::new(()),
            http: reqwest::Client::new(),
        }
    }

    fn since_fetch(&self) -> Option<Duration> {
        self.last_fetch.lock().ok().and_then(|l| l.map(|t| t.elapsed()))
    }

    /// Fetches the JWKS unless it was fetched less than `REFRESH_EVERY` ago. One fetch runs
    /// at a time; with `wait` false a caller finding one in flight goes on with the keys it has.
    async fn refresh(&self, wait: bool) {
        let KeySource::Url(url) = &self.source else { return };
        let _flight = if wait {
            self.refreshing.lock().await
        } else {
            match self.refreshing.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            }
        };
        if self.since_fetch().is_some_and(|d| d < REFRESH_EVERY) {
            return;
        }
        if let Ok(mut last) = self.last_fetch.lock() {
            *last = Some(Instant::now());
        }
        match self.http.get(url).send().await {
            Ok(resp) if resp.status().is_success() => match resp.json::<JwkSet>().await {
                Ok(set) => {
                    let keys = keys_of(&set);
                    tracing::info!(keys = keys.len(), "JWKS loaded");
                    *self.keys.write().await = keys;
                }
                Err(e) => tracing::warn!(error = %e, "the JWKS is not a valid key set"),
            },
            Ok(resp) => tracing::warn!(status = %resp.status(), "the JWKS could not be fetched"),
            Err(e) => tracing::warn!(error = %e, "the JWKS could not be fetched"),
        }
    }

    async fn key(&self, kid: Option<&str>) -> Option<Key> {
        if matches!(self.source, KeySource::Url(_)) {
            if self.since_fetch().is_some_and(|d| d > MAX_AGE) {
                self.refresh(false).await;
            }
        }
        for attempt in 0..2 {
            {
                let keys = self.keys.read().await;
                let found = match kid {
                    Some(k) => keys.get(k).cloned(),
                    // Without a kid only a one-key set is unambiguous.
                    None if keys.len() == 1 => keys.values().next().cloned(),
                    None => None,
                };
                if found.is_some() {
                    return found;
                }
            }
            if attempt == 0 {
                self.refresh(true).await;
            }
        }
        None
    }

    /// Verifies a compact JWS and returns its claims, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if has_critical_extensions(token) {
            // RFC 7515 4.1.11: extensions marked critical must be understood; none are here.
            return Err("the token's header has critical extensions this server does not understand".into());
        }
        let alg = header.alg;
        let is_rsa = matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512);
        let is_ec = matches!(alg, Algorithm::ES256 | Algorithm::ES384);
        if !is_rsa && !is_ec {
            return Err(format!("algorithm {alg:?} is not accepted"));
        }
        let key = self.key(header.kid.as_deref()).await.ok_or("the token's signing key is unknown")?;
        if key.rsa != is_rsa || key.alg.is_some_and(|a| a != alg) {
            return Err("the token's algorithm does not match its key".into());
        }
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.validate_exp = true;
        v.set_required_spec_claims(&["exp", "iss"]);
        v.set_issuer(&[self.issuer.as_str()]);
        // Audience is checked below: Cognito access tokens carry `client_id` instead of `aud`.
        v.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &v).map_err(|e| format!("invalid token: {e}"))?;
        let claims = data.claims;
        let now = chrono::Utc::now().timestamp();
        if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
            if iat > now + LEEWAY_SECS as i64 {
                return Err("the token was issued in the future".into());
            }
        }
        match claims.get("token_use").and_then(Value::as_str) {
            None | Some("access") | Some("id") => {}
            Some(other) => return Err(format!("token_use '{other}' is not accepted")),
        }
        if !self.audiences.is_empty() {
            let mut auds: Vec<&str> = match claims.get("aud") {
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if auds.is_empty() {
                if let Some(c) = claims.get("client_id").and_then(Value::as_str) {
                    auds.push(c);
                }
            }
            if !auds.iter().any(|a| self.audiences.iter().any(|x| x == a)) {
                return Err("the token is not for this audience".into());
            }
        }
        Ok(claims)
    }
}
