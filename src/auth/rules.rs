//! Role rules: groups (from the token's groups claim) -> allowed interactions x resource
//! types, read from a JSON file (`rules/default.json` is built in).
use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::interaction::Interaction;

pub const DEFAULT_RULES: &str = include_str!("../../rules/default.json");

#[derive(Deserialize)]
struct RawRules {
    #[serde(rename = "groupRules")]
    group_rules: HashMap<String, RawRule>,
}

#[derive(Deserialize)]
struct RawRule {
    interactions: Vec<String>,
    resources: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// `None`: every interaction.
    interactions: Option<HashSet<Interaction>>,
    /// `None`: every type.
    resources: Option<HashSet<String>>,
}

#[derive(Debug, Clone)]
pub struct Rules {
    groups: HashMap<String, Rule>,
}

impl Rules {
    pub fn parse(text: &str) -> Result<Rules, String> {
        let raw: RawRules = serde_json::from_str(text).map_err(|e| format!("rules: {e}"))?;
        let mut groups = HashMap::new();
        for (name, r) in raw.group_rules {
            let interactions = if r.interactions.iter().any(|i| i == "*") {
                None
            } else {
                let mut set = HashSet::new();
                for i in &r.interactions {
                    set.insert(Interaction::parse(i).ok_or_else(|| format!("rules: group '{name}': unknown interaction '{i}'"))?);
                }
                Some(set)
            };
            let resources = if r.resources.iter().any(|t| t == "*") { None } else { Some(r.resources.into_iter().collect()) };
            groups.insert(name, Rule { interactions, resources });
        }
        Ok(Rules { groups })
    }

    pub fn builtin() -> Rules {
        Rules::parse(DEFAULT_RULES).unwrap_or(Rules { groups: HashMap::new() })
    }

    pub fn load(path: Option<&Path>) -> Result<Rules, String> {
        match path {
            None => Rules::parse(DEFAULT_RULES),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read the rules file {}: {e}", p.display()))?;
                Rules::parse(&text)
            }
        }
    }

    pub fn is_known(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Whether any of `groups` may do `interaction` on `resource_type` (None: system level,
    /// allowed when the group has the interaction on every type).
    pub fn allows(&self, groups: &[String], interaction: Interaction, resource_type: Option<&str>) -> bool {
        groups.iter().filter_map(|g| self.groups.get(g)).any(|r| {
            let i_ok = r.interactions.as_ref().is_none_or(|s| s.contains(&interaction));
            let t_ok = match (&r.resources, resource_type) {
                (None, _) => true,
                (Some(set), Some(t)) => set.contains(t),
                // Bundles: entries are checked one by one, the Bundle needs only the interaction.
                (Some(_), None) => matches!(interaction, Interaction::Transaction | Interaction::Batch),
            };
            i_ok && t_ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules() {
        let r = Rules::builtin();
        let g = |s: &str| vec![s.to_string()];
        assert!(r.allows(&g("practitioner"), Interaction::Delete, Some("Observation")));
        assert!(r.allows(&g("non-practitioner"), Interaction::Read, Some("Claim")));
        assert!(!r.allows(&g("non-practitioner"), Interaction::Read, Some("Patient")));
        assert!(!r.allows(&g("non-practitioner"), Interaction::Create, Some("Claim")));
        assert!(r.allows(&g("auditor"), Interaction::SearchType, Some("Patient")));
        assert!(!r.allows(&g("auditor"), Interaction::SearchType, Some("Observation")));
        assert!(!r.allows(&g("nobody"), Interaction::Read, Some("Patient")));
    }
}
