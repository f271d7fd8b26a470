//! One typed configuration, read from flags and `HEARTH_*` environment variables.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hearth", version, about = "Hearth: a FHIR R4 server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve FHIR R4 over HTTP (the default).
    Serve(ServeConfig),
    /// Rebuild the search index of a data directory (puts stored SearchParameters in force).
    Reindex(ServeConfig),
    /// Load Bundles and NDJSON files (plain, .gz or .bz2) into a server or a data directory.
    Import(ImportConfig),
    /// Mint a development token signed by the local dev key (trusted with HEARTH_AUTH=dev).
    Token(TokenConfig),
}

#[derive(Debug, Clone, Args)]
pub struct ImportConfig {
    /// Files or folders (Bundle JSON, NDJSON; plain, .gz or .bz2). Folders are read in
    /// name order; Synthea's `hospitalInformation` and `practitionerInformation` Bundles
    /// (shared resources the others refer to) go first.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Base URL of a running server, e.g. http://127.0.0.1:8080/fhir.
    #[arg(long, conflicts_with = "data_dir")]
    pub server: Option<String>,
    /// Write straight into this data directory (no server may be running on it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Resources per transaction when loading NDJSON.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Bundles sent at the same time.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    /// SQLite `synchronous` setting for --data-dir.
    #[arg(long, default_value = "normal")]
    pub sqlite_sync: String,
    /// No progress line, only the summary.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "HEARTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder for the SQLite database and binary content.
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Path prefix of the FHIR base.
    #[arg(long, env = "HEARTH_BASE_PATH", default_value = "/fhir")]
    pub base_path: String,
    /// Public base URL used in Location headers and Bundle links
    /// (default: http://<Host header><base path>).
    #[arg(long, env = "HEARTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "HEARTH_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Default and largest page size for history.
    #[arg(long, env = "HEARTH_DEFAULT_PAGE_SIZE", default_value_t = 50)]
    pub default_page_size: usize,
    #[arg(long, env = "HEARTH_MAX_PAGE_SIZE", default_value_t = 1000)]
    pub max_page_size: usize,
    /// SQLite `synchronous` setting: `full` (every commit reaches the disk) or `normal`.
    #[arg(long, env = "HEARTH_SQLITE_SYNC", default_value = "full")]
    pub sqlite_sync: String,
    /// Most entries accepted in one batch or transaction Bundle (its bytes are limited by
    /// --max-body-bytes).
    #[arg(long, env = "HEARTH_MAX_BUNDLE_ENTRIES", default_value_t = 100_000)]
    pub max_bundle_entries: usize,
    /// Let a conditional delete remove every match (up to --max-conditional-deletes)
    /// instead of failing with 412 when more than one resource matches.
    #[arg(long, env = "HEARTH_CONDITIONAL_DELETE_MULTIPLE", default_value_t = false)]
    pub conditional_delete_multiple: bool,
    #[arg(long, env = "HEARTH_MAX_CONDITIONAL_DELETES", default_value_t = 1000)]
    pub max_conditional_deletes: usize,
    /// $ingest-document: most pages of one document (413 beyond).
    #[arg(long, env = "HEARTH_INGEST_MAX_PAGES", default_value_t = 50)]
    pub ingest_max_pages: usize,
    /// $ingest-document: values read with a lower confidence are warned about.
    #[arg(long, env = "HEARTH_INGEST_MIN_CONFIDENCE", default_value_t = 0.6)]
    pub ingest_min_confidence: f32,
    /// $ingest-document: `flag` keeps low-confidence values (flagged), `omit` leaves them out.
    #[arg(long, env = "HEARTH_INGEST_LOW_CONFIDENCE", default_value = "flag")]
    pub ingest_low_confidence: String,
    /// $ingest-document: OCR engine, `tesseract` or `textract` (needs the `aws` feature).
    #[arg(long, env = "HEARTH_INGEST_OCR", default_value = "tesseract")]
    pub ingest_ocr: String,
    /// $ingest-document: list extraction, `blueprint` or `comprehend-medical` (`aws` feature).
    #[arg(long, env = "HEARTH_INGEST_EXTRACT", default_value = "blueprint")]
    pub ingest_extract: String,
    /// Authentication: `none` (only allowed on a loopback address unless
    /// --insecure-no-auth), `jwt` (tokens of an OpenID Connect issuer, e.g. Cognito) or `dev`
    /// (tokens minted by `hearth token`). Default: none.
    #[arg(long, env = "HEARTH_AUTH")]
    pub auth: Option<String>,
    /// Serve without authentication on a non-loopback address.
    #[arg(long, env = "HEARTH_INSECURE_NO_AUTH", default_value_t = false)]
    pub insecure_no_auth: bool,
    /// The `iss` tokens must carry (e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID).
    #[arg(long, env = "HEARTH_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Where the issuer's signing keys are (default: ISSUER/.well-known/jwks.json).
    #[arg(long, env = "HEARTH_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Accepted audiences, comma-separated: `aud`, or `client_id` of Cognito access tokens.
    #[arg(long, env = "HEARTH_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The claim holding the caller's groups.
    #[arg(long, env = "HEARTH_GROUPS_CLAIM", default_value = "cognito:groups")]
    pub groups_claim: String,
    /// The claim holding the caller's tenant.
    #[arg(long, env = "HEARTH_TENANT_CLAIM", default_value = "custom:tenantId")]
    pub tenant_claim: String,
    /// Role rules (JSON: groupRules -> interactions x resources); default: the built-in
    /// rules/default.json.
    #[arg(long, env = "HEARTH_RULES_FILE")]
    pub rules_file: Option<PathBuf>,
    /// Append-only JSON-lines audit log (default: DATA_DIR/audit.jsonl; `off` disables it).
    #[arg(long, env = "HEARTH_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Also record every request as a FHIR AuditEvent resource (in the request's tenant).
    #[arg(long, env = "HEARTH_AUDIT_EVENTS", default_value_t = false)]
    pub audit_events: bool,
    /// The development signing key for `HEARTH_AUTH=dev` and `hearth token`
    /// (default: DATA_DIR/dev-signing-key.p8, created on first use).
    #[arg(long, env = "HEARTH_DEV_KEY_FILE")]
    pub dev_key_file: Option<PathBuf>,
    /// OAuth endpoints advertised to SMART apps (default: ISSUER/oauth2/authorize and /token).
    #[arg(long, env = "HEARTH_OAUTH_AUTHORIZE_URL")]
    pub oauth_authorize_url: Option<String>,
    #[arg(long, env = "HEARTH_OAUTH_TOKEN_URL")]
    pub oauth_token_url: Option<String>,
    /// What `.well-known/smart-configuration` advertises: only what the authorization server
    /// really does. Defaults are true of Amazon Cognito on its own (no SMART launch context,
    /// no SMART scopes, no private_key_jwt); widen them when a pre-token Lambda or another
    /// server issues SMART scopes and the `patient` claim. Space- or comma-separated.
    #[arg(long, env = "HEARTH_SMART_CAPABILITIES", default_value = "launch-standalone client-public client-confidential-symmetric sso-openid-connect")]
    pub smart_capabilities: String,
    #[arg(long, env = "HEARTH_SMART_SCOPES", default_value = "openid profile email")]
    pub smart_scopes: String,
    #[arg(long, env = "HEARTH_SMART_AUTH_METHODS", default_value = "client_secret_basic client_secret_post")]
    pub smart_auth_methods: String,
    #[arg(long, env = "HEARTH_SMART_GRANT_TYPES", default_value = "authorization_code client_credentials")]
    pub smart_grant_types: String,
    /// Tenancy of the embedded store: `pool` (one database, every row partitioned by
    /// tenant) or `silo` (one database file per tenant under DATA_DIR/tenants/).
    #[arg(long, env = "HEARTH_TENANCY", default_value = "pool")]
    pub tenancy: String,
    /// Storage backend: `embedded` (SQLite + local folder) or `aws` (DynamoDB, S3,
    /// OpenSearch; needs the `aws` build feature).
    #[arg(long, env = "HEARTH_BACKEND", default_value = "embedded")]
    pub backend: String,
    /// AWS: the resources table.
    #[arg(long, env = "HEARTH_DYNAMODB_TABLE", default_value = "hearth-resources")]
    pub dynamodb_table: String,
    /// AWS: the bucket for binaries, documents, oversized bodies and exports.
    #[arg(long, env = "HEARTH_S3_BUCKET", default_value = "hearth-data")]
    pub s3_bucket: String,
    /// AWS: KMS key for SSE-KMS uploads (default: the bucket's default encryption).
    #[arg(long, env = "HEARTH_S3_KMS_KEY_ID")]
    pub s3_kms_key_id: Option<String>,
    /// AWS: the OpenSearch endpoint.
    #[arg(long, env = "HEARTH_OPENSEARCH_URL", default_value = "http://127.0.0.1:9200")]
    pub opensearch_url: String,
    /// AWS: prefix of the per-tenant index names (`<prefix>-<tenant>`).
    #[arg(long, env = "HEARTH_OPENSEARCH_INDEX", default_value = "hearth")]
    pub opensearch_index: String,
    /// AWS: Binary content larger than this is answered with a redirect to a presigned URL.
    #[arg(long, env = "HEARTH_PRESIGN_ABOVE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub presign_above_bytes: u64,
    /// AWS local mode (default: on when AWS_ENDPOINT_URL is set): create the missing
    /// table, bucket and index at start and consume the DynamoDB stream in-process.
    #[arg(long, env = "HEARTH_AWS_LOCAL")]
    pub aws_local: Option<bool>,
}

/// `hearth token`: a development token signed by the local dev key.
#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// Groups (claim `cognito:groups`), e.g. practitioner, non-practitioner, auditor.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// SMART launch context: the patient id.
    #[arg(long)]
    pub patient: Option<String>,
    /// SMART scopes, space-separated, e.g. "patient/*.rs".
    #[arg(long)]
    pub scope: Option<String>,
    /// Tenant (claim `custom:tenantId`).
    #[arg(long)]
    pub tenant: Option<String>,
    /// `fhirUser`, e.g. Practitioner/123.
    #[arg(long)]
    pub fhir_user: Option<String>,
    #[arg(long, default_value = "dev-user")]
    pub sub: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "HEARTH_DEV_KEY_FILE")]
    pub dev_key_file: Option<PathBuf>,
    #[arg(long, env = "HEARTH_GROUPS_CLAIM", default_value = "cognito:groups")]
    pub groups_claim: String,
    #[arg(long, env = "HEARTH_TENANT_CLAIM", default_value = "custom:tenantId")]
    pub tenant_claim: String,
}

impl ServeConfig {
    /// Refuses `$ingest-document` settings this build cannot honour (checked at start).
    pub async fn check_ingest(&self) -> Result<(), String> {
        if !["", "flag", "omit"].contains(&self.ingest_low_confidence.to_ascii_lowercase().as_str()) {
            return Err(format!("HEARTH_INGEST_LOW_CONFIDENCE (--ingest-low-confidence) must be flag or omit, not '{}'", self.ingest_low_confidence));
        }
        crate::ingest::check_services(&self.ingest_settings()).await
    }

    pub fn ingest_settings(&self) -> crate::ingest::Settings {
        crate::ingest::Settings {
            max_pages: self.ingest_max_pages,
            min_confidence: self.ingest_min_confidence.clamp(0.0, 1.0),
            low_confidence: if self.ingest_low_confidence.eq_ignore_ascii_case("omit") {
                crate::ingest::LowConfidence::Omit
            } else {
                crate::ingest::LowConfidence::Flag
            },
            ocr: true,
            ocr_engine: self.ingest_ocr.to_ascii_lowercase(),
            extractor: self.ingest_extract.to_ascii_lowercase(),
        }
    }
}

impl ServeConfig {
    pub fn bundle_limits(&self) -> crate::interactions::transaction::Limits {
        crate::interactions::transaction::Limits {
            max_entries: self.max_bundle_entries,
            max_conditional_deletes: self.max_conditional_deletes,
            conditional_delete_multiple: self.conditional_delete_multiple,
        }
    }
}

impl ServeConfig {
    /// Base path without a trailing slash; empty means the root.
    pub fn normalized_base_path(&self) -> String {
        let p = self.base_path.trim_end_matches('/');
        if p.is_empty() || p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        }
    }
}
