//! Enforcement: the checks the routes run with a request's principal, beyond the
//! type-level decision: single-resource visibility (patient compartment, SMART query
//! filters), filters injected into searches, included resources, Bundle entries.
use std::sync::Arc;

use serde_json::Value;

use super::interaction::Interaction;
use super::principal::{Access, Principal, Restriction};
use super::rules::Rules;
use crate::error::{FhirError, Result};
use crate::interactions::Fhir;
use crate::persistence::StoredVersion;
use crate::search::extract::IndexValue;
use crate::search::query::{self, Filter};

pub fn forbidden(why: impl Into<String>) -> FhirError {
    FhirError::Forbidden(why.into())
}

pub use crate::interactions::search::Confinement;

pub struct Guard<'a> {
    pub fhir: &'a Fhir,
    pub rules: &'a Rules,
    pub tenant: String,
    /// `None`: no authentication (mode `none`): everything is allowed.
    pub principal: Option<Arc<Principal>>,
}

impl Guard<'_> {
    pub fn access(&self, interaction: Interaction, resource_type: Option<&str>) -> Access {
        match &self.principal {
            None => Access::Full,
            Some(p) => p.decide(self.rules, interaction, resource_type),
        }
    }

    /// The access, or 403 when denied.
    pub fn require(&self, interaction: Interaction, resource_type: Option<&str>) -> Result<Access> {
        match self.access(interaction, resource_type) {
            Access::Denied(why) => Err(forbidden(why)),
            a => Ok(a),
        }
    }

    /// Whether a resource body is in the compartment of Patient `patient`.
    pub fn in_patient_compartment(&self, body: &Value, patient: &str) -> bool {
        let Some(rt) = body.get("resourceType").and_then(Value::as_str) else { return false };
        if rt == "Patient" && body.get("id").and_then(Value::as_str) == Some(patient) {
            return true;
        }
        let Some(params) = self.fhir.compartments.params("Patient", rt) else { return false };
        let schema = self.fhir.schema.get();
        schema.extractor.extract(body).iter().any(|e| {
            params.iter().any(|p| p == &e.param)
                && matches!(&e.value, IndexValue::Reference { target_type: Some(t), target_id: Some(id), .. } if t == "Patient" && id == patient)
        })
    }

    /// Whether the current version of `type/id` matches a SMART query filter.
    async fn matches_query(&self, resource_type: &str, id: &str, q: &[(String, String)]) -> Result<bool> {
        let mut params = q.to_vec();
        params.push(("_id".into(), id.to_string()));
        params.push(("_summary".into(), "count".into()));
        let registry = self.fhir.registry_for(&self.tenant);
        let parsed = query::parse(&registry, vec![resource_type.to_string()], &params, false)?;
        let page = self.fhir.search.search(&self.tenant, parsed, 1).await?;
        Ok(page.total.unwrap_or(page.matches.len() as u64) > 0)
    }

    async fn satisfies(&self, r: &Restriction, body: &Value, resource_type: &str, id: &str) -> Result<bool> {
        if let Some(p) = &r.patient {
            if !self.in_patient_compartment(body, p) {
                return Ok(false);
            }
        }
        if !r.query.is_empty() && !self.matches_query(resource_type, id, &r.query).await? {
            return Ok(false);
        }
        Ok(true)
    }

    /// Whether `v` may be seen under `access` (versions without a body: only with full access).
    /// A SMART query filter is matched by the search index, which knows current versions
    /// only: under one, an older version is out of reach.
    pub async fn visible(&self, access: &Access, v: &StoredVersion) -> Result<bool> {
        match access {
            Access::Full => Ok(true),
            Access::Denied(_) => Ok(false),
            Access::Restricted(rs) => {
                let Some(body) = v.body.as_deref() else { return Ok(false) };
                let Ok(value) = serde_json::from_slice::<Value>(body) else { return Ok(false) };
                let mut current = None;
                for r in rs {
                    if !r.query.is_empty() {
                        if current.is_none() {
                            current = Some(self.fhir.store.read(&self.tenant, &v.resource_type, &v.id).await?.map(|c| c.version));
                        }
                        if current != Some(Some(v.version)) {
                            continue;
                        }
                    }
                    if self.satisfies(r, &value, &v.resource_type, &v.id).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    /// 403 unless `v` is visible.
    pub async fn ensure_visible(&self, access: &Access, v: &StoredVersion) -> Result<()> {
        if self.visible(access, v).await? {
            Ok(())
        } else {
            Err(forbidden(format!("{}/{} is outside what the token may access", v.resource_type, v.id)))
        }
    }

    /// Before an update, patch or delete by id under restricted access: the resource, if it
    /// exists, must be visible; if it does not, 403 as well (no existence leak).
    pub async fn ensure_existing_visible(&self, access: &Access, resource_type: &str, id: &str) -> Result<()> {
        if matches!(access, Access::Full) {
            return Ok(());
        }
        match self.fhir.store.read(&self.tenant, resource_type, id).await? {
            Some(v) if !v.is_deleted() => self.ensure_visible(access, &v).await,
            _ => Err(forbidden(format!("{resource_type}/{id} is outside what the token may access"))),
        }
    }

    /// The gate the service layer asks about each write and criteria search (none without
    /// authentication).
    pub fn gate(&self) -> crate::interactions::gate::GateRef {
        let principal = self.principal.clone()?;
        Some(Arc::new(super::gate::PolicyGate {
            principal,
            rules: self.rules.clone(),
            compartments: self.fhir.compartments.clone(),
            schema: self.fhir.schema.clone(),
        }))
    }

    /// `_list=id` shows which resources a List holds: the List must be readable.
    pub async fn check_lists(&self, params: &[(String, String)]) -> Result<()> {
        if self.principal.is_none() {
            return Ok(());
        }
        for (_, id) in params.iter().filter(|(k, _)| k == "_list") {
            let access = self.require(Interaction::Read, Some("List"))?;
            let denied = || forbidden(format!("List/{} is outside what the token may access", id.chars().take(64).collect::<String>()));
            match self.fhir.store.read(&self.tenant, "List", id).await {
                Ok(Some(v)) if !v.is_deleted() => {
                    if !self.visible(&access, &v).await? {
                        return Err(denied());
                    }
                }
                _ => {
                    if !matches!(access, Access::Full) {
                        return Err(denied());
                    }
                }
            }
        }
        Ok(())
    }

    /// The filters confining a search of `resource_type` under `access`.
    pub fn confinement(&self, access: &Access, resource_type: &str) -> Result<Confinement> {
        let Access::Restricted(rs) = access else { return Ok(Confinement::default()) };
        let registry = self.fhir.registry_for(&self.tenant);
        let mut out = Confinement { filters: Vec::new(), no_chains: true, reachable: None };
        let patients: Vec<Option<&String>> = rs.iter().map(|r| r.patient.as_ref()).collect();
        let first = patients[0];
        if patients.iter().any(|p| *p != first) {
            return Err(forbidden("the token's scopes mix patient and non-patient access to this type; search one way at a time"));
        }
        if let Some(p) = first {
            let f = self.fhir.compartments.filter(&registry, "Patient", p, resource_type).unwrap_or(Filter::AnyOf(Vec::new()));
            out.filters.push(f);
        }
        if rs.iter().all(|r| !r.query.is_empty()) {
            let mut alternatives = Vec::new();
            for r in rs {
                let q = query::parse(&registry, vec![resource_type.to_string()], &r.query, false)?;
                alternatives.push(q.filters);
            }
            if alternatives.len() == 1 {
                out.filters.extend(alternatives.remove(0));
            } else if alternatives.iter().all(|a| a.len() == 1) {
                out.filters.push(Filter::AnyOf(alternatives.into_iter().flatten().collect()));
            } else {
                return Err(forbidden("the token's query-filtered scopes are too complex to apply to a search"));
            }
        }
        Ok(out)
    }

    /// The types a caller whose rules do not cover every type may search (chains and
    /// `_has` may only look into these); `None` when every type is open.
    pub fn reachable_types(&self) -> Option<Vec<String>> {
        self.principal.as_ref()?;
        if matches!(self.access(Interaction::SearchSystem, None), Access::Full) {
            return None;
        }
        let types = self.fhir.defs.resource_types();
        Some(types.iter().filter(|t| matches!(self.access(Interaction::SearchType, Some(t.as_str())), Access::Full)).cloned().collect())
    }

    /// `_include` / `_revinclude` results the caller may read.
    pub async fn filter_included(&self, included: Vec<StoredVersion>) -> Result<Vec<StoredVersion>> {
        if self.principal.is_none() {
            return Ok(included);
        }
        let mut out = Vec::with_capacity(included.len());
        for v in included {
            let access = self.access(Interaction::Read, Some(&v.resource_type));
            if self.visible(&access, &v).await? {
                out.push(v);
            }
        }
        Ok(out)
    }
}
