//! The policy asked by the service layer about each write it executes and each criteria
//! search a write makes (see `crate::interactions::gate`).
use std::sync::Arc;

use serde_json::Value;

use super::guard::forbidden;
use super::interaction::Interaction;
use super::principal::{Access, Principal};
use super::rules::Rules;
use crate::error::Result;
use crate::interactions::gate::Gate;
use crate::persistence::{Method, StoredVersion, WriteOp};
use crate::search::compartment::Compartments;
use crate::search::extract::IndexValue;
use crate::search::query::{Filter, SearchQuery};
use crate::search::schema::SchemaCell;

pub struct PolicyGate {
    pub principal: Arc<Principal>,
    pub rules: Rules,
    pub compartments: Arc<Compartments>,
    pub schema: Arc<SchemaCell>,
}

impl PolicyGate {
    /// Whether `body` lies in Patient `patient`'s compartment and in no other patient's:
    /// every compartment reference to a Patient names `patient`, and there is at least one
    /// (or the body is that Patient).
    pub fn stays_within(&self, body: &Value, patient: &str) -> bool {
        stays_within(&self.compartments, &self.schema, body, patient)
    }
}

pub fn stays_within(compartments: &Compartments, schema: &SchemaCell, body: &Value, patient: &str) -> bool {
    let Some(rt) = body.get("resourceType").and_then(Value::as_str) else { return false };
    let is_self = rt == "Patient" && body.get("id").and_then(Value::as_str) == Some(patient);
    if rt == "Patient" && !is_self {
        return false;
    }
    let params = compartments.params("Patient", rt).unwrap_or(&[]);
    if params.is_empty() && !is_self {
        return false;
    }
    let schema = schema.get();
    let mut any = is_self;
    for e in schema.extractor.extract(body) {
        if !params.iter().any(|p| p == &e.param) {
            continue;
        }
        if let IndexValue::Reference { target_type: Some(t), target_id, .. } = &e.value {
            if t == "Patient" {
                if target_id.as_deref() != Some(patient) {
                    return false;
                }
                any = true;
            }
        }
    }
    any
}

impl Gate for PolicyGate {
    fn write(&self, op: &WriteOp, current: Option<&StoredVersion>) -> Result<()> {
        let interaction = match op.method {
            Method::Post => Interaction::Create,
            Method::Put => Interaction::Update,
            Method::Delete => Interaction::Delete,
        };
        let out_of_reach = || forbidden(format!("{}/{} is outside what the token may change", op.resource_type, op.id));
        match self.principal.decide(&self.rules, interaction, Some(&op.resource_type)) {
            Access::Full => Ok(()),
            Access::Denied(why) => Err(forbidden(why)),
            Access::Restricted(rs) => {
                // Query-filtered scopes grant no writes; patient scopes grant writes that
                // stay in the patient's compartment, before and after.
                let ok = rs.iter().filter(|r| r.query.is_empty()).filter_map(|r| r.patient.as_deref()).any(|p| {
                    // Every other Patient is another patient, whatever it links to.
                    if op.resource_type == "Patient" && op.id != p {
                        return false;
                    }
                    let before = match current {
                        None => op.method == Method::Post,
                        Some(c) => c.body.as_deref().and_then(|b| serde_json::from_slice::<Value>(b).ok()).is_some_and(|b| self.stays_within(&b, p)),
                    };
                    before && op.resource.as_ref().is_none_or(|b| self.stays_within(b, p))
                });
                if ok {
                    Ok(())
                } else {
                    Err(out_of_reach())
                }
            }
        }
    }

    fn absent(&self, resource_type: &str, id: &str) -> Result<()> {
        match self.principal.decide(&self.rules, Interaction::Read, Some(resource_type)) {
            Access::Full => Ok(()),
            _ => Err(forbidden(format!("{resource_type}/{id} is outside what the token may change"))),
        }
    }

    fn criteria(&self, query: &SearchQuery) -> Result<()> {
        let mut types: Vec<&str> = query.types.iter().map(String::as_str).collect();
        for f in &query.filters {
            reached_types(f, &mut types);
        }
        for t in types {
            if !matches!(self.principal.decide(&self.rules, Interaction::SearchType, Some(t)), Access::Full) {
                return Err(forbidden(format!("conditional criteria search {t}, which this token may not search in full")));
            }
        }
        Ok(())
    }
}

/// The types chains and `_has` in a filter look into.
fn reached_types<'a>(f: &'a Filter, out: &mut Vec<&'a str>) {
    match f {
        Filter::Chain { target_type, inner, .. } => {
            out.push(target_type);
            reached_types(inner, out);
        }
        Filter::Has { source_type, inner, .. } => {
            out.push(source_type);
            reached_types(inner, out);
        }
        Filter::AnyOf(list) => list.iter().for_each(|f| reached_types(f, out)),
        Filter::List(_) => out.push("List"),
        _ => {}
    }
}
