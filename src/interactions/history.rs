use super::{binary, check_id, check_type, Fhir};
use crate::error::Result;
use crate::persistence::{HistoryPage, HistoryQuery, HistoryScope};

/// `GET [type]/[id]/_history`, `GET [type]/_history`, `GET /_history`: newest first.
pub async fn history(fhir: &Fhir, tenant: &str, query: HistoryQuery) -> Result<HistoryPage> {
    match &query.scope {
        HistoryScope::Instance { resource_type, id } => {
            check_type(fhir, resource_type)?;
            check_id(id)?;
        }
        HistoryScope::Type { resource_type } => check_type(fhir, resource_type)?,
        HistoryScope::System => {}
    }
    let mut page = fhir.store.history(tenant, query).await?;
    let mut entries = Vec::with_capacity(page.entries.len());
    for v in page.entries.drain(..) {
        entries.push(binary::hydrate(fhir, v).await?);
    }
    page.entries = entries;
    Ok(page)
}
