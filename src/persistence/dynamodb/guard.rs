//! Identifier guards: one item per (tenant, type, identifier) holding the ids of the live
//! resources that carry it. Conditional interactions on the AWS backend read these (with a
//! lock) instead of the eventually consistent search index, so two concurrent conditional
//! creates with the same identifier cannot both create.
use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::{FhirError, Result};
use crate::search::query::{Filter, SearchQuery, SearchValue};

pub const GUARD: &str = "guard";

/// Guard partition keys of a resource body: `tenant#type#ident#system|value` for each
/// identifier, plus `tenant#type#ident#*|value` for searches without a system.
pub fn keys(tenant: &str, rtype: &str, body: Option<&Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(ids) = body.and_then(|b| b.get("identifier")) else { return out };
    let list: Vec<&Value> = match ids {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for ident in list {
        let Some(value) = ident.get("value").and_then(Value::as_str) else { continue };
        let system = ident.get("system").and_then(Value::as_str).unwrap_or("");
        out.insert(key(tenant, rtype, Some(system), value));
        out.insert(key(tenant, rtype, None, value));
    }
    out
}

pub fn key(tenant: &str, rtype: &str, system: Option<&str>, value: &str) -> String {
    format!("{tenant}#{rtype}#ident#{}|{value}", system.unwrap_or("*"))
}

/// What a conditional search asks for, in terms the guards and keys answer consistently.
#[derive(Debug, PartialEq)]
pub enum Criterion {
    /// Any of these guard keys.
    Identifier(Vec<String>),
    /// Any of these ids.
    Id(Vec<String>),
}

/// The criteria of a conditional query, or a clear refusal: on the AWS backend the search
/// index lags writes, so only `identifier` and `_id` are evaluated inside a transaction.
pub fn criteria(tenant: &str, q: &SearchQuery) -> Result<(String, Vec<Criterion>)> {
    let refuse = || {
        FhirError::BadRequest(
            "on the AWS backend, conditional criteria (If-None-Exist, conditional update/delete/patch, conditional \
             references, searches inside a transaction) may only use `identifier` (system|value or value) and `_id`, \
             because the search index is eventually consistent"
                .into(),
        )
    };
    let [rtype] = q.types.as_slice() else { return Err(refuse()) };
    let mut out = Vec::new();
    for f in &q.filters {
        let Filter::Clause(c) = f else { return Err(refuse()) };
        if c.modifier.is_some() {
            return Err(refuse());
        }
        match c.param.code.as_str() {
            "identifier" => {
                let mut keys = Vec::new();
                for v in &c.values {
                    match v {
                        SearchValue::Token { system, code: Some(code) } => keys.push(key(tenant, rtype, system.as_deref(), code)),
                        _ => return Err(refuse()),
                    }
                }
                out.push(Criterion::Identifier(keys));
            }
            "_id" => {
                let mut ids = Vec::new();
                for v in &c.values {
                    match v {
                        SearchValue::Token { code: Some(code), .. } => ids.push(code.clone()),
                        SearchValue::String(s) => ids.push(s.clone()),
                        SearchValue::Reference { id, .. } => ids.push(id.clone()),
                        _ => return Err(refuse()),
                    }
                }
                out.push(Criterion::Id(ids));
            }
            _ => return Err(refuse()),
        }
    }
    if out.is_empty() {
        return Err(refuse());
    }
    Ok((rtype.clone(), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_system_and_any_system() {
        let body = serde_json::json!({"identifier": [{"system": "urn:s", "value": "1"}, {"value": "2"}]});
        let k = keys("t", "Patient", Some(&body));
        assert!(k.contains("t#Patient#ident#urn:s|1"));
        assert!(k.contains("t#Patient#ident#*|1"));
        assert!(k.contains("t#Patient#ident#|2"));
        assert_eq!(k.len(), 4);
    }
}
