//! Reference rewriting inside a Bundle: `urn:uuid:` / `urn:oid:` full URLs and relative
//! references to entries become `Type/id` of the ids assigned in the Bundle; conditional
//! references (`Patient?identifier=x|y`) are resolved by a search inside the transaction.
//!
//! In a transaction most targets are known before it starts (a plain create's new id, an
//! update's id), so [`Prebound`] rewrites those on every core beforehand and records where
//! the rest sit ([`Slot`]); inside the transaction only those places are visited.
// Keys are user data: foldhash with a random seed per map (fast, not predictable).
use foldhash::{HashMap, HashSet};

use serde_json::Value;

use super::entry::{Entry, Target, Verb};
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
        let target = format!("{resource_type}/{id}");
        for key in keys(full_url, resource_type) {
            self.map.insert(key, target.clone());
        }
    }

    /// Rewrites the strings at `slots` of `resource` (what [`Prebound::rewrite`] left).
    pub fn rewrite_slots(&mut self, search: &mut Search<'_>, registry: &Registry, resource: &mut Value, slots: &[Slot]) -> Result<()> {
        for slot in slots {
            if let Some(Value::String(s)) = slot.path.iter().try_fold(&mut *resource, |v, step| match (v, step) {
                (Value::Object(o), Step::Key(k)) => o.get_mut(k),
                (Value::Array(a), Step::Index(i)) => a.get_mut(*i),
                _ => None,
            }) {
                if let Some(new) = self.resolve(search, registry, s, slot.is_reference)? {
                    *s = new;
                }
            }
        }
        Ok(())
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

/// The keys a reference may use for the entry with `full_url`: the fullUrl itself and, for an
/// absolute fullUrl ending in `Type/id`, the relative `Type/id`.
fn keys(full_url: Option<&str>, resource_type: &str) -> Vec<String> {
    let Some(full) = full_url else { return Vec::new() };
    let mut out = vec![full.to_string()];
    if !(full.starts_with("urn:uuid:") || full.starts_with("urn:oid:")) {
        let parts: Vec<&str> = full.trim_end_matches('/').rsplitn(3, '/').collect();
        if parts.len() >= 2 && parts[1] == resource_type {
            out.push(format!("{}/{}", parts[1], parts[0]));
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// A string of a resource that only the transaction can resolve, and where it sits.
#[derive(Debug, Clone)]
pub struct Slot {
    path: Vec<Step>,
    is_reference: bool,
}

/// One entry's identity as the transaction will assign it.
pub struct Identity<'a> {
    pub full_url: Option<&'a str>,
    pub resource_type: &'a str,
    /// The id, when it does not depend on the store (None: conditional).
    pub id: Option<&'a str>,
}

/// The targets a transaction's entries have whatever the store holds.
pub struct Prebound {
    map: HashMap<String, String>,
    /// Keys whose target only the transaction knows (conditional entries, repeated keys).
    open: HashSet<String>,
}

impl Prebound {
    pub fn new<'a>(entries: impl IntoIterator<Item = Identity<'a>>) -> Prebound {
        let mut seen: HashMap<String, Option<String>> = HashMap::default();
        let mut open = HashSet::default();
        for e in entries {
            for key in keys(e.full_url, e.resource_type) {
                let target = e.id.map(|id| format!("{}/{id}", e.resource_type));
                if target.is_none() || seen.contains_key(&key) {
                    open.insert(key.clone());
                }
                seen.insert(key, target);
            }
        }
        let map = seen.into_iter().filter(|(k, _)| !open.contains(k)).filter_map(|(k, t)| Some((k, t?))).collect();
        Prebound { map, open }
    }

    /// Rewrites the references of `resource` whose target is known; returns the places of
    /// those the transaction must resolve (the same strings [`Resolver::rewrite`] would).
    pub fn rewrite(&self, resource: &mut Value) -> Vec<Slot> {
        let mut slots = Vec::new();
        self.walk(resource, "", &mut Vec::new(), &mut slots);
        slots
    }

    /// `path` holds the steps to `v`: `(key, None)` or `("", Some(index))`.
    fn walk<'v>(&self, v: &'v mut Value, key: &'v str, path: &mut Vec<(&'v str, Option<usize>)>, slots: &mut Vec<Slot>) {
        match v {
            Value::Object(obj) => {
                for (k, child) in obj.iter_mut() {
                    path.push((k.as_str(), None));
                    self.walk(child, k, path, slots);
                    path.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter_mut().enumerate() {
                    path.push(("", Some(i)));
                    self.walk(child, key, path, slots);
                    path.pop();
                }
            }
            Value::String(s) => {
                let is_reference = key == "reference";
                let urn = s.starts_with("urn:uuid:") || s.starts_with("urn:oid:");
                if !urn && !is_reference {
                    return;
                }
                if let Some(t) = self.map.get(s.as_str()) {
                    *s = t.clone();
                } else if urn || s.contains('?') || self.open.contains(s.as_str()) {
                    let path = path.iter().map(|&(k, i)| i.map_or_else(|| Step::Key(k.to_string()), Step::Index)).collect();
                    slots.push(Slot { path, is_reference });
                }
            }
            _ => {}
        }
    }
}

/// Rewrites, on every core (at the validation's lower priority), the references of a
/// transaction's creates and updates whose target does not depend on the store, and leaves
/// each entry the places of the others.
pub fn prebind(entries: &mut [Entry]) {
    let identities = entries.iter().filter_map(|e| {
        let id = match (&e.verb, &e.target) {
            (Verb::Post, Target::New(id)) if e.if_none_exist.is_none() => Some(id.as_str()),
            (Verb::Put | Verb::Patch, Target::Id(id)) => Some(id.as_str()),
            (Verb::Post | Verb::Put | Verb::Patch, _) => None,
            _ => return None,
        };
        Some(Identity { full_url: e.full_url.as_deref(), resource_type: &e.resource_type, id })
    });
    let bound = Prebound::new(identities);
    let workers = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).clamp(1, 8);
    let chunk = entries.len().div_ceil(workers).max(64);
    let work = |part: &mut [Entry]| {
        for e in part {
            if let (Some(r), Verb::Post | Verb::Put) = (e.resource.as_mut(), e.verb) {
                e.ref_slots = Some(bound.rewrite(r));
            }
        }
    };
    if entries.len() <= chunk {
        return work(entries);
    }
    std::thread::scope(|scope| {
        for part in entries.chunks_mut(chunk) {
            scope.spawn(|| {
                super::priority::lower_this_thread();
                work(part)
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Identity, Prebound, Resolver};
    use crate::search::params::Registry;

    #[test]
    fn known_targets_are_rewritten_before_and_the_rest_inside_the_transaction() {
        let bound = Prebound::new([
            Identity { full_url: Some("urn:uuid:p"), resource_type: "Patient", id: Some("p1") },
            Identity { full_url: Some("http://x.org/fhir/Practitioner/old"), resource_type: "Practitioner", id: Some("d1") },
            // Conditional (ifNoneExist): only the transaction knows its id.
            Identity { full_url: Some("urn:uuid:org"), resource_type: "Organization", id: None },
            // The same fullUrl twice: left to the transaction's order.
            Identity { full_url: Some("urn:uuid:twice"), resource_type: "Patient", id: Some("a") },
            Identity { full_url: Some("urn:uuid:twice"), resource_type: "Patient", id: Some("b") },
        ]);
        let mut r = json!({
            "resourceType": "Encounter",
            "subject": {"reference": "urn:uuid:p"},
            "participant": [{"individual": {"reference": "Practitioner/old"}}, {"individual": {"reference": "Practitioner?identifier=s|1"}}],
            "serviceProvider": {"reference": "urn:uuid:org"},
            "partOf": {"reference": "urn:uuid:twice"},
            "basedOn": [{"reference": "ServiceRequest/kept"}],
            "text": {"div": "urn:uuid:nothing"}
        });
        let slots = bound.rewrite(&mut r);
        assert_eq!(r["subject"]["reference"], "Patient/p1");
        assert_eq!(r["participant"][0]["individual"]["reference"], "Practitioner/d1");
        assert_eq!(slots.len(), 4, "{slots:?}");

        let mut resolver = Resolver::default();
        resolver.assign(Some("urn:uuid:org"), "Organization", "o9");
        resolver.assign(Some("urn:uuid:twice"), "Patient", "b");
        let mut searched = Vec::new();
        let mut search = |q: &crate::search::query::SearchQuery| {
            searched.push(format!("{q:?}"));
            Ok(vec![("Practitioner".to_string(), "d2".to_string())])
        };
        let registry = Registry::from_definitions(crate::fhir::definitions::Definitions::r4()).unwrap();
        resolver.rewrite_slots(&mut search, &registry, &mut r, &slots).unwrap();
        assert_eq!(searched.len(), 1);
        assert_eq!(r["participant"][1]["individual"]["reference"], "Practitioner/d2");
        assert_eq!(r["serviceProvider"]["reference"], "Organization/o9");
        assert_eq!(r["partOf"]["reference"], "Patient/b");
        assert_eq!(r["basedOn"][0]["reference"], "ServiceRequest/kept");
        assert_eq!(r["text"]["div"], "urn:uuid:nothing");
    }

    #[test]
    fn an_unknown_urn_reference_still_fails_inside_the_transaction() {
        let bound = Prebound::new([Identity { full_url: Some("urn:uuid:p"), resource_type: "Patient", id: Some("p1") }]);
        let mut r = json!({"resourceType": "Observation", "subject": {"reference": "urn:uuid:missing"}});
        let slots = bound.rewrite(&mut r);
        let registry = Registry::from_definitions(crate::fhir::definitions::Definitions::r4()).unwrap();
        let err = Resolver::default().rewrite_slots(&mut |_| Ok(Vec::new()), &registry, &mut r, &slots).unwrap_err();
        assert!(err.to_string().contains("urn:uuid:missing"), "{err}");
    }
}
