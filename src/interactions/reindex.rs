//! `$reindex`: put a tenant's stored SearchParameter resources in force and rebuild that
//! tenant's search values with them. Custom parameters belong to the tenant that stored
//! them; the tenants with parameters in force are listed in the blob store, so that they are
//! in force again after a restart.
use serde_json::Value;

use super::Fhir;
use crate::error::{FhirError, Result};
use crate::fhir::definitions::Definitions;
use crate::persistence::{Blob, BlobStore};
use crate::search::query::{self, SearchQuery, Total};
use crate::search::schema::{Schema, SchemaCell};
use crate::search::SearchIndex;

/// The blob listing the tenants with custom parameters in force (a name no tenant folder
/// can have: tenant ids hold no dot).
const TENANTS_KEY: &str = "custom-search-parameters.json";

/// Puts `tenant`'s stored SearchParameters in force (or the official ones alone when it has
/// none) and returns how many it has.
pub async fn load_tenant(index: &dyn SearchIndex, defs: &Definitions, cell: &SchemaCell, tenant: &str) -> Result<usize> {
    let registry = cell.get_for(tenant).registry.clone();
    let mut q: SearchQuery = query::parse(&registry, vec!["SearchParameter".into()], &[], true)?;
    q.total = Total::None;
    let mut custom: Vec<Value> = Vec::new();
    loop {
        let page = index.search(tenant, q.clone(), 500).await?;
        for v in &page.matches {
            if let Some(body) = &v.body {
                custom.push(serde_json::from_slice(body).map_err(|e| FhirError::Internal(e.to_string()))?);
            }
        }
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
    }
    let n = custom.len();
    let schema = if n > 0 { Some(Schema::build(defs, &custom).map_err(FhirError::Internal)?) } else { None };
    cell.set_for(tenant, schema);
    Ok(n)
}

/// At start: the default tenant's parameters and those of every tenant listed as having some.
pub async fn load_all(index: &dyn SearchIndex, blobs: &dyn BlobStore, defs: &Definitions, cell: &SchemaCell) -> Result<usize> {
    // A store that cannot tell (an S3 bucket not made yet) has no tenant listed.
    let mut tenants = listed(blobs).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the list of tenants with custom search parameters");
        Vec::new()
    });
    if !tenants.iter().any(|t| t == crate::TENANT) {
        tenants.push(crate::TENANT.to_string());
    }
    let mut n = 0;
    for t in tenants.iter().filter(|t| crate::model::tenant::is_valid_tenant(t)) {
        n += load_tenant(index, defs, cell, t).await?;
    }
    Ok(n)
}

async fn listed(blobs: &dyn BlobStore) -> Result<Vec<String>> {
    match blobs.get(TENANTS_KEY).await? {
        Some(b) => serde_json::from_slice(&b.data).map_err(|e| FhirError::Internal(format!("{TENANTS_KEY} is not a list of tenants: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// `$reindex` in `tenant`: returns (custom parameters in force, resources reindexed).
pub async fn reindex(fhir: &Fhir, tenant: &str) -> Result<(usize, u64)> {
    let custom = load_tenant(fhir.search.as_ref(), fhir.defs, &fhir.schema, tenant).await?;
    let mut tenants = listed(fhir.blobs.as_ref()).await?;
    let listed_now = tenants.iter().any(|t| t == tenant);
    if (custom > 0) != listed_now {
        tenants.retain(|t| t != tenant);
        if custom > 0 {
            tenants.push(tenant.to_string());
        }
        let data = serde_json::to_vec(&tenants).map_err(|e| FhirError::Internal(e.to_string()))?;
        fhir.blobs.put(TENANTS_KEY, Blob { content_type: "application/json".into(), data: data.into() }).await?;
    }
    let count = fhir.search.reindex(Some(tenant)).await?;
    Ok((custom, count))
}
