//! The search parameters in force (official + custom SearchParameter resources) and the
//! extractor built from them, swapped as a whole by `$reindex`.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::extract::Extractor;
use super::params::{Component, ParamType, Registry, SearchParam};
use crate::fhir::definitions::Definitions;

pub struct Schema {
    pub registry: Arc<Registry>,
    pub extractor: Arc<Extractor>,
}

impl Schema {
    /// The official parameters plus `custom` (SearchParameter resources; same url replaces).
    pub fn build(defs: &Definitions, custom: &[Value]) -> Result<Schema, String> {
        let mut registry = Registry::from_definitions(defs)?;
        for sp in custom {
            if let Some(p) = from_resource(sp) {
                registry.add(p);
            }
        }
        let registry = Arc::new(registry);
        let extractor = Arc::new(Extractor::new(registry.clone()));
        Ok(Schema { registry, extractor })
    }
}

/// A SearchParameter resource as a registry entry (`None` without code, base, type or expression).
pub fn from_resource(sp: &Value) -> Option<SearchParam> {
    let s = |k: &str| sp.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        sp.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let kind: ParamType = serde_json::from_value(sp.get("type")?.clone()).ok()?;
    let component = sp
        .get("component")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    Some(Component {
                        definition: c.get("definition")?.as_str()?.to_string(),
                        expression: c.get("expression")?.as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let base = list("base");
    if base.is_empty() {
        return None;
    }
    Some(SearchParam { url: s("url")?, code: s("code")?, base, kind, expression: Some(s("expression")?), target: list("target"), component })
}

/// The schemas in force, one per tenant: the official parameters, plus the custom
/// SearchParameters a tenant put in force with `$reindex`. Readers take a snapshot.
pub struct SchemaCell {
    official: Arc<Schema>,
    tenants: RwLock<HashMap<String, Arc<Schema>>>,
}

impl SchemaCell {
    /// `official`: the schema of every tenant without custom parameters.
    pub fn new(official: Schema) -> SchemaCell {
        SchemaCell { official: Arc::new(official), tenants: RwLock::new(HashMap::new()) }
    }

    /// The default tenant's schema.
    pub fn get(&self) -> Arc<Schema> {
        self.get_for(crate::TENANT)
    }

    pub fn get_for(&self, tenant: &str) -> Arc<Schema> {
        let map = match self.tenants.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(tenant).cloned().unwrap_or_else(|| self.official.clone())
    }

    /// Puts a tenant's schema in force (`None`: back to the official parameters).
    pub fn set_for(&self, tenant: &str, schema: Option<Schema>) {
        let mut map = match self.tenants.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match schema {
            Some(s) => map.insert(tenant.to_string(), Arc::new(s)),
            None => map.remove(tenant),
        };
    }

    /// The tenants with custom parameters in force.
    pub fn tenants(&self) -> Vec<String> {
        match self.tenants.read() {
            Ok(g) => g.keys().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().keys().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_parameter_is_added() {
        let sp = serde_json::json!({"resourceType": "SearchParameter", "url": "http://example.org/sp/eye-colour", "name": "eye",
            "status": "active", "code": "eye-colour", "base": ["Patient"], "type": "token",
            "expression": "Patient.extension('http://example.org/eye').value"});
        let schema = Schema::build(Definitions::r4(), &[sp]).unwrap();
        assert_eq!(schema.registry.get("Patient", "eye-colour").unwrap().kind, ParamType::Token);
        // In force for one tenant only.
        let cell = SchemaCell::new(Schema::build(Definitions::r4(), &[]).unwrap());
        cell.set_for("t1", Some(schema));
        assert!(cell.get_for("t1").registry.get("Patient", "eye-colour").is_some());
        assert!(cell.get_for("t2").registry.get("Patient", "eye-colour").is_none());
        assert!(cell.get().registry.get("Patient", "eye-colour").is_none());
        cell.set_for("t1", None);
        assert!(cell.get_for("t1").registry.get("Patient", "eye-colour").is_none());
    }
}
