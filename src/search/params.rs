//! The search parameters each resource type supports, from the official SearchParameter
//! definitions (plus any custom SearchParameter resources registered at run time).
use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::fhir::definitions::Definitions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Component {
    pub definition: String,
    pub expression: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchParam {
    pub url: String,
    pub code: String,
    pub base: Vec<String>,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub target: Vec<String>,
    #[serde(default)]
    pub component: Vec<Component>,
}

/// Parameters by resource type and code. `Resource`/`DomainResource` ones apply to all types.
#[derive(Debug, Default)]
pub struct Registry {
    by_type: HashMap<String, HashMap<String, Arc<SearchParam>>>,
    by_url: HashMap<String, Arc<SearchParam>>,
}

/// The official examples of SearchParameter that are not part of the specification's set.
fn is_example(url: &str) -> bool {
    url.rsplit('/').next().is_some_and(|tail| tail.starts_with("example"))
}

impl Registry {
    pub fn from_definitions(defs: &Definitions) -> Result<Registry, String> {
        let params: Vec<SearchParam> = serde_json::from_str(defs.search_parameters_json()).map_err(|e| e.to_string())?;
        let mut reg = Registry::default();
        for p in params.into_iter().filter(|p| !is_example(&p.url)) {
            reg.add(p);
        }
        Ok(reg)
    }

    /// Registers a parameter; for a code already defined on a base, the one whose url is
    /// `.../SearchParameter/<Base>-<code>` wins over profile-specific ones.
    pub fn add(&mut self, p: SearchParam) {
        let p = Arc::new(p);
        self.by_url.insert(p.url.clone(), p.clone());
        for base in &p.base {
            let canonical = p.url.ends_with(&format!("/{base}-{}", p.code));
            let codes = self.by_type.entry(base.clone()).or_default();
            match codes.get(&p.code) {
                Some(existing) if existing.url.ends_with(&format!("/{base}-{}", p.code)) && !canonical => {}
                _ => {
                    codes.insert(p.code.clone(), p.clone());
                }
            }
        }
    }

    /// The parameter `code` on `resource_type`, including the common ones.
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&Arc<SearchParam>> {
        [resource_type, "DomainResource", "Resource"].iter().find_map(|t| self.by_type.get(*t).and_then(|m| m.get(code)))
    }

    pub fn by_url(&self, url: &str) -> Option<&Arc<SearchParam>> {
        self.by_url.get(url.split('|').next().unwrap_or(url))
    }

    /// Every parameter that applies to `resource_type` (own and common), sorted by code.
    pub fn for_type(&self, resource_type: &str) -> Vec<&Arc<SearchParam>> {
        let mut out: Vec<&Arc<SearchParam>> = Vec::new();
        for t in [resource_type, "DomainResource", "Resource"] {
            if let Some(m) = self.by_type.get(t) {
                for p in m.values() {
                    if !out.iter().any(|q| q.code == p.code) {
                        out.push(p);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_parameters_load() {
        let reg = Registry::from_definitions(Definitions::r4()).unwrap();
        let p = reg.get("Observation", "code").unwrap();
        assert_eq!(p.kind, ParamType::Token);
        assert_eq!(reg.get("Patient", "_id").unwrap().url, "http://hl7.org/fhir/SearchParameter/Resource-id");
        assert_eq!(reg.get("Patient", "_text").unwrap().kind, ParamType::String);
        let combo = reg.get("Observation", "code-value-quantity").unwrap();
        assert_eq!(combo.component.len(), 2);
        assert!(reg.get("Patient", "code").is_none());
        assert!(reg.for_type("Patient").iter().any(|p| p.code == "birthdate"));
    }
}
