//! Who is calling (from a verified token) and what they may do: role rules and SMART
//! scopes combined into one access decision per interaction and resource type.
use serde_json::Value;

use super::interaction::Interaction;
use super::rules::Rules;
use super::scopes::{self, Context, Scope};

#[derive(Debug, Clone, Default)]
pub struct Principal {
    pub subject: String,
    /// `client_id` / `azp` / `aud` of the token.
    pub client: Option<String>,
    /// `None` when the token has no groups claim (role rules then do not apply).
    pub groups: Option<Vec<String>>,
    /// SMART resource scopes (other scopes are dropped).
    pub scopes: Vec<Scope>,
    /// SMART launch context `patient`.
    pub patient: Option<String>,
    pub fhir_user: Option<String>,
    pub tenant: Option<String>,
}

/// One way a request may be allowed: within one patient's compartment and/or matching a
/// SMART v2 query filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub patient: Option<String>,
    pub query: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Denied(String),
    Full,
    /// Allowed on resources that satisfy any of these.
    Restricted(Vec<Restriction>),
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).map(str::to_string).collect()),
        Value::String(s) => Some(s.split([' ', ',']).filter(|x| !x.is_empty()).map(str::to_string).collect()),
        _ => None,
    }
}

impl Principal {
    /// From verified claims. `groups_claim` and `tenant_claim` are configurable names.
    pub fn from_claims(claims: &Value, groups_claim: &str, tenant_claim: &str) -> Principal {
        let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        let scope_text = match claims.get("scope").or_else(|| claims.get("scp")) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
            _ => String::new(),
        };
        let fhir_user = s("fhirUser").or_else(|| s("custom:fhirUser"));
        Principal {
            subject: s("sub").unwrap_or_default(),
            client: s("client_id").or_else(|| s("azp")).or_else(|| s("aud")),
            groups: strings(claims.get(groups_claim)),
            scopes: scopes::parse_all(&scope_text),
            patient: s("patient").filter(|p| crate::interactions::is_valid_id(p)),
            fhir_user,
            tenant: s(tenant_claim),
        }
    }

    /// The patient a user-level token stands for, when `fhirUser` is a Patient.
    fn user_patient(&self) -> Option<String> {
        let fu = self.fhir_user.as_deref()?;
        let rest = fu.rsplit_once("Patient/")?.1;
        let id = rest.split('/').next()?;
        crate::interactions::is_valid_id(id).then(|| id.to_string())
    }

    pub fn decide(&self, rules: &Rules, interaction: Interaction, resource_type: Option<&str>) -> Access {
        if interaction == Interaction::Capabilities {
            return Access::Full;
        }
        let what = || format!("{} on {}", interaction.code(), resource_type.unwrap_or("the system"));
        if self.groups.is_none() && self.scopes.is_empty() {
            return Access::Denied("the token carries no group and no SMART resource scope".into());
        }
        if let Some(groups) = &self.groups {
            if !groups.iter().any(|g| rules.is_known(g)) && self.scopes.is_empty() {
                return Access::Denied("the token's groups have no access rules".into());
            }
            if !rules.allows(groups, interaction, resource_type) {
                return Access::Denied(format!("the token's groups do not allow {}", what()));
            }
        }
        if self.scopes.is_empty() {
            return Access::Full;
        }
        let mut restrictions = Vec::new();
        for s in self.scopes.iter().filter(|s| s.grants(interaction, resource_type)) {
            let patient = match s.context {
                Context::Patient => match &self.patient {
                    Some(p) => Some(p.clone()),
                    // A patient scope without a patient context grants nothing.
                    None => continue,
                },
                Context::User => self.user_patient(),
                Context::System => None,
            };
            let r = Restriction { patient, query: s.query.clone() };
            if r.patient.is_none() && r.query.is_empty() {
                return Access::Full;
            }
            if !restrictions.contains(&r) {
                restrictions.push(r);
            }
        }
        if restrictions.is_empty() {
            Access::Denied(format!("the token's scopes do not allow {}", what()))
        } else {
            Access::Restricted(restrictions)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_and_scopes() {
        let rules = Rules::builtin();
        let p = Principal::from_claims(&json!({"sub": "u", "cognito:groups": ["auditor"]}), "cognito:groups", "custom:tenantId");
        assert_eq!(p.decide(&rules, Interaction::Read, Some("Patient")), Access::Full);
        assert!(matches!(p.decide(&rules, Interaction::Read, Some("Observation")), Access::Denied(_)));
        let p = Principal::from_claims(&json!({"sub": "u", "scope": "openid patient/*.rs", "patient": "A"}), "g", "t");
        assert_eq!(
            p.decide(&rules, Interaction::Read, Some("Observation")),
            Access::Restricted(vec![Restriction { patient: Some("A".into()), query: vec![] }])
        );
        assert!(matches!(p.decide(&rules, Interaction::Create, Some("Observation")), Access::Denied(_)));
        // A user/ scope held by a patient (fhirUser Patient/P) is confined to P.
        let p = Principal::from_claims(&json!({"scope": "user/*.rs", "fhirUser": "https://x.test/fhir/Patient/P"}), "g", "t");
        assert_eq!(
            p.decide(&rules, Interaction::SearchType, Some("Observation")),
            Access::Restricted(vec![Restriction { patient: Some("P".into()), query: vec![] }])
        );
        // Both groups and scopes: both must allow.
        let p = Principal::from_claims(&json!({"cognito:groups": ["auditor"], "scope": "user/*.cruds"}), "cognito:groups", "t");
        assert_eq!(p.decide(&rules, Interaction::Read, Some("Patient")), Access::Full);
        assert!(matches!(p.decide(&rules, Interaction::Delete, Some("Patient")), Access::Denied(_)));
        let p = Principal::from_claims(&json!({"sub": "u"}), "g", "t");
        assert!(matches!(p.decide(&rules, Interaction::Read, Some("Observation")), Access::Denied(_)));
    }
}
