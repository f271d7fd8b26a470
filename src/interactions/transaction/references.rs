//! Reference rewriting inside a Bundle: `urn:uuid:` / `urn:oid:` full URLs and relative
//! references to entries become `Type/id` of the ids assigned in the Bundle; conditional
//! references (`Patient?identifier=x|y`) are resolved by a search inside the transaction.
use std::collections::HashMap;

use serde_json::Value;

use crate::error::{FhirError, Result};
use crate::search::params::Registry;
use crate::search::query::SearchQuery;

/// Runs a conditional reference's search (inside the transaction): up to 2 `(type, id)`.
pub type Search<'a> = dyn FnMut(&SearchQuery) -> Result<Vec<(String, String)>> + 'a;

/// Resolution state shared by all entries of one Bundle.
#[derive(Default)]
pub struct Resolver {
    /// fullUrl (or `Type/oldId` of an absolute fullUrl) -> `Type/newId`.
    pub map: HashMap<String, String>,
    /// Conditional reference -> `Type/id`, so each distinct one is searched once.
    cache: HashMap<String, String>,
}

impl Resolver {
    /// Records that the entry with `full_url` is stored as `Type/id`.
    pub fn assign(&mut self, full_url: Option<&str>, resource_type: &str, id: &str) {
        let Some(full) = full_url else { return };
        let target = format!("{resource_type}/{id}");
        if !(full.starts_with("urn:uuid:") || full.starts_with("urn:oid:")) {
            // An absolute fullUrl ending in Type/id: relative references to Type/id mean it.
            let parts: Vec<&str> = full.trim_end_matches('/').rsplitn(3, '/').collect();
            if parts.len() >= 2 && parts[1] == resource_type {
                self.map.insert(format!("{}/{}", parts[1], parts[0]), target.clone());
            }
        }
        self.map.insert(full.to_string(), target);
    }

    /// Rewrites every reference in `resource`.
    pub fn rewrite(&mut self, search: &mut Search<'_>, registry: &Registry, resource: &mut Value) -> Result<()> {
        self.walk(search, registry, resource, "")
    }

    fn walk(&mut self, search: &mut Search<'_>, registry: &Registry, v: &mut Value, key: &str) -> Result<()> {
        match v {
            Value::Object(obj) => {
                for (k, child) in obj.iter_mut() {
                    self.walk(search, registry, child, k)?;
                }
            }
            Value::Array(a) => {
                for child in a.iter_mut() {
                    self.walk(search, registry, child, key)?;
                }
            }
            Value::String(s) => {
                if let Some(new) = self.resolve(search, registry, s, key == "reference")? {
                    *s = new;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn resolve(&mut self, search: &mut Search<'_>, registry: &Registry, s: &str, is_reference: bool) -> Result<Option<String>> {
        if s.starts_with("urn:uuid:") || s.starts_with("urn:oid:") {
            return match self.map.get(s) {
                Some(t) => Ok(Some(t.clone())),
                None if is_reference => Err(FhirError::BadRequest(format!("reference '{}' does not match the fullUrl of any entry in the Bundle", s.chars().take(200).collect::<String>()))),
                None => Ok(None),
            };
        }
        if !is_reference {
            return Ok(None);
        }
        if let Some(t) = self.map.get(s) {
            return Ok(Some(t.clone()));
        }
        if let Some((rtype, query)) = s.split_once('?') {
            if rtype.is_empty() || rtype.contains('/') {
                return Ok(None);
            }
            if let Some(t) = self.cache.get(s) {
                return Ok(Some(t.clone()));
            }
            let q = crate::interactions::conditional::criteria(registry, rtype, query)
                .map_err(|e| FhirError::BadRequest(format!("conditional reference '{}': {e}", s.chars().take(200).collect::<String>())))?;
            let found = search(&q)?;
            let what = s.chars().take(200).collect::<String>();
            return match found.as_slice() {
                [(t, id)] => {
                    let target = format!("{t}/{id}");
                    self.cache.insert(s.to_string(), target.clone());
                    Ok(Some(target))
                }
                [] => Err(FhirError::PreconditionFailed(format!("conditional reference '{what}' matches no resource; it must match exactly one"))),
                _ => Err(FhirError::PreconditionFailed(format!("conditional reference '{what}' matches more than one resource; it must match exactly one"))),
            };
        }
        Ok(None)
    }
}
