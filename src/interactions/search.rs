use super::{check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::search::query::{self, Filter, SearchQuery};
use crate::search::SearchPage;

/// What a search must be confined to (set by access control).
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    /// AND-ed into the query.
    pub filters: Vec<Filter>,
    /// Chained parameters and `_has` are refused (they would look outside the confinement).
    pub no_chains: bool,
    /// Types chains and `_has` may look into (`None`: any).
    pub reachable: Option<Vec<String>>,
}

/// Page-size limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub default: usize,
    pub max: usize,
}

/// Type-level search (`types` = one type), or system-level (`types` empty: every type,
/// narrowed by `_type`), optionally within a compartment (`Patient`, `123`). Unknown parameters are reported in `SearchQuery::ignored`
/// unless `strict`, where they are an error.
pub async fn search(
    fhir: &Fhir,
    tenant: &str,
    types: Vec<String>,
    params: &[(String, String)],
    strict: bool,
    paging: Paging,
    compartment: Option<(&str, &str)>,
) -> Result<(SearchQuery, SearchPage)> {
    search_confined(fhir, tenant, types, params, strict, paging, compartment, &Confinement::default()).await
}

/// A search confined by access control: `confine.filters` are AND-ed into the query, and
/// chains / `_has` are refused when `confine.no_chains`.
#[allow(clippy::too_many_arguments)]
pub async fn search_confined(
    fhir: &Fhir,
    tenant: &str,
    mut types: Vec<String>,
    params: &[(String, String)],
    strict: bool,
    paging: Paging,
    compartment: Option<(&str, &str)>,
    confine: &Confinement,
) -> Result<(SearchQuery, SearchPage)> {
    for t in &types {
        check_type(fhir, t)?;
    }
    if types.is_empty() {
        for (k, v) in params.iter().filter(|(k, _)| k == "_type") {
            for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                check_type(fhir, t).map_err(|_| FhirError::BadRequest(format!("_type: '{t}' is not a resource type")))?;
                if !types.iter().any(|x| x == t) {
                    types.push(t.to_string());
                }
            }
            let _ = k;
        }
    }
    let registry = fhir.registry_for(tenant);
    let mut q = query::parse(&registry, types, params, strict)?;
    if let Some((ctype, cid)) = compartment {
        check_type(fhir, ctype)?;
        super::check_id(cid)?;
        let member = q.types.first().cloned().unwrap_or_default();
        let filter = fhir
            .compartments
            .filter(&registry, ctype, cid, &member)
            .ok_or_else(|| FhirError::NotFound(format!("{member} is not part of the {ctype} compartment")))?;
        q.filters.insert(0, filter);
    }
    if confine.no_chains && q.filters.iter().any(reaches_out) {
        return Err(FhirError::Forbidden("chained parameters and _has are not available to this token".into()));
    }
    if let Some(types) = &confine.reachable {
        if q.filters.iter().any(|f| looks_outside(f, types)) {
            return Err(FhirError::Forbidden("a chained parameter or _has looks into a type this token may not search".into()));
        }
    }
    for (i, f) in confine.filters.iter().enumerate() {
        q.filters.insert(i, f.clone());
    }
    super::valueset::expand_filters(fhir, tenant, &mut q.filters).await?;
    let count = q.count.unwrap_or(paging.default).min(paging.max);
    let page = fhir.search.search(tenant, q.clone(), count).await?;
    Ok((q, page))
}

/// A chain or `_has` anywhere in the filter.
fn reaches_out(f: &Filter) -> bool {
    match f {
        Filter::Chain { .. } | Filter::Has { .. } => true,
        Filter::AnyOf(list) => list.iter().any(reaches_out),
        _ => false,
    }
}

/// A chain or `_has` into a type outside `types`.
fn looks_outside(f: &Filter, types: &[String]) -> bool {
    match f {
        Filter::Chain { target_type, inner, .. } => !types.contains(target_type) || looks_outside(inner, types),
        Filter::Has { source_type, inner, .. } => !types.contains(source_type) || looks_outside(inner, types),
        Filter::AnyOf(list) => list.iter().any(|f| looks_outside(f, types)),
        _ => false,
    }
}
