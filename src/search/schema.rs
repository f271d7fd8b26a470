//! The search parameters in force (official + custom SearchParameter resources) and the
//! extractor built from them, swapped as a whole by `$reindex`.
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

/// The schema in force; readers take a snapshot, `$reindex` replaces it.
pub struct SchemaCell(RwLock<Arc<Schema>>);

impl SchemaCell {
    pub fn new(schema: Schema) -> SchemaCell {
        SchemaCell(RwLock::new(Arc::new(schema)))
    }

    pub fn get(&self) -> Arc<Schema> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, schema: Schema) {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(schema);
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
    }
}
