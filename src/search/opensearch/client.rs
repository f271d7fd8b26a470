//! The HTTP seam to OpenSearch: one `Transport` of the `opensearch` crate (plain HTTP(S), or
//! SigV4-signed for an AWS domain), raw JSON in and out, every failure a `FhirError`.
use bytes::Bytes;
use opensearch::http::headers::{HeaderMap, HeaderValue, CONTENT_TYPE};
use opensearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use opensearch::http::{Method, Url};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::error::{FhirError, Result};

/// A lazily built transport: plain connections are ready at once; a SigV4 transport loads
/// the AWS credentials on first use (no AWS work at cold start).
pub struct Client {
    url: Url,
    sigv4: bool,
    transport: OnceCell<Transport>,
}

/// An answer: status and JSON body (`Value::Null` when empty or not JSON).
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `error.type` of an error answer.
    pub fn error_type(&self) -> &str {
        self.body.pointer("/error/type").and_then(Value::as_str).unwrap_or("")
    }

    /// A short description without document content (reasons can quote field values).
    pub fn describe(&self) -> String {
        let t = self.error_type();
        if t.is_empty() { format!("HTTP {}", self.status) } else { format!("HTTP {} {t}", self.status) }
    }
}

fn unavailable(e: impl std::fmt::Display) -> FhirError {
    FhirError::Internal(format!("the search index is not available: {e}"))
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1"))
}

impl Client {
    /// `sigv4`: sign requests for an Amazon OpenSearch Service domain.
    pub fn new(url: &str, sigv4: bool) -> Result<Client> {
        let url = Url::parse(url).map_err(|e| FhirError::Internal(format!("invalid OpenSearch URL '{url}': {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FhirError::Internal(format!("the OpenSearch URL must be http(s), not '{}'", url.scheme())));
        }
        let transport = OnceCell::new();
        if !sigv4 {
            let built = builder(&url).build().map_err(unavailable)?;
            let _ = transport.set(built);
        }
        Ok(Client { url, sigv4, transport })
    }

    async fn transport(&self) -> Result<&Transport> {
        self.transport
            .get_or_try_init(|| async {
                if !self.sigv4 {
                    return builder(&self.url).build().map_err(unavailable);
                }
                let creds = sigv4_credentials().await?;
                let service = std::env::var("HEARTH_OPENSEARCH_SERVICE").unwrap_or_else(|_| "es".into());
                builder(&self.url).auth(creds).service_name(&service).build().map_err(unavailable)
            })
            .await
    }

    /// Sends `body` (JSON, or NDJSON for `_bulk`) to `path` (with its query string).
    pub async fn send(&self, method: Method, path: &str, body: Option<Bytes>, ndjson: bool) -> Result<Reply> {
        let transport = self.transport().await?;
        let mut headers = HeaderMap::new();
        if ndjson {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        }
        let resp = transport.send(method, path, headers, None::<&()>, body, None).await.map_err(unavailable)?;
        let status = resp.status_code().as_u16();
        let bytes = resp.bytes().await.map_err(unavailable)?;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok(Reply { status, body })
    }

    pub async fn json(&self, method: Method, path: &str, body: &Value) -> Result<Reply> {
        let bytes = serde_json::to_vec(body).map_err(|e| FhirError::Internal(e.to_string()))?;
        self.send(method, path, Some(Bytes::from(bytes)), false).await
    }
}

fn builder(url: &Url) -> TransportBuilder {
    let mut b = TransportBuilder::new(SingleNodeConnectionPool::new(url.clone())).timeout(std::time::Duration::from_secs(60));
    if is_loopback(url) {
        b = b.disable_proxy();
    }
    b
}

/// Credentials and region from the environment (Lambda role, profile, ...), through
/// the AWS SDK's default chain.
async fn sigv4_credentials() -> Result<opensearch::auth::Credentials> {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).load().await;
    opensearch::auth::Credentials::try_from(&config).map_err(|e| FhirError::Internal(format!("SigV4 credentials for OpenSearch: {e}")))
}
