//! Translation of the search AST (`search::query`) into the OpenSearch query DSL, with the
//! semantics of the SQLite adapter (`search/sqlite/filter.rs`): a clause matches when one
//! value of the parameter (one nested document of its family) matches one of its OR-ed
//! values. Chains, `_has` and `_list` run their inner search first and filter on the ids
//! found (uncorrelated, as in SQLite), up to a cap.
use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};

use super::document::{is_full_text, FT_OVERLAP};
use super::dsl::{and, contains, exists, live, nested, none, not, or, prefix, range, term, terms};
use super::mapping::MAX_COMPONENTS;
use super::Ctx;
use crate::error::{FhirError, Result};
use crate::search::extract::normalize;
use crate::search::params::{ParamType, Registry, SearchParam};
use crate::search::query::{Clause, Filter, Modifier, Prefix, SearchValue};

/// The nested family holding a parameter type's values.
pub fn family(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String | ParamType::Special => "str",
        ParamType::Token | ParamType::Composite => "tok",
        ParamType::Date => "date",
        ParamType::Number => "num",
        ParamType::Quantity => "qty",
        ParamType::Reference => "ref",
        ParamType::Uri => "uri",
    }
}

type Fut<'a> = Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>>;

impl Ctx<'_> {
    /// The query for `f` on resources of `types` (empty: any type).
    pub fn filter<'a>(&'a self, types: &'a [String], f: &'a Filter) -> Fut<'a> {
        Box::pin(async move {
            match f {
                Filter::Clause(c) => clause(&self.registry, c),
                Filter::AnyOf(list) => {
                    let mut qs = Vec::with_capacity(list.len());
                    for f in list {
                        qs.push(self.filter(types, f).await?);
                    }
                    Ok(or(qs))
                }
                Filter::Chain { reference, target_type, inner } => {
                    let target = std::slice::from_ref(target_type);
                    let q = and(vec![live(target), self.filter(target, inner).await?]);
                    let (hits, over) = self.scan(q, json!(false), self.chain_cap).await?;
                    if over {
                        return Err(too_many(&reference.code, target_type, self.chain_cap));
                    }
                    let ids: Vec<Value> = hits.iter().filter_map(|h| h["_id"].as_str()?.split_once('/').map(|(_, id)| json!(id))).collect();
                    Ok(nested("ref", and(vec![term("ref.p", reference.code.as_str()), term("ref.type", target_type.as_str()), terms("ref.id", ids)])))
                }
                Filter::Has { source_type, reference, inner } => {
                    let source = std::slice::from_ref(source_type);
                    let mut points = vec![term("ref.p", reference.code.as_str())];
                    if !types.is_empty() {
                        points.push(terms("ref.type", types.iter().map(|t| json!(t)).collect()));
                    }
                    let q = and(vec![live(source), nested("ref", and(points)), self.filter(source, inner).await?]);
                    let (hits, over) = self.scan(q, json!(["ref"]), self.chain_cap).await?;
                    if over {
                        return Err(too_many(&format!("_has:{source_type}:{}", reference.code), source_type, self.chain_cap));
                    }
                    Ok(terms("key", target_keys(&hits, &reference.code, types)))
                }
                Filter::List(id) => {
                    let q = and(vec![live(&["List".to_string()]), term("id", id.as_str())]);
                    let (hits, _) = self.scan(q, json!(["ref"]), 1).await?;
                    Ok(terms("key", target_keys(&hits, "item", types)))
                }
            }
        })
    }
}

fn too_many(what: &str, target: &str, cap: usize) -> FhirError {
    FhirError::BadRequest(format!(
        "'{what}' selects more than {cap} {target} resources, more than a chained search can follow; add criteria to narrow it"
    ))
}

/// `Type/id` of the references `param` of `hits` (their `_source.ref`) to one of `types`.
pub fn target_keys(hits: &[Value], param: &str, types: &[String]) -> Vec<Value> {
    let mut keys: Vec<String> = Vec::new();
    for h in hits {
        for r in refs_of(&h["_source"]) {
            if r.p != param {
                continue;
            }
            if let (Some(t), Some(i)) = (r.target_type, r.target_id) {
                if types.is_empty() || types.iter().any(|x| x == t) {
                    keys.push(format!("{t}/{i}"));
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys.into_iter().map(Value::String).collect()
}

/// One indexed reference of a document.
pub struct Ref<'a> {
    pub p: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
}

pub fn refs_of(source: &Value) -> Vec<Ref<'_>> {
    let list: Vec<&Value> = match source.get("ref") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    };
    list.into_iter()
        .filter_map(|r| {
            Some(Ref {
                p: r.get("p")?.as_str()?,
                target_type: r.get("type").and_then(Value::as_str),
                target_id: r.get("id").and_then(Value::as_str),
            })
        })
        .collect()
}

fn clause(registry: &Registry, c: &Clause) -> Result<Value> {
    let code = c.param.code.as_str();
    if let [SearchValue::Missing(missing)] = c.values.as_slice() {
        let has = term("params", code);
        return Ok(if *missing { not(has) } else { has });
    }
    if c.param.kind == ParamType::Composite {
        return composite(registry, c);
    }
    let fam = if is_full_text(code) { "ft" } else { family(c.param.kind) };
    let pname = match c.modifier {
        Some(Modifier::OfType) => format!("{code}:of-type"),
        _ => code.to_string(),
    };
    let prefix = format!("{fam}.");
    let mut ors = Vec::with_capacity(c.values.len());
    for v in &c.values {
        ors.push(value(&prefix, &c.param, c.modifier.as_ref(), v)?);
    }
    let q = nested(fam, and(vec![term(format!("{fam}.p"), pname), or(ors)]));
    Ok(if matches!(c.modifier, Some(Modifier::Not | Modifier::NotIn)) { not(q) } else { q })
}

/// `code-value-quantity=a$b`: all components matched by one element (one `comp` document).
fn composite(registry: &Registry, c: &Clause) -> Result<Value> {
    let comps: Vec<Option<&std::sync::Arc<SearchParam>>> = c.param.component.iter().map(|k| registry.by_url(&k.definition)).collect();
    let mut ors = Vec::new();
    for v in &c.values {
        let SearchValue::Composite(parts) = v else {
            ors.push(none());
            continue;
        };
        let present: Vec<(usize, &std::sync::Arc<SearchParam>)> = comps.iter().enumerate().filter_map(|(i, c)| c.map(|c| (i, c))).collect();
        if present.is_empty() || present.iter().any(|(i, _)| *i >= MAX_COMPONENTS) {
            ors.push(none());
            continue;
        }
        let mut conds = vec![term("comp.p", c.param.code.as_str())];
        for (i, cp) in present {
            if let Some(part) = parts.get(i) {
                conds.push(value(&format!("comp.c{i}.{}.", family(cp.kind)), cp, None, part)?);
            }
        }
        ors.push(nested("comp", and(conds)));
    }
    Ok(or(ors))
}

/// The condition of one value on the fields under `f` (e.g. `tok.` or `comp.c0.tok.`).
fn value(f: &str, p: &SearchParam, m: Option<&Modifier>, v: &SearchValue) -> Result<Value> {
    let fld = |name: &str| format!("{f}{name}");
    Ok(match v {
        SearchValue::String(s) => match (p.kind, m) {
            (ParamType::Reference, Some(Modifier::Text)) => {
                return Err(FhirError::BadRequest(format!("':text' is not supported on the reference parameter '{}'", p.code)))
            }
            (_, Some(Modifier::Text)) => prefix(fld("text"), kw_query(&normalize(s)), false),
            (_, Some(Modifier::Exact)) => term(fld("exact"), kw_query(s)),
            _ if is_full_text(&p.code) => {
                let n = normalize(s);
                if n.chars().count() > FT_OVERLAP {
                    return Err(FhirError::BadRequest(format!("'{}' takes at most {FT_OVERLAP} characters", p.code)));
                }
                contains(fld("norm"), &n)
            }
            _ if m == Some(&Modifier::Contains) => contains(fld("norm"), kw_query(&normalize(s))),
            _ => prefix(fld("norm"), kw_query(&normalize(s)), false),
        },
        SearchValue::Token { system: Some(s), code: Some(c) } if matches!(m, Some(Modifier::In | Modifier::NotIn)) => {
            // A `code` element is indexed without its (implicit) system.
            and(vec![term(fld("code"), c.as_str()), or(vec![term(fld("system"), s.as_str()), not(exists(fld("system")))])])
        }
        SearchValue::Token { system, code } => {
            let (sys, val) = if p.kind == ParamType::Reference { ("id_system", "id_value") } else { ("system", "code") };
            let mut parts = Vec::new();
            match system.as_deref() {
                None => {}
                Some("") => parts.push(not(exists(fld(sys)))),
                Some(s) => parts.push(term(fld(sys), s)),
            }
            if let Some(c) = code {
                parts.push(term(fld(val), c.as_str()));
            }
            and(parts)
        }
        SearchValue::OfType { system, code, value } => {
            and(vec![term(fld("system"), system.as_str()), term(fld("code"), code.as_str()), term(fld("text"), value.as_str())])
        }
        SearchValue::Date { prefix, low, high } => date_cond(f, *prefix, *low, *high),
        SearchValue::Number { prefix, value, low, high } => number_cond(f, *prefix, *value, *low, *high),
        SearchValue::Quantity { prefix, value, low, high, system, code } => {
            let mut parts = vec![number_cond(f, *prefix, *value, *low, *high)];
            if let Some(s) = system {
                parts.push(term(fld("system"), s.as_str()));
            }
            if let Some(c) = code {
                parts.push(or(vec![term(fld("code"), c.as_str()), term(fld("unit"), c.as_str())]));
            }
            and(parts)
        }
        SearchValue::Reference { resource_type, id, url } => match url {
            Some(u) => {
                let mut alts = vec![term(fld("url"), u.as_str())];
                if let (Some(t), false) = (resource_type, id.is_empty()) {
                    alts.push(and(vec![term(fld("type"), t.as_str()), term(fld("id"), id.as_str())]));
                }
                or(alts)
            }
            None => {
                let mut parts = vec![term(fld("id"), id.as_str())];
                if let Some(t) = resource_type {
                    parts.push(term(fld("type"), t.as_str()));
                }
                and(parts)
            }
        },
        SearchValue::Uri(u) => match m {
            // As SQLite's LIKE: ASCII case-insensitive.
            Some(Modifier::Below) => prefix(fld("value"), kw_query(u), true),
            Some(Modifier::Above) => {
                if u.chars().count() > 500 {
                    return Err(FhirError::BadRequest(format!("':above' takes a URI of at most 500 characters on '{}'", p.code)));
                }
                // Every stored value that is a prefix of `u`.
                let mut alts: Vec<Value> = u.char_indices().map(|(i, _)| &u[..i]).chain([u.as_str()]).map(|pre| ci_term(&fld("value"), pre)).collect();
                alts.dedup();
                or(alts)
            }
            _ => term(fld(if p.kind == ParamType::Uri { "value" } else { "url" }), u.as_str()),
        },
        SearchValue::Composite(_) | SearchValue::Missing(_) => none(),
    })
}

/// Keywords are stored cut at `MAX_KEYWORD_CHARS`; a query value is cut the same way.
fn kw_query(s: &str) -> &str {
    super::document::kw(s)
}

fn ci_term(field: &str, v: &str) -> Value {
    json!({"term": {field: {"value": v, "case_insensitive": true}}})
}

/// Range semantics for dates: the stored range [low, high) against the query range [ql, qh).
fn date_cond(f: &str, prefix: Prefix, ql: i64, qh: i64) -> Value {
    let (lo, hi) = (format!("{f}low"), format!("{f}high"));
    match prefix {
        Prefix::Eq => and(vec![range(&lo, "gte", ql), range(&hi, "lte", qh)]),
        Prefix::Ne => not(and(vec![range(&lo, "gte", ql), range(&hi, "lte", qh)])),
        Prefix::Gt => range(&hi, "gt", qh),
        Prefix::Ge => range(&hi, "gt", ql),
        Prefix::Lt => range(&lo, "lt", ql),
        Prefix::Le => range(&lo, "lt", qh),
        Prefix::Sa => range(&lo, "gte", qh),
        Prefix::Eb => range(&hi, "lte", ql),
        Prefix::Ap => {
            let (qlf, qhf) = (ql as f64, qh as f64);
            let width = (qhf - qlf).max(0.0);
            let now = crate::fhir::meta::now_micros() as f64;
            let slack = ((now - qlf).abs() * 0.1).max(width * 0.1);
            let clamp = |v: f64| v.clamp(i64::MIN as f64, i64::MAX as f64) as i64;
            and(vec![range(&lo, "lt", clamp(qhf + slack)), range(&hi, "gt", clamp(qlf - slack))])
        }
    }
}

fn number_cond(f: &str, prefix: Prefix, v: f64, ql: f64, qh: f64) -> Value {
    let val = format!("{f}value");
    match prefix {
        Prefix::Eq => and(vec![range(&val, "gte", ql), range(&val, "lt", qh)]),
        Prefix::Ne => not(and(vec![range(&val, "gte", ql), range(&val, "lt", qh)])),
        Prefix::Gt | Prefix::Sa => range(&val, "gt", v),
        Prefix::Ge => range(&val, "gte", v),
        Prefix::Lt | Prefix::Eb => range(&val, "lt", v),
        Prefix::Le => range(&val, "lte", v),
        Prefix::Ap => and(vec![range(&val, "gte", v - (v * 0.1).abs()), range(&val, "lte", v + (v * 0.1).abs())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::definitions::Definitions;
    use crate::search::query::parse;

    fn q(t: &str, k: &str, v: &str) -> Value {
        let reg = Registry::from_definitions(Definitions::r4()).unwrap();
        let query = parse(&reg, vec![t.into()], &[(k.into(), v.into())], true).unwrap();
        let Filter::Clause(c) = &query.filters[0] else { panic!("clause") };
        clause(&reg, c).unwrap()
    }

    #[test]
    fn token_system_and_code_match_one_value() {
        let v = q("Observation", "code", "http://loinc.org|8867-4");
        assert_eq!(v["nested"]["path"], "tok");
        let s = v.to_string();
        assert!(s.contains("\"tok.system\":\"http://loinc.org\"") && s.contains("\"tok.code\":\"8867-4\""), "{s}");
    }

    #[test]
    fn not_and_missing() {
        let v = q("Observation", "status:not", "final");
        assert!(v["bool"]["must_not"][0]["nested"].is_object());
        assert_eq!(q("Patient", "birthdate:missing", "true"), not(term("params", "birthdate")));
    }

    #[test]
    fn ne_date_is_negated_inside_the_value() {
        let v = q("Observation", "date", "ne2024");
        assert!(v["nested"]["query"]["bool"]["filter"][1]["bool"]["must_not"].is_array(), "{v}");
    }
}
