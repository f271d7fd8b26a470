//! Compartments from the official CompartmentDefinitions: `GET [base]/Patient/123/Observation`
//! searches the Observations that refer to Patient/123 through the compartment's parameters.
use std::collections::HashMap;

use serde::Deserialize;

use super::params::{ParamType, Registry};
use super::query::{Clause, Filter, SearchValue};
use crate::fhir::definitions::Definitions;

#[derive(Deserialize)]
struct RawCompartment {
    code: String,
    resource: Vec<RawMember>,
}

#[derive(Deserialize)]
struct RawMember {
    code: String,
    #[serde(default)]
    param: Vec<String>,
}

/// Compartment type -> member type -> parameter codes.
pub struct Compartments {
    by_type: HashMap<String, HashMap<String, Vec<String>>>,
}

impl Compartments {
    pub fn from_definitions(defs: &Definitions) -> Result<Compartments, String> {
        let raw: Vec<RawCompartment> = serde_json::from_str(defs.compartments_json()).map_err(|e| e.to_string())?;
        let by_type = raw
            .into_iter()
            .map(|c| (c.code, c.resource.into_iter().filter(|m| !m.param.is_empty()).map(|m| (m.code, m.param)).collect()))
            .collect();
        Ok(Compartments { by_type })
    }

    /// The member types of a compartment.
    pub fn members(&self, compartment_type: &str) -> Vec<String> {
        self.by_type.get(compartment_type).map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn is_compartment(&self, compartment_type: &str) -> bool {
        self.by_type.contains_key(compartment_type)
    }

    /// The parameter codes that put `member_type` resources in a `compartment_type`
    /// compartment (`{def}`: the compartment resource itself); `None` for non-members.
    pub fn params(&self, compartment_type: &str, member_type: &str) -> Option<&[String]> {
        self.by_type.get(compartment_type)?.get(member_type).map(Vec::as_slice)
    }

    /// The filter selecting `member_type` resources in `compartment_type/id`, or `None` when
    /// that type is not a member of the compartment.
    pub fn filter(&self, registry: &Registry, compartment_type: &str, id: &str, member_type: &str) -> Option<Filter> {
        let params = self.by_type.get(compartment_type)?.get(member_type)?;
        let mut any = Vec::new();
        // The compartment resource itself is in its compartment.
        if member_type == compartment_type {
            let p = registry.get(member_type, "_id")?.clone();
            any.push(Filter::Clause(Clause { param: p, modifier: None, values: vec![SearchValue::Token { system: None, code: Some(id.to_string()) }] }));
        }
        for code in params {
            if code == "{def}" {
                continue;
            }
            let Some(p) = registry.get(member_type, code) else { continue };
            if p.kind != ParamType::Reference {
                continue;
            }
            let value = SearchValue::Reference { resource_type: Some(compartment_type.to_string()), id: id.to_string(), url: None };
            any.push(Filter::Clause(Clause { param: p.clone(), modifier: None, values: vec![value] }));
        }
        Some(Filter::AnyOf(any))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_compartment_has_observations() {
        let defs = Definitions::r4();
        let reg = Registry::from_definitions(defs).unwrap();
        let c = Compartments::from_definitions(defs).unwrap();
        let Some(Filter::AnyOf(parts)) = c.filter(&reg, "Patient", "1", "Observation") else { panic!("no filter") };
        assert!(parts.len() >= 2, "subject and performer at least");
        assert!(c.filter(&reg, "Patient", "1", "CodeSystem").is_none());
    }
}
