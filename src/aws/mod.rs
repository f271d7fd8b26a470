//! The AWS configuration: DynamoDB (`ResourceStore`), S3 (`BlobStore`), OpenSearch
//! (`SearchIndex`), and the DynamoDB-stream indexer shared by the streamer Lambda and the
//! local AWS mode. Built only with the `aws` feature.
pub mod dynamo_json;
pub mod lambda;
mod poller;
pub mod search;
pub mod stream;

use std::sync::Arc;

use aws_config::BehaviorVersion;

use crate::config::ServeConfig;
use crate::error::{FhirError, Result};
use crate::persistence::dynamodb::{table, DynamoStore};
use crate::persistence::s3::S3BlobStore;
use crate::search::opensearch::OpenSearchIndex;
use crate::search::schema::SchemaCell;

pub struct AwsStack {
    pub store: Arc<DynamoStore>,
    pub blobs: Arc<S3BlobStore>,
    pub index: Arc<OpenSearchIndex>,
    pub search: Arc<search::AwsSearch>,
    pub stream: Arc<stream::StreamHandler>,
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`),
/// with the rustls/ring HTTPS client. Credentials resolve lazily, on the first request.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http).load().await
}

/// Local AWS mode: endpoints point at emulators or a local stack, so the server creates
/// what is missing and consumes the table's stream itself.
pub fn local_mode(config: &ServeConfig) -> bool {
    config.aws_local.unwrap_or_else(|| std::env::var_os("AWS_ENDPOINT_URL").is_some_and(|v| !v.is_empty()))
}

pub async fn open(config: &ServeConfig, schema: Arc<SchemaCell>) -> Result<AwsStack> {
    let local = local_mode(config);
    let sdk = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(local).build());
    let blobs = Arc::new(S3BlobStore::new(s3, &config.s3_bucket, config.s3_kms_key_id.clone()));
    let store = Arc::new(DynamoStore::new(ddb.clone(), &config.dynamodb_table, blobs.clone()));
    let index = Arc::new(OpenSearchIndex::new(&config.opensearch_url, &config.opensearch_index, schema.clone())?);
    let mut handler = stream::StreamHandler::new(index.clone(), store.clone());
    handler.refresh = local;
    let stream = Arc::new(handler);
    let search = Arc::new(search::AwsSearch::new(index.clone(), store.clone(), local.then(|| stream.clone())));
    if local {
        let arn = table::ensure(&ddb, &config.dynamodb_table).await?;
        blobs.ensure_bucket().await?;
        index.ensure_index(crate::TENANT).await?;
        let arn = arn.ok_or_else(|| FhirError::Internal(format!("table {} has no stream", config.dynamodb_table)))?;
        poller::spawn(aws_sdk_dynamodbstreams::Client::new(&sdk), arn, stream.clone());
        tracing::info!(table = %config.dynamodb_table, bucket = %config.s3_bucket, "local AWS mode: consuming the table's stream in-process");
    }
    Ok(AwsStack { store, blobs, index, search, stream })
}

/// The stream indexer alone (the streamer Lambda): OpenSearch, and DynamoDB/S3 for
/// bodies kept outside the stream image.
pub async fn stream_handler(config: &ServeConfig) -> Result<stream::StreamHandler> {
    let defs = crate::fhir::definitions::Definitions::r4();
    let schema = crate::search::schema::Schema::build(defs, &[]).map_err(FhirError::Internal)?;
    let schema = Arc::new(SchemaCell::new(schema));
    let stack = open(config, schema.clone()).await?;
    // Custom SearchParameters stored in the table are in force for indexing too.
    crate::interactions::reindex::load_all(stack.search.as_ref(), stack.blobs.as_ref(), defs, &schema).await?;
    Ok(stream::StreamHandler::new(stack.index.clone(), stack.store.clone()))
}
