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

/// A claim that must be a string when present.
fn text(claims: &Value, key: &str) -> Result<Option<String>, String> {
    match claims.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("the claim '{key}' must be a string")),
    }
}

/// A claim that is a list of strings, as an array or space/comma separated.
fn strings(claims: &Value, key: &str) -> Result<Option<Vec<String>>, String> {
    match claims.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.split([' ', ',']).filter(|x| !x.is_empty()).map(str::to_string).collect())),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("the claim '{key}' must hold strings only")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("the claim '{key}' must be a string or an array of strings")),
    }
}

/// `fhirUser`: `[base/]Type/id` of a person type, as SMART defines it.
fn check_fhir_user(fu: &str) -> Result<(), String> {
    let bad = || format!("the claim 'fhirUser' ('{}') is not a reference to a Patient, Practitioner, PractitionerRole, RelatedPerson or Person", fu.chars().take(80).collect::<String>());
    let mut parts = fu.rsplitn(3, '/');
    let (Some(id), Some(ty)) = (parts.next(), parts.next()) else { return Err(bad()) };
    let base_ok = parts.next().is_none_or(|b| b.starts_with("https://") || b.starts_with("http://"));
    if base_ok && matches!(ty, "Patient" | "Practitioner" | "PractitionerRole" | "RelatedPerson" | "Person") && crate::interactions::is_valid_id(id) {
        Ok(())
    } else {
        Err(bad())
    }
}

impl Principal {
    /// From verified claims. `groups_claim` and `tenant_claim` are configurable names.
    /// Anything malformed is an error (the caller answers 401): a claim is never read as
    /// absent because it has the wrong shape.
    pub fn from_claims(claims: &Value, groups_claim: &str, tenant_claim: &str) -> Result<Principal, String> {
        let scope_text = match claims.get("scope").or_else(|| claims.get("scp")) {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => {
                a.iter().map(|v| v.as_str().ok_or("the claim 'scope' must hold strings only")).collect::<Result<Vec<_>, _>>()?.join(" ")
            }
            Some(_) => return Err("the claim 'scope' must be a string or an array of strings".into()),
        };
        let fhir_user = match text(claims, "fhirUser")? {
            Some(f) => Some(f),
            None => text(claims, "custom:fhirUser")?,
        };
        if let Some(f) = &fhir_user {
            check_fhir_user(f)?;
        }
        let patient = text(claims, "patient")?;
        if patient.as_deref().is_some_and(|p| !crate::interactions::is_valid_id(p)) {
            return Err("the claim 'patient' is not a valid resource id".into());
        }
        let tenant = text(claims, tenant_claim)?;
        if tenant.as_deref().is_some_and(|t| !crate::model::tenant::is_valid_tenant(t)) {
            return Err(format!("the claim '{tenant_claim}' is not a valid tenant id (letters, digits and '-')"));
        }
        let client = match text(claims, "client_id")? {
            Some(c) => Some(c),
            None => match text(claims, "azp")? {
                Some(c) => Some(c),
                None => match claims.get("aud") {
                    Some(Value::String(a)) => Some(a.clone()),
                    Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
                    _ => None,
                },
            },
        };
        Ok(Principal {
            subject: text(claims, "sub")?.unwrap_or_default(),
            client,
            groups: strings(claims, groups_claim)?,
            scopes: scopes::parse_all(&scope_text)?,
            patient,
            fhir_user,
            tenant,
        })
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
            // Groups without rules (a Cognito `patient` group, say) leave the decision to the
            // token's scopes; a group with rules must allow it too.
            let known = groups.iter().any(|g| rules.is_known(g));
            if !known && self.scopes.is_empty() {
                return Access::Denied("the token's groups have no access rules".into());
            }
            if known && !rules.allows(groups, interaction, resource_type) {
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
        let p = Principal::from_claims(&json!({"sub": "u", "cognito:groups": ["auditor"]}), "cognito:groups", "custom:tenantId").expect("claims");
        assert_eq!(p.decide(&rules, Interaction::Read, Some("Patient")), Access::Full);
        assert!(matches!(p.decide(&rules, Interaction::Read, Some("Observation")), Access::Denied(_)));
        let p = Principal::from_claims(&json!({"sub": "u", "scope": "openid patient/*.rs", "patient": "A"}), "g", "t").expect("claims");
        assert_eq!(
            p.decide(&rules, Interaction::Read, Some("Observation")),
            Access::Restricted(vec![Restriction { patient: Some("A".into()), query: vec![] }])
        );
        assert!(matches!(p.decide(&rules, Interaction::Create, Some("Observation")), Access::Denied(_)));
        // A user/ scope held by a patient (fhirUser Patient/P) is confined to P.
        let p = Principal::from_claims(&json!({"scope": "user/*.rs", "fhirUser": "https://x.test/fhir/Patient/P"}), "g", "t").expect("claims");
        assert_eq!(
            p.decide(&rules, Interaction::SearchType, Some("Observation")),
            Access::Restricted(vec![Restriction { patient: Some("P".into()), query: vec![] }])
        );
        // Both groups and scopes: both must allow.
        let p = Principal::from_claims(&json!({"cognito:groups": ["auditor"], "scope": "user/*.cruds"}), "cognito:groups", "t").expect("claims");
        assert_eq!(p.decide(&rules, Interaction::Read, Some("Patient")), Access::Full);
        assert!(matches!(p.decide(&rules, Interaction::Delete, Some("Patient")), Access::Denied(_)));
        let p = Principal::from_claims(&json!({"sub": "u"}), "g", "t").expect("claims");
        assert!(matches!(p.decide(&rules, Interaction::Read, Some("Observation")), Access::Denied(_)));
    }
}
