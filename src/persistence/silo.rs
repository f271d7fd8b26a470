//! The silo model of the embedded store: one SQLite database per tenant. The default
//! tenant keeps `DATA_DIR/hearth.db`; tenant `t` gets `DATA_DIR/tenants/t/hearth.db`, opened
//! on first use. Every port call already names its tenant, so this adapter only routes.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::sqlite::SqliteStore;
use super::{HistoryPage, HistoryQuery, ResourceStore, StoredVersion, TxWork, WriteOp, WriteResult};
use crate::error::{FhirError, Result};
use crate::search::query::SearchQuery;
use crate::search::schema::SchemaCell;
use crate::search::{SearchIndex, SearchPage};

pub struct SiloStore {
    root: PathBuf,
    synchronous: String,
    schema: Arc<SchemaCell>,
    default: Arc<SqliteStore>,
    tenants: Mutex<HashMap<String, Arc<SqliteStore>>>,
}

impl SiloStore {
    pub fn open(root: &std::path::Path, synchronous: &str, schema: Arc<SchemaCell>) -> Result<SiloStore> {
        let default = Arc::new(SqliteStore::open(root, synchronous, Some(schema.clone()))?);
        let silo = SiloStore { root: root.to_path_buf(), synchronous: synchronous.into(), schema, default, tenants: Mutex::new(HashMap::new()) };
        // Tenants that exist on disk are opened now (so that reindex and close reach them).
        if let Ok(dirs) = std::fs::read_dir(root.join("tenants")) {
            for d in dirs.flatten() {
                if let Some(name) = d.file_name().to_str() {
                    if crate::model::tenant::is_valid_tenant(name) {
                        silo.store(name)?;
                    }
                }
            }
        }
        Ok(silo)
    }

    fn store(&self, tenant: &str) -> Result<Arc<SqliteStore>> {
        if tenant == crate::TENANT {
            return Ok(self.default.clone());
        }
        if !crate::model::tenant::is_valid_tenant(tenant) {
            return Err(FhirError::BadRequest("invalid tenant id".into()));
        }
        let mut map = self.tenants.lock().map_err(|_| FhirError::Internal("tenant map poisoned".into()))?;
        if let Some(s) = map.get(tenant) {
            return Ok(s.clone());
        }
        let s = Arc::new(SqliteStore::open(&self.root.join("tenants").join(tenant), &self.synchronous, Some(self.schema.clone()))?);
        map.insert(tenant.to_string(), s.clone());
        Ok(s)
    }

    fn all(&self) -> Vec<Arc<SqliteStore>> {
        let mut v = vec![self.default.clone()];
        if let Ok(map) = self.tenants.lock() {
            v.extend(map.values().cloned());
        }
        v
    }
}

#[async_trait]
impl ResourceStore for SiloStore {
    async fn commit(&self, tenant: &str, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>> {
        self.store(tenant)?.commit(tenant, ops).await
    }
    async fn transaction(&self, tenant: &str, work: TxWork) -> Result<()> {
        self.store(tenant)?.transaction(tenant, work).await
    }
    async fn read(&self, tenant: &str, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        self.store(tenant)?.read(tenant, resource_type, id).await
    }
    async fn vread(&self, tenant: &str, resource_type: &str, id: &str, version: u64) -> Result<Option<StoredVersion>> {
        self.store(tenant)?.vread(tenant, resource_type, id, version).await
    }
    async fn history(&self, tenant: &str, query: HistoryQuery) -> Result<HistoryPage> {
        self.store(tenant)?.history(tenant, query).await
    }
    async fn close(&self) -> Result<()> {
        for s in self.all() {
            s.close().await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SearchIndex for SiloStore {
    async fn search(&self, tenant: &str, query: SearchQuery, count: usize) -> Result<SearchPage> {
        self.store(tenant)?.search(tenant, query, count).await
    }
    async fn reindex(&self, tenant: Option<&str>) -> Result<u64> {
        if let Some(t) = tenant {
            return self.store(t)?.reindex(Some(t)).await;
        }
        let mut n = 0;
        for s in self.all() {
            n += s.reindex(None).await?;
        }
        Ok(n)
    }
}
