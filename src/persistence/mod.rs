//! Storage ports. `ResourceStore` keeps every version of every resource; `BlobStore`
//! keeps binary content. Adapters: `sqlite` + `fs` (embedded); DynamoDB + S3 (AWS).
pub mod blob;
#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "aws")]
pub mod s3;
pub mod silo;
pub mod sqlite;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use crate::error::Result;

/// One stored version. `body` is the resource JSON exactly as returned to clients
/// (already carrying `id`, `meta.versionId` and `meta.lastUpdated`); `None` for a deletion.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    /// Microseconds since the Unix epoch; strictly increasing across the store.
    pub last_updated: i64,
    pub method: Method,
    /// True when this version brought the resource to life (first, or after a delete).
    pub created: bool,
    pub body: Option<Bytes>,
}

impl StoredVersion {
    pub fn is_deleted(&self) -> bool {
        self.body.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    pub fn from_str(s: &str) -> Method {
        match s {
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            _ => Method::Put,
        }
    }
}

/// What the writer expects to find before its write (a conditional write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Anything: absent, deleted or any version.
    Any,
    /// No live version (never existed, or deleted).
    Absent,
    /// The current version must be exactly this one (If-Match).
    Version(u64),
}

/// One write. `resource` is `None` for a delete; otherwise the store stamps
/// `id`, `meta.versionId` and `meta.lastUpdated` into it.
#[derive(Debug, Clone)]
pub struct WriteOp {
    pub resource_type: String,
    pub id: String,
    pub expect: Expect,
    pub method: Method,
    pub resource: Option<Value>,
}

/// The outcome of one write: the new version, or `None` when a delete found nothing live.
#[derive(Debug, Clone)]
pub struct WriteResult {
    pub version: Option<StoredVersion>,
    /// True when the write brought the resource to life (no live version before).
    pub created: bool,
}

#[derive(Debug, Clone)]
pub enum HistoryScope {
    Instance { resource_type: String, id: String },
    Type { resource_type: String },
    System,
}

#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// Only versions with last_updated >= since (microseconds).
    pub since: Option<i64>,
    /// Only versions current at some time in [start, end) (microseconds).
    pub at: Option<(i64, i64)>,
    pub count: usize,
    /// Opaque keyset cursor from a previous page's `next`.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<StoredVersion>,
    /// Opaque cursor for the next page, when there is one.
    pub next: Option<String>,
    /// Number of matching versions, when the adapter can count them cheaply.
    pub total: Option<u64>,
}

/// What a unit of work sees inside one atomic, isolated transaction: its reads and
/// searches see its own earlier writes, and no other writer interleaves.
pub trait Tx {
    fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>>;
    /// `(type, id)` of up to `limit` current resources matching the query.
    fn search_ids(&mut self, query: &crate::search::query::SearchQuery, limit: usize) -> Result<Vec<(String, String)>>;
    fn write(&mut self, op: WriteOp) -> Result<WriteResult>;
    /// Whether `op` may be written, for a write that turns out to change nothing and is left
    /// out: it is still decided like one (a policy-checking wrapper overrides this).
    fn may_write(&mut self, _op: &WriteOp) -> Result<()> {
        Ok(())
    }
    /// Writes of distinct resources, with the outcome of each as `write` would give it one
    /// after the other (an adapter may prepare them in parallel). The outer error is a
    /// storage failure: the unit of work must fail.
    fn write_many(&mut self, ops: Vec<WriteOp>) -> Result<Vec<Result<WriteResult>>> {
        Ok(ops.into_iter().map(|op| self.write(op)).collect())
    }
}

/// A unit of work: an error rolls everything it wrote back.
pub type TxWork = Box<dyn FnOnce(&mut dyn Tx) -> Result<()> + Send>;

/// Runs `work` in one transaction and returns what it produced.
pub async fn run_tx<T, F>(store: &dyn ResourceStore, tenant: &str, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
{
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
    let out = slot.clone();
    store
        .transaction(
            tenant,
            Box::new(move |tx| {
                let value = work(tx)?;
                if let Ok(mut s) = out.lock() {
                    *s = Some(value);
                }
                Ok(())
            }),
        )
        .await?;
    let value = slot.lock().ok().and_then(|mut s| s.take());
    value.ok_or_else(|| crate::error::FhirError::Internal("the transaction produced no result".into()))
}

#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Applies all writes atomically (all or nothing) in order, checking each `expect`.
    async fn commit(&self, tenant: &str, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>>;
    /// Runs a unit of work (reads, searches, writes) atomically and in isolation.
    async fn transaction(&self, tenant: &str, work: TxWork) -> Result<()>;
    /// The current version, including a deletion marker.
    async fn read(&self, tenant: &str, resource_type: &str, id: &str) -> Result<Option<StoredVersion>>;
    async fn vread(&self, tenant: &str, resource_type: &str, id: &str, version: u64) -> Result<Option<StoredVersion>>;
    /// Newest first.
    async fn history(&self, tenant: &str, query: HistoryQuery) -> Result<HistoryPage>;
    /// Makes every acknowledged write durable and releases resources (on shutdown).
    async fn close(&self) -> Result<()>;
    /// Whether conditional criteria (If-None-Exist, conditional references, ...) may use any
    /// search parameter; `false`: only `identifier` and `_id`.
    fn any_conditional_criteria(&self) -> bool {
        true
    }
}

/// Binary content (Binary resources, documents, export files).
#[derive(Debug, Clone)]
pub struct Blob {
    pub content_type: String,
    pub data: Bytes,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, blob: Blob) -> Result<()>;
    async fn get(&self, key: &str) -> Result<Option<Blob>>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// The stored size, when the adapter can tell without reading the content.
    async fn size(&self, _key: &str) -> Result<Option<u64>> {
        Ok(None)
    }
    /// A URL that lets a client download the content directly for `ttl` (S3 only).
    async fn presigned_get(&self, _key: &str, _ttl: std::time::Duration) -> Result<Option<String>> {
        Ok(None)
    }
    /// A URL that lets a client upload the content directly for `ttl` (S3 only).
    async fn presigned_put(&self, _key: &str, _content_type: &str, _ttl: std::time::Duration) -> Result<Option<String>> {
        Ok(None)
    }
}
