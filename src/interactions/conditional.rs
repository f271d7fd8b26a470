//! Conditional create, update, delete and patch (https://hl7.org/fhir/R4/http.html#cond-update).
//! The search and the write run in one store transaction, so two concurrent conditional
//! creates with the same criteria cannot both create.
use serde_json::Value;

use super::patch::{patch_in_tx, PatchBody};
use super::{binary, check_resource, check_type, Fhir};
use crate::error::{FhirError, Result};
use super::gate::{self, GateRef};
use crate::persistence::{Expect, Method, StoredVersion, Tx, WriteOp};
use crate::search::params::Registry;
use crate::search::query::SearchQuery;

/// Parses conditional criteria (`identifier=x|y&...`, without the `?`) for a type.
pub fn criteria(registry: &Registry, resource_type: &str, query: &str) -> Result<SearchQuery> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| !matches!(k.as_str(), "_format" | "_pretty"))
        .collect();
    criteria_params(registry, resource_type, &params)
}

pub fn criteria_params(registry: &Registry, resource_type: &str, params: &[(String, String)]) -> Result<SearchQuery> {
    let q = crate::search::query::parse(registry, vec![resource_type.to_string()], params, true)?;
    if q.filters.is_empty() {
        return Err(FhirError::BadRequest(format!("conditional criteria for {resource_type} must have at least one search parameter")));
    }
    Ok(q)
}

/// Ids of the current resources matching `q`, at most `limit`.
pub fn matches(tx: &mut dyn Tx, q: &SearchQuery, limit: usize) -> Result<Vec<String>> {
    Ok(tx.search_ids(q, limit)?.into_iter().map(|(_, id)| id).collect())
}

fn many(resource_type: &str, n: usize) -> FhirError {
    FhirError::PreconditionFailed(format!("the conditional criteria match {n}{} {resource_type} resources; they must match at most one", if n > 1 { " or more" } else { "" }))
}

/// `POST [type]` with `If-None-Exist`: creates only when nothing matches. Returns the
/// created or the matching version and whether it was created.
pub async fn create(fhir: &Fhir, tenant: &str, resource_type: &str, mut resource: Value, if_none_exist: &str, gate: &GateRef) -> Result<(StoredVersion, bool)> {
    check_type(fhir, resource_type)?;
    let q = criteria(&fhir.registry_for(tenant), resource_type, if_none_exist)?;
    if let Some(obj) = resource.as_object_mut() {
        obj.remove("id");
    }
    check_resource(fhir, resource_type, &resource)?;
    let id = super::transaction::entry::new_id();
    binary::offload(fhir, tenant, &id, &mut resource).await?;
    let t = resource_type.to_string();
    gate::run(fhir, tenant, gate, move |tx| {
        let found = matches(tx, &q, 2)?;
        match found.as_slice() {
            [] => {
                let op = WriteOp { resource_type: t, id, expect: Expect::Absent, method: Method::Post, resource: Some(resource) };
                let v = tx.write(op)?.version.ok_or_else(|| FhirError::Internal("the store returned no version for a create".into()))?;
                Ok((v, true))
            }
            [existing] => {
                let v = tx.read(&t, existing)?.ok_or_else(|| FhirError::Internal("a matching resource vanished".into()))?;
                Ok((v, false))
            }
            _ => Err(many(&t, found.len())),
        }
    })
    .await
}

/// `PUT [type]?criteria`: 0 matches create, 1 match updates, more fail with 412.
pub async fn update(fhir: &Fhir, tenant: &str, resource_type: &str, params: &[(String, String)], mut resource: Value, if_match: Option<u64>, gate: &GateRef) -> Result<(StoredVersion, bool)> {
    check_type(fhir, resource_type)?;
    let q = criteria_params(&fhir.registry_for(tenant), resource_type, params)?;
    check_resource(fhir, resource_type, &resource)?;
    let body_id = match resource.get("id") {
        None => None,
        Some(Value::String(s)) => {
            super::check_id(s)?;
            Some(s.clone())
        }
        Some(_) => return Err(FhirError::BadRequest("the body's id must be a string".into())),
    };
    let new_id = body_id.clone().unwrap_or_else(super::transaction::entry::new_id);
    binary::offload(fhir, tenant, &new_id, &mut resource).await?;
    let t = resource_type.to_string();
    gate::run(fhir, tenant, gate, move |tx| {
        let found = matches(tx, &q, 2)?;
        let (id, expect) = match found.as_slice() {
            [] => (new_id, if_match.map(Expect::Version).unwrap_or(Expect::Any)),
            [existing] => {
                if body_id.as_deref().is_some_and(|b| b != existing) {
                    return Err(FhirError::BadRequest(format!("the body's id does not match the resource the criteria found ({t}/{existing})")));
                }
                (existing.clone(), if_match.map(Expect::Version).unwrap_or(Expect::Any))
            }
            _ => return Err(many(&t, found.len())),
        };
        if let Some(obj) = resource.as_object_mut() {
            obj.insert("id".into(), Value::String(id.clone()));
        }
        let current = if t != "Binary" { tx.read(&t, &id)? } else { None };
        let op = WriteOp { resource_type: t, id, expect, method: Method::Put, resource: Some(resource) };
        if let Some(v) = op.resource.as_ref().and_then(|r| super::unchanged(current.as_ref(), r)) {
            if matches!(expect, Expect::Any) || expect == Expect::Version(v.version) {
                tx.may_write(&op)?;
                return Ok((v, false));
            }
        }
        let r = tx.write(op)?;
        let v = r.version.ok_or_else(|| FhirError::Internal("the store returned no version for an update".into()))?;
        Ok((v, r.created))
    })
    .await
}

/// `DELETE [type]?criteria`: deletes the one match, or every match when `multiple` (up to
/// `max`); more than one match without `multiple` fails with 412. Returns the deletions.
pub async fn delete(fhir: &Fhir, tenant: &str, resource_type: &str, params: &[(String, String)], multiple: bool, max: usize, gate: &GateRef) -> Result<Vec<StoredVersion>> {
    check_type(fhir, resource_type)?;
    let q = criteria_params(&fhir.registry_for(tenant), resource_type, params)?;
    let t = resource_type.to_string();
    gate::run(fhir, tenant, gate, move |tx| {
        let limit = if multiple { max + 1 } else { 2 };
        let found = matches(tx, &q, limit)?;
        if found.len() > 1 && !multiple {
            return Err(many(&t, found.len()));
        }
        if found.len() > max {
            return Err(FhirError::PreconditionFailed(format!("the criteria match more than {max} {t} resources")));
        }
        let mut out = Vec::new();
        for id in found {
            let op = WriteOp { resource_type: t.clone(), id, expect: Expect::Any, method: Method::Delete, resource: None };
            if let Some(v) = tx.write(op)?.version {
                out.push(v);
            }
        }
        Ok(out)
    })
    .await
}

/// `PATCH [type]?criteria`: 0 matches 404, 1 match patched, more 412.
pub async fn patch(fhir: &Fhir, tenant: &str, resource_type: &str, params: &[(String, String)], body: PatchBody, if_match: Option<u64>, gate: &GateRef) -> Result<StoredVersion> {
    check_type(fhir, resource_type)?;
    let q = criteria_params(&fhir.registry_for(tenant), resource_type, params)?;
    let defs = fhir.defs;
    let t = resource_type.to_string();
    gate::run(fhir, tenant, gate, move |tx| {
        let found = matches(tx, &q, 2)?;
        match found.as_slice() {
            [] => Err(FhirError::NotFound(format!("no {t} matches the conditional patch criteria"))),
            [id] => patch_in_tx(tx, defs, &t, id, &body, if_match),
            _ => Err(many(&t, found.len())),
        }
    })
    .await
}
