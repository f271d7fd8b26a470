//! `BlobStore` on S3: Binary content, ingested documents, oversized resource bodies and
//! export files. Uploads use SSE-KMS when a key is configured (else the bucket default,
//! SSE-S3). Large binaries are handed out as presigned URLs (`presigned_get`), so that
//! they do not pass through Lambda's 6 MB response limit.
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;

use super::{Blob, BlobStore};
use crate::error::{FhirError, Result};

pub struct S3BlobStore {
    client: Client,
    bucket: String,
    kms_key_id: Option<String>,
}

fn err<E: std::error::Error + 'static>(what: &str, e: E) -> FhirError {
    FhirError::Internal(format!("S3 {what}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: &str, kms_key_id: Option<String>) -> S3BlobStore {
        S3BlobStore { client, bucket: bucket.to_string(), kms_key_id: kms_key_id.filter(|k| !k.is_empty()) }
    }

    /// Creates the bucket unless it exists (local AWS mode).
    pub async fn ensure_bucket(&self) -> Result<()> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        self.client.create_bucket().bucket(&self.bucket).send().await.map_err(|e| err("create bucket", e))?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, blob: Blob) -> Result<()> {
        let mut req = self.client.put_object().bucket(&self.bucket).key(key).content_type(&blob.content_type).body(ByteStream::from(blob.data));
        if let Some(k) = &self.kms_key_id {
            req = req.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k);
        }
        req.send().await.map_err(|e| err("put", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let content_type = out.content_type().unwrap_or("application/octet-stream").to_string();
                let data = out.body.collect().await.map_err(|e| FhirError::Internal(format!("S3 read: {e}")))?.into_bytes();
                Ok(Some(Blob { content_type, data }))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => Ok(None),
            Err(e) => Err(err("get", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| err("delete", e))?;
        Ok(())
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(out.content_length().map(|n| n.max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(err("head", e)),
        }
    }

    async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<String>> {
        let cfg = PresigningConfig::expires_in(ttl).map_err(|e| FhirError::Internal(format!("presigning: {e}")))?;
        let req = self.client.get_object().bucket(&self.bucket).key(key).presigned(cfg).await.map_err(|e| err("presign", e))?;
        Ok(Some(req.uri().to_string()))
    }

    async fn presigned_put(&self, key: &str, content_type: &str, ttl: Duration) -> Result<Option<String>> {
        let cfg = PresigningConfig::expires_in(ttl).map_err(|e| FhirError::Internal(format!("presigning: {e}")))?;
        let req = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type).presigned(cfg).await.map_err(|e| err("presign", e))?;
        Ok(Some(req.uri().to_string()))
    }
}
