//! `Patient/[id]/$everything` (https://hl7.org/fhir/R4/patient-operation-everything.html):
//! the patient, every resource in its compartment, and the resources those refer to
//! (Medication, Practitioner, Organization, Location, Device, ...), once each.
use std::collections::HashSet;

use serde_json::Value;

use crate::error::{FhirError, Result};
use crate::interactions::search::{search_confined, Confinement, Paging};
use crate::interactions::Fhir;
use crate::persistence::StoredVersion;

/// Most resources one `$everything` gathers; beyond it the caller narrows with `_type`,
/// `_since`, `start`/`end`, or uses `$export`.
pub const MAX_RESOURCES: usize = 20_000;

/// The operation's parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// `start` / `end`: care dates, applied through each type's `date` parameter.
    pub start: Option<String>,
    pub end: Option<String>,
    /// `_since`: only resources changed at or after this instant.
    pub since: Option<String>,
    /// `_type`: only these types.
    pub types: Option<Vec<String>>,
}

impl Params {
    fn wants(&self, t: &str) -> bool {
        self.types.as_ref().is_none_or(|ts| ts.iter().any(|x| x == t))
    }
}

/// Everything of one patient, in a stable order: the Patient, then the compartment by type
/// and id, then the referenced resources by type and id. `confine` gives the search
/// confinement of a type for the caller (access control); resources it may not see are
/// left out by the caller afterwards.
pub async fn everything(
    fhir: &Fhir,
    tenant: &str,
    patient: &str,
    p: &Params,
    confine: &(dyn Fn(&str) -> Result<Option<Confinement>> + Sync),
) -> Result<Vec<StoredVersion>> {
    let me = crate::interactions::read::read(fhir, tenant, "Patient", patient).await?;
    let mut out = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    seen.insert(("Patient".into(), patient.to_string()));
    if p.wants("Patient") && p.since.as_deref().is_none_or(|s| since_ok(&me, s)) {
        out.push(me);
    }
    let mut members = fhir.compartments.members("Patient");
    members.sort();
    for t in members.iter().filter(|t| t.as_str() != "Patient" && p.wants(t)) {
        let Some(c) = confine(t)? else { continue };
        for v in compartment_of(fhir, tenant, t, patient, p, &c).await? {
            if seen.insert((v.resource_type.clone(), v.id.clone())) {
                out.push(v);
            }
        }
        if out.len() > MAX_RESOURCES {
            return Err(too_many());
        }
    }
    let mut refs: Vec<(String, String)> = out.iter().flat_map(references).filter(|r| !seen.contains(r) && p.wants(&r.0)).collect();
    refs.sort();
    refs.dedup();
    for (t, id) in refs {
        if !fhir.defs.is_resource_type(&t) || !crate::interactions::is_valid_id(&id) {
            continue;
        }
        if let Some(v) = fhir.store.read(tenant, &t, &id).await?.filter(|v| !v.is_deleted()) {
            if p.since.as_deref().is_none_or(|s| since_ok(&v, s)) {
                seen.insert((t, id));
                out.push(crate::interactions::binary::hydrate(fhir, v).await?);
            }
        }
        if out.len() > MAX_RESOURCES {
            return Err(too_many());
        }
    }
    Ok(out)
}

pub fn too_many() -> FhirError {
    FhirError::TooCostly(format!(
        "$everything gathers more than {MAX_RESOURCES} resources; narrow it with _type, _since, start or end, or use $export"
    ))
}

fn since_ok(v: &StoredVersion, since: &str) -> bool {
    crate::fhir::meta::parse_range(since).is_none_or(|(from, _)| v.last_updated >= from)
}

/// Every page of one compartment type's search.
async fn compartment_of(fhir: &Fhir, tenant: &str, t: &str, patient: &str, p: &Params, c: &Confinement) -> Result<Vec<StoredVersion>> {
    let registry = fhir.registry_for(tenant);
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(s) = &p.since {
        params.push(("_lastUpdated".into(), format!("ge{s}")));
    }
    if registry.get(t, "date").is_some() {
        if let Some(s) = &p.start {
            params.push(("date".into(), format!("ge{s}")));
        }
        if let Some(e) = &p.end {
            params.push(("date".into(), format!("le{e}")));
        }
    }
    let paging = Paging { default: 1000, max: 1000 };
    let mut out = Vec::new();
    loop {
        let (_, page) = search_confined(fhir, tenant, vec![t.to_string()], &params, false, paging, Some(("Patient", patient)), c).await?;
        for v in page.matches {
            out.push(crate::interactions::binary::hydrate(fhir, v).await?);
        }
        if out.len() > MAX_RESOURCES {
            return Err(too_many());
        }
        match page.next {
            Some(next) => {
                params.retain(|(k, _)| k != "_cursor");
                params.push(("_cursor".into(), next));
            }
            None => return Ok(out),
        }
    }
}

/// The literal references (`Type/id`, relative or on any base) a resource holds.
fn references(v: &StoredVersion) -> Vec<(String, String)> {
    let Some(body) = v.body.as_deref() else { return Vec::new() };
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let mut out = Vec::new();
    let mut stack = vec![&value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("reference") {
                    let mut parts = r.rsplit('/');
                    if let (Some(id), Some(t)) = (parts.next(), parts.next()) {
                        if !r.contains('?') && !r.starts_with('#') && t.starts_with(|c: char| c.is_ascii_uppercase()) {
                            out.push((t.to_string(), id.to_string()));
                        }
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    out
}
