//! Value set membership for `:in` / `:not-in`: the codes of a ValueSet the server holds,
//! either stored as a resource (its expansion or enumerated compose) or in the R4 definitions.
use serde_json::Value;

use super::Fhir;
use crate::error::{FhirError, Result};
use crate::search::query::{Clause, Filter, Modifier, SearchValue};

/// `(system, code)` pairs of the value set with canonical `url`.
pub async fn codes(fhir: &Fhir, tenant: &str, url: &str) -> Result<Vec<(String, String)>> {
    let url = url.split('|').next().unwrap_or(url);
    let params = vec![("url".to_string(), url.to_string())];
    let q = crate::search::query::parse(&fhir.registry_for(tenant), vec!["ValueSet".into()], &params, true)?;
    let page = fhir.search.search(tenant, q, 1).await?;
    if let Some(body) = page.matches.first().and_then(|v| v.body.as_ref()) {
        let vs: Value = serde_json::from_slice(body).map_err(|e| FhirError::Internal(e.to_string()))?;
        let mut out = Vec::new();
        if let Some(contains) = vs.pointer("/expansion/contains").and_then(Value::as_array) {
            collect_contains(contains, &mut out);
        } else if let Some(includes) = vs.pointer("/compose/include").and_then(Value::as_array) {
            for inc in includes {
                let system = inc.get("system").and_then(Value::as_str).unwrap_or("");
                for c in inc.get("concept").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(code) = c.get("code").and_then(Value::as_str) {
                        out.push((system.to_string(), code.to_string()));
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(FhirError::BadRequest(format!("ValueSet {url} has no expansion or enumerated codes to search with")));
        }
        return Ok(out);
    }
    let def = fhir.defs.value_set(url).ok_or_else(|| FhirError::BadRequest(format!("ValueSet {url} is not known to this server")))?;
    let codes = def.codes.as_ref().ok_or_else(|| FhirError::BadRequest(format!("ValueSet {url} cannot be enumerated")))?;
    let mut out: Vec<(String, String)> = codes.iter().flat_map(|(s, set)| set.iter().map(move |c| (s.clone(), c.clone()))).collect();
    out.sort();
    Ok(out)
}

fn collect_contains(contains: &[Value], out: &mut Vec<(String, String)>) {
    for c in contains {
        if let (Some(s), Some(code)) = (c.get("system").and_then(Value::as_str), c.get("code").and_then(Value::as_str)) {
            out.push((s.to_string(), code.to_string()));
        }
        if let Some(nested) = c.get("contains").and_then(Value::as_array) {
            collect_contains(nested, out);
        }
    }
}

/// Replaces every `:in` / `:not-in` value set URL by its codes (recursively).
pub async fn expand_filters(fhir: &Fhir, tenant: &str, filters: &mut [Filter]) -> Result<()> {
    for f in filters.iter_mut() {
        match f {
            Filter::Clause(Clause { modifier: Some(Modifier::In | Modifier::NotIn), values, .. }) => {
                let mut tokens = Vec::new();
                for v in values.iter() {
                    if let SearchValue::Uri(url) = v {
                        for (system, code) in codes(fhir, tenant, url).await? {
                            tokens.push(SearchValue::Token { system: Some(system), code: Some(code) });
                        }
                    }
                }
                *values = tokens;
            }
            Filter::Chain { inner, .. } | Filter::Has { inner, .. } => {
                Box::pin(expand_filters(fhir, tenant, std::slice::from_mut(inner.as_mut()))).await?;
            }
            Filter::AnyOf(list) => Box::pin(expand_filters(fhir, tenant, list)).await?,
            _ => {}
        }
    }
    Ok(())
}
