//! Search: the query model (`query`, `value`), the parameter registry (`params`), value
//! extraction with FHIRPath (`fhirpath`, `extract`, `fulltext`), and the embedded SQLite index (`sqlite`).
pub mod extract;
pub mod compartment;
pub mod fhirpath;
pub mod fulltext;
#[cfg(feature = "aws")]
pub mod opensearch;
pub mod params;
pub mod query;
pub mod schema;
pub mod sqlite;
pub mod value;

use async_trait::async_trait;

use crate::error::Result;
use crate::persistence::StoredVersion;

/// One page of a search.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub matches: Vec<StoredVersion>,
    /// `_include` / `_revinclude` results (`search.mode = include`).
    pub included: Vec<StoredVersion>,
    pub total: Option<u64>,
    /// Opaque cursors of the next and previous pages.
    pub next: Option<String>,
    pub previous: Option<String>,
}

/// The search port: embedded SQLite now, OpenSearch later; both run the same query model.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    async fn search(&self, tenant: &str, query: query::SearchQuery, count: usize) -> Result<SearchPage>;
    /// Rebuilds the search values of every current resource of `tenant` (`None`: of every
    /// tenant) with the schema in force in its tenant.
    async fn reindex(&self, tenant: Option<&str>) -> Result<u64>;
}
