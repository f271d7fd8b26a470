//! Development tokens: an ES256 key kept in a file (created on first use) that
//! `hearth token` signs with and a server started with `HEARTH_AUTH=dev` trusts.
use std::path::Path;

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

pub const DEV_ISSUER: &str = "hearth-dev";
pub const DEV_AUDIENCE: &str = "hearth";
pub const DEV_KID: &str = "hearth-dev-1";

pub struct DevKey {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl DevKey {
    /// Loads the key, creating it (readable by the owner only) when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<DevKey, String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| "cannot generate a key".to_string())?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                write_private(path, doc.as_ref())?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(format!("cannot read the dev key {}: {e}", path.display())),
        };
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).map_err(|_| format!("{} is not an ES256 PKCS#8 key", path.display()))?;
        Ok(DevKey { public: pair.public_key().as_ref().to_vec(), pkcs8 })
    }

    /// The public key as a JWKS.
    pub fn jwks(&self) -> Result<JwkSet, String> {
        // Uncompressed point: 0x04 || x (32) || y (32).
        if self.public.len() != 65 {
            return Err("unexpected public key size".into());
        }
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let set = json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": DEV_KID,
            "x": b64(&self.public[1..33]), "y": b64(&self.public[33..65])}]});
        serde_json::from_value(set).map_err(|e| e.to_string())
    }

    /// Signs `claims` (iss, aud, iat, exp are added when absent).
    pub fn mint(&self, mut claims: Value, ttl_secs: i64) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        if let Some(o) = claims.as_object_mut() {
            o.entry("iss").or_insert(json!(DEV_ISSUER));
            o.entry("aud").or_insert(json!(DEV_AUDIENCE));
            o.entry("iat").or_insert(json!(now));
            o.entry("exp").or_insert(json!(now + ttl_secs));
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(DEV_KID.into());
        let key = EncodingKey::from_ec_der(&self.pkcs8);
        jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn minted_tokens_verify() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevKey::load_or_create(&dir.path().join("k.p8")).unwrap();
        let token = key.mint(json!({"sub": "dev", "cognito:groups": ["practitioner"]}), 60).unwrap();
        let v = super::super::jwt::Verifier::with_keys(DEV_ISSUER.into(), vec![DEV_AUDIENCE.into()], &key.jwks().unwrap());
        let claims = v.verify(&token).await.unwrap();
        assert_eq!(claims["sub"], "dev");
        // The same file gives the same key.
        let again = DevKey::load_or_create(&dir.path().join("k.p8")).unwrap();
        assert_eq!(again.public, key.public);
    }
}
