//! Access control: who is calling (a verified JWT -> `Principal`) and whether they may
//! (role rules from groups, SMART scopes, the patient compartment, the tenant). The routes
//! ask this layer; the service layer below knows nothing of it.
pub mod audit;
pub mod devkey;
pub mod gate;
pub mod guard;
pub mod interaction;
pub mod jwt;
pub mod principal;
pub mod rules;
pub mod scopes;

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{header, HeaderMap};

use crate::config::ServeConfig;
use crate::error::FhirError;
use audit::AuditLog;
use principal::Principal;
use rules::Rules;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No authentication: every request may do everything (loopback only by default).
    None,
    /// Bearer JWTs from an OpenID Connect issuer (Cognito or another), keys from its JWKS.
    Jwt,
    /// Bearer JWTs signed by the local development key (`hearth token`).
    Dev,
}

pub struct Auth {
    pub mode: Mode,
    verifier: Option<jwt::Verifier>,
    pub rules: Rules,
    pub groups_claim: String,
    pub tenant_claim: String,
    pub audit: AuditLog,
    /// Also store an AuditEvent resource per request.
    pub audit_events: bool,
    /// For the CapabilityStatement and `.well-known/smart-configuration`.
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub jwks_url: Option<String>,
}

/// The dev key file of a data directory unless configured.
pub fn dev_key_path(config_path: Option<&PathBuf>, data_dir: &std::path::Path) -> PathBuf {
    config_path.cloned().unwrap_or_else(|| data_dir.join("dev-signing-key.p8"))
}

impl Auth {
    /// No authentication, no audit file (tests of the layers below).
    pub fn none() -> Auth {
        Auth {
            mode: Mode::None,
            verifier: None,
            rules: Rules::builtin(),
            groups_claim: "cognito:groups".into(),
            tenant_claim: "custom:tenantId".into(),
            audit: AuditLog::disabled(),
            audit_events: false,
            issuer: None,
            authorize_url: None,
            token_url: None,
            jwks_url: None,
        }
    }

    pub fn from_config(c: &ServeConfig) -> Result<Auth, String> {
        let loopback = c.listen.ip().is_loopback();
        let mode = match c.auth.as_deref().map(str::trim) {
            None | Some("") => Mode::None,
            Some("none") => Mode::None,
            Some("jwt") => Mode::Jwt,
            Some("dev") => Mode::Dev,
            Some(other) => return Err(format!("HEARTH_AUTH must be none, jwt or dev, not '{other}'")),
        };
        if mode == Mode::None && !loopback && !c.insecure_no_auth {
            return Err(format!(
                "refusing to serve {} without authentication: set HEARTH_AUTH=jwt (or dev), or pass --insecure-no-auth",
                c.listen
            ));
        }
        let rules = Rules::load(c.rules_file.as_deref())?;
        let audiences: Vec<String> = c.jwt_audience.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        let (verifier, issuer) = match mode {
            Mode::None => (None, c.jwt_issuer.clone()),
            Mode::Jwt => {
                let issuer = c.jwt_issuer.clone().ok_or("HEARTH_AUTH=jwt needs HEARTH_JWT_ISSUER")?;
                let url = c.jwks_url.clone().unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
                if audiences.is_empty() {
                    return Err("HEARTH_AUTH=jwt needs HEARTH_JWT_AUDIENCE (the app client ids or audiences to accept)".into());
                }
                (Some(jwt::Verifier::new(issuer.clone(), audiences, url)), Some(issuer))
            }
            Mode::Dev => {
                let key = devkey::DevKey::load_or_create(&dev_key_path(c.dev_key_file.as_ref(), &c.data_dir))?;
                let aud = if audiences.is_empty() { vec![devkey::DEV_AUDIENCE.to_string()] } else { audiences };
                (Some(jwt::Verifier::with_keys(devkey::DEV_ISSUER.into(), aud, &key.jwks()?)), Some(devkey::DEV_ISSUER.to_string()))
            }
        };
        let audit_path = c.audit_log.clone().unwrap_or_else(|| c.data_dir.join("audit.jsonl"));
        let audit = if c.audit_log.as_deref().is_some_and(|p| p.as_os_str() == "off") { AuditLog::disabled() } else { AuditLog::open(&audit_path)? };
        let base = issuer.as_deref().map(|i| i.trim_end_matches('/').to_string());
        Ok(Auth {
            mode,
            verifier,
            rules,
            groups_claim: c.groups_claim.clone(),
            tenant_claim: c.tenant_claim.clone(),
            audit,
            audit_events: c.audit_events,
            authorize_url: c.oauth_authorize_url.clone().or_else(|| base.as_ref().map(|b| format!("{b}/oauth2/authorize"))),
            token_url: c.oauth_token_url.clone().or_else(|| base.as_ref().map(|b| format!("{b}/oauth2/token"))),
            jwks_url: c.jwks_url.clone().or_else(|| base.as_ref().filter(|_| mode == Mode::Jwt).map(|b| format!("{b}/.well-known/jwks.json"))),
            issuer,
        })
    }

    /// The caller: `Ok(None)` without authentication (mode `none`); 401 without a valid token.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<Principal>>, FhirError> {
        let Some(verifier) = &self.verifier else { return Ok(None) };
        let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let token = match value.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim(),
            _ => return Err(FhirError::Unauthorized("a Bearer token is required".into())),
        };
        let claims = verifier.verify(token).await.map_err(FhirError::Unauthorized)?;
        let principal = Principal::from_claims(&claims, &self.groups_claim, &self.tenant_claim).map_err(FhirError::Unauthorized)?;
        Ok(Some(Arc::new(principal)))
    }
}

/// `hearth token`: prints a token signed by the dev key.
pub fn mint_dev_token(c: &crate::config::TokenConfig) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let key = devkey::DevKey::load_or_create(&dev_key_path(c.dev_key_file.as_ref(), &c.data_dir))?;
    let mut claims = serde_json::json!({"sub": c.sub, "token_use": "access", "client_id": devkey::DEV_AUDIENCE});
    if !c.groups.is_empty() {
        claims[c.groups_claim.as_str()] = serde_json::json!(c.groups);
    }
    if let Some(s) = &c.scope {
        claims["scope"] = serde_json::json!(s);
    }
    if let Some(p) = &c.patient {
        claims["patient"] = serde_json::json!(p);
    }
    if let Some(t) = &c.tenant {
        claims[c.tenant_claim.as_str()] = serde_json::json!(t);
    }
    if let Some(u) = &c.fhir_user {
        claims["fhirUser"] = serde_json::json!(u);
    }
    println!("{}", key.mint(claims, c.ttl)?);
    Ok(())
}
