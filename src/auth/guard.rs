//! Enforcement: the checks the routes run with a request's principal, beyond the
//! type-level decision: single-resource visibility (patient compartment, SMART query
//! filters), filters injected into searches, included resources, Bundle entries.
use std::sync::Arc;

use serde_json::Value;

use super::interaction::{classify, Interaction};
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

/// What a search must be confined to.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    /// AND-ed into the query.
    pub filters: Vec<Filter>,
    /// Chained parameters and `_has` are refused (they would look outside the confinement).
    pub no_chains: bool,
    /// Types chains and `_has` may look into (`None`: any).
    pub reachable: Option<Vec<String>>,
}

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
        let registry = self.fhir.registry();
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
    pub async fn visible(&self, access: &Access, v: &StoredVersion) -> Result<bool> {
        match access {
            Access::Full => Ok(true),
            Access::Denied(_) => Ok(false),
            Access::Restricted(rs) => {
                let Some(body) = v.body.as_deref() else { return Ok(false) };
                let Ok(value) = serde_json::from_slice::<Value>(body) else { return Ok(false) };
                for r in rs {
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

    /// A body about to be written must stay within the token's patient compartment (SMART
    /// query-filtered scopes do not grant writes).
    pub fn ensure_writable_body(&self, access: &Access, body: &Value) -> Result<()> {
        let Access::Restricted(rs) = access else { return Ok(()) };
        let ok = rs.iter().any(|r| r.query.is_empty() && r.patient.as_deref().is_some_and(|p| self.in_patient_compartment(body, p)));
        if ok {
            Ok(())
        } else {
            Err(forbidden("the resource would be outside the token's patient compartment"))
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

    /// The filters confining a search of `resource_type` under `access`.
    pub fn confinement(&self, access: &Access, resource_type: &str) -> Result<Confinement> {
        let Access::Restricted(rs) = access else { return Ok(Confinement::default()) };
        let registry = self.fhir.registry();
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

    /// Every entry of a batch or transaction Bundle is checked as if sent on its own; one
    /// denied entry refuses the whole Bundle.
    pub async fn check_bundle(&self, bundle: &Value, base_url: &str) -> Result<()> {
        if self.principal.is_none() {
            return Ok(());
        }
        let kind = match bundle.get("type").and_then(Value::as_str) {
            Some("batch") => Interaction::Batch,
            _ => Interaction::Transaction,
        };
        self.require(kind, None)?;
        let entries = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let wildcard = matches!(self.access(Interaction::SearchSystem, None), Access::Full);
        for (i, e) in entries.iter().enumerate() {
            let deny = |why: String| forbidden(format!("Bundle.entry[{i}]: {why}"));
            let req = e.get("request");
            let method = req.and_then(|r| r.get("method")).and_then(Value::as_str).unwrap_or("");
            let url = req.and_then(|r| r.get("url")).and_then(Value::as_str).unwrap_or("");
            let url = url.strip_prefix(base_url).unwrap_or(url);
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let segs: Vec<String> = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect();
            let s: Vec<&str> = segs.iter().map(String::as_str).collect();
            let Ok(m) = axum::http::Method::from_bytes(method.as_bytes()) else { continue };
            let defs = self.fhir.defs;
            let target = classify(&m, &s, &|t| defs.is_resource_type(t));
            let rt = target.resource_type.as_deref();
            let access = self.require(target.interaction, rt).map_err(|e| deny(e.to_string()))?;
            let conditional = !query.is_empty() || req.and_then(|r| r.get("ifNoneExist")).is_some();
            let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let reaching = params.iter().any(|(k, _)| k.starts_with("_include") || k.starts_with("_revinclude") || k.starts_with("_has") || k.contains('.'));
            if reaching && !wildcard {
                return Err(deny("_include, _revinclude, _has and chains are only for tokens that may search everything".into()));
            }
            // A conditional reference (`Patient?identifier=...`) is a search of its type: the
            // Bundle's outcome would tell whether a match exists.
            if let Some(body) = e.get("resource") {
                for t in conditional_reference_types(body) {
                    if !matches!(self.access(Interaction::SearchType, Some(&t)), Access::Full) {
                        return Err(deny(format!("a conditional reference searches {t}, which this token may not search in full")));
                    }
                }
            }
            if matches!(access, Access::Full) {
                continue;
            }
            let searching = matches!(
                target.interaction,
                Interaction::SearchType | Interaction::SearchSystem | Interaction::HistoryType | Interaction::HistorySystem | Interaction::Operation
            );
            if conditional || searching || rt.is_none() {
                return Err(deny("searches, history, operations and conditional entries need unrestricted access to the type".into()));
            }
            if target.interaction == Interaction::Patch {
                return Err(deny("PATCH entries need unrestricted access to the type".into()));
            }
            let rt = rt.unwrap_or_default();
            if let Some(id) = target.id.as_deref() {
                match target.interaction {
                    Interaction::Create => {}
                    _ => self.ensure_existing_visible(&access, rt, id).await.map_err(|e| deny(e.to_string()))?,
                }
            }
            if let Some(body) = e.get("resource").filter(|_| matches!(target.interaction, Interaction::Create | Interaction::Update)) {
                self.ensure_writable_body(&access, body).map_err(|e| deny(e.to_string()))?;
            }
        }
        Ok(())
    }
}

/// The resource types searched by conditional references (`Type?query`) inside a resource.
fn conditional_reference_types(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("reference") {
                    if let Some((t, _)) = r.split_once('?') {
                        let t = t.rsplit('/').next().unwrap_or(t).to_string();
                        if !out.contains(&t) {
                            out.push(t);
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

#[cfg(test)]
mod conditional_reference_tests {
    use super::conditional_reference_types;

    #[test]
    fn finds_conditional_references() {
        let r = serde_json::json!({"resourceType": "Encounter", "subject": {"reference": "Patient?identifier=x|1"},
            "participant": [{"individual": {"reference": "Practitioner?identifier=npi|2"}}], "serviceProvider": {"reference": "Organization/1"}});
        let mut types = conditional_reference_types(&r);
        types.sort();
        assert_eq!(types, vec!["Patient", "Practitioner"]);
    }
}
