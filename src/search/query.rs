//! The search query model: URL parameters parsed into a typed query that any `SearchIndex`
//! adapter translates (SQL for SQLite, a query DSL for OpenSearch). No storage here.
use std::sync::Arc;

use super::params::{ParamType, Registry, SearchParam};
use super::value::{parse_value, split_or};
pub use super::value::{Prefix, SearchValue};
use crate::error::{FhirError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    Missing,
    Exact,
    Contains,
    Text,
    Not,
    Above,
    Below,
    In,
    NotIn,
    OfType,
    Identifier,
    /// `:[Type]` on a reference parameter.
    Type(String),
}

impl Modifier {
    fn parse(text: &str) -> Option<Modifier> {
        Some(match text {
            "missing" => Modifier::Missing,
            "exact" => Modifier::Exact,
            "contains" => Modifier::Contains,
            "text" => Modifier::Text,
            "not" => Modifier::Not,
            "above" => Modifier::Above,
            "below" => Modifier::Below,
            "in" => Modifier::In,
            "not-in" => Modifier::NotIn,
            "of-type" => Modifier::OfType,
            "identifier" => Modifier::Identifier,
            t if t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => Modifier::Type(t.to_string()),
            _ => return None,
        })
    }

    fn allowed_on(&self, kind: ParamType) -> bool {
        use ParamType as P;
        match self {
            Modifier::Missing => true,
            Modifier::Exact | Modifier::Contains => kind == P::String,
            Modifier::Text => matches!(kind, P::Token | P::Reference),
            Modifier::Not | Modifier::In | Modifier::NotIn | Modifier::OfType => kind == P::Token,
            // Subsumption on codes and hierarchies of references need terminology: uri only.
            Modifier::Above | Modifier::Below => kind == P::Uri,
            Modifier::Identifier | Modifier::Type(_) => kind == P::Reference,
        }
    }
}

/// One parameter with its OR-ed values.
#[derive(Debug, Clone)]
pub struct Clause {
    pub param: Arc<SearchParam>,
    pub modifier: Option<Modifier>,
    pub values: Vec<SearchValue>,
}

/// The AND-ed parts of a query.
#[derive(Debug, Clone)]
pub enum Filter {
    Clause(Clause),
    /// `ref[:Type].rest`: resources whose `reference` points at a `target_type` matching `inner`.
    Chain { reference: Arc<SearchParam>, target_type: String, inner: Box<Filter> },
    /// `_has:Type:ref:rest`: resources referred to by a `source_type` (through `reference`)
    /// matching `inner`.
    Has { source_type: String, reference: Arc<SearchParam>, inner: Box<Filter> },
    /// `_list=id`: members of a List.
    List(String),
    /// Any of these (a chain over several possible target types; a compartment).
    AnyOf(Vec<Filter>),
}

#[derive(Debug, Clone)]
pub struct Include {
    pub source_type: String,
    /// `None` for `*` (every reference parameter).
    pub param: Option<Arc<SearchParam>>,
    pub target_type: Option<String>,
    pub iterate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    True,
    Text,
    Data,
    Count,
    False,
}

#[derive(Debug, Clone)]
pub struct SortKey {
    pub param: Arc<SearchParam>,
    pub descending: bool,
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// The resource types searched: one for a type-level search, several (or all) for `_type`.
    pub types: Vec<String>,
    pub filters: Vec<Filter>,
    pub sort: Vec<SortKey>,
    pub count: Option<usize>,
    pub cursor: Option<String>,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
    pub total: Total,
    pub summary: Option<Summary>,
    pub elements: Vec<String>,
    /// Parameters applied, in request order (for the Bundle's `self` link).
    pub applied: Vec<(String, String)>,
    /// Parameters ignored (unknown or unsupported) with the reason.
    pub ignored: Vec<(String, String)>,
}

fn bad(name: &str, why: impl std::fmt::Display) -> FhirError {
    FhirError::BadRequest(format!("search parameter '{name}': {why}"))
}

/// Result-shaping parameters the server understands but that are not filters.
const CONTROL: &[&str] = &["_format", "_pretty", "_cursor"];

/// Parses a search. `types` are the searched resource types (empty for all, at system level).
/// Unknown parameters are ignored (and reported) unless `strict`, where they are an error.
pub fn parse(registry: &Registry, types: Vec<String>, params: &[(String, String)], strict: bool) -> Result<SearchQuery> {
    let mut q = SearchQuery {
        types,
        filters: Vec::new(),
        sort: Vec::new(),
        count: None,
        cursor: None,
        includes: Vec::new(),
        revincludes: Vec::new(),
        total: Total::Accurate,
        summary: None,
        elements: Vec::new(),
        applied: Vec::new(),
        ignored: Vec::new(),
    };
    for (name, value) in params {
        let base = name.split(':').next().unwrap_or(name);
        let handled = match base {
            n if CONTROL.contains(&n) => {
                if n == "_cursor" {
                    q.cursor = Some(value.clone());
                }
                continue;
            }
            "_count" => {
                q.count = Some(value.trim().parse().map_err(|_| bad(name, "must be a non-negative integer"))?);
                true
            }
            "_total" => {
                q.total = match value.as_str() {
                    "none" => Total::None,
                    "estimate" => Total::Estimate,
                    "accurate" => Total::Accurate,
                    _ => return Err(bad(name, "must be none, estimate or accurate")),
                };
                true
            }
            "_summary" => {
                q.summary = Some(match value.as_str() {
                    "true" => Summary::True,
                    "text" => Summary::Text,
                    "data" => Summary::Data,
                    "count" => Summary::Count,
                    "false" => Summary::False,
                    _ => return Err(bad(name, "must be true, text, data, count or false")),
                });
                true
            }
            "_elements" => {
                q.elements.extend(value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
                true
            }
            "_sort" => {
                for key in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (code, descending) = match key.strip_prefix('-') {
                        Some(c) => (c, true),
                        None => (key, false),
                    };
                    let param = common_param(registry, &q.types, code).ok_or_else(|| bad(name, format!("unknown sort parameter '{code}'")))?;
                    q.sort.push(SortKey { param, descending });
                }
                true
            }
            "_include" | "_revinclude" => {
                let iterate = name.ends_with(":iterate") || name.ends_with(":recurse");
                let inc = parse_include(registry, &q.types, name, value, iterate)?;
                if base == "_include" { q.includes.push(inc) } else { q.revincludes.push(inc) }
                true
            }
            // The caller resolved the searched types from `_type`.
            "_type" => true,
            "_list" => {
                q.filters.push(Filter::List(value.clone()));
                true
            }
            _ => match parse_filter(registry, &q.types, name, value) {
                Ok(f) => {
                    q.filters.push(f);
                    true
                }
                Err(Unknown(why)) if !strict => {
                    q.ignored.push((name.clone(), why));
                    false
                }
                Err(Unknown(why)) => return Err(bad(name, why)),
                Err(Invalid(e)) => return Err(e),
            },
        };
        if handled {
            q.applied.push((name.clone(), value.clone()));
        }
    }
    Ok(q)
}

/// Why a parameter could not be used: unknown (ignored when lenient) or malformed (400).
enum FilterError {
    Unknown(String),
    Invalid(FhirError),
}
use FilterError::{Invalid, Unknown};

/// A parameter that exists on every searched type (system level: the common ones).
fn common_param(registry: &Registry, types: &[String], code: &str) -> Option<Arc<SearchParam>> {
    match types {
        [] => registry.get("Resource", code).cloned(),
        [first, rest @ ..] => {
            let p = registry.get(first, code)?;
            rest.iter().all(|t| registry.get(t, code).is_some()).then(|| p.clone())
        }
    }
}

fn parse_filter(registry: &Registry, types: &[String], name: &str, value: &str) -> std::result::Result<Filter, FilterError> {
    if let Some(rest) = name.strip_prefix("_has:") {
        // _has:Type:reference:rest
        let mut parts = rest.splitn(3, ':');
        let (Some(source_type), Some(ref_code), Some(inner_name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Invalid(bad(name, "_has needs the form _has:Type:reference:parameter")));
        };
        let reference = registry
            .get(source_type, ref_code)
            .filter(|p| p.kind == ParamType::Reference)
            .ok_or_else(|| Invalid(bad(name, format!("'{ref_code}' is not a reference parameter of {source_type}"))))?
            .clone();
        let inner = parse_filter(registry, &[source_type.to_string()], inner_name, value)?;
        return Ok(Filter::Has { source_type: source_type.to_string(), reference, inner: Box::new(inner) });
    }
    let (head, chain) = match name.split_once('.') {
        Some((h, c)) => (h, Some(c)),
        None => (name, None),
    };
    let (code, modifier_text) = match head.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (head, None),
    };
    let param = common_param(registry, types, code).ok_or_else(|| {
        Unknown(match types {
            [] => format!("'{code}' is not a parameter of every resource type"),
            _ => format!("'{code}' is not a known search parameter of {}", types.join(", ")),
        })
    })?;
    let modifier = match modifier_text {
        None => None,
        Some(m) => {
            let parsed = Modifier::parse(m).ok_or_else(|| Invalid(bad(name, format!("unknown modifier ':{m}'"))))?;
            if !parsed.allowed_on(param.kind) {
                return Err(Invalid(bad(name, format!("modifier ':{m}' does not apply to a {:?} parameter", param.kind))));
            }
            Some(parsed)
        }
    };
    if let Some(chain) = chain {
        if param.kind != ParamType::Reference {
            return Err(Invalid(bad(name, format!("'{code}' is not a reference parameter, so it cannot be chained"))));
        }
        let inner_code = chain.split(['.', ':']).next().unwrap_or(chain);
        let targets: Vec<String> = match &modifier {
            Some(Modifier::Type(t)) => vec![t.clone()],
            // Every target type that has the chained parameter.
            _ => param.target.iter().filter(|t| registry.get(t, inner_code).is_some()).cloned().collect(),
        };
        if targets.is_empty() {
            return Err(Invalid(bad(name, format!("no target type of '{code}' has a parameter '{inner_code}'"))));
        }
        let mut chains = Vec::new();
        for target_type in targets {
            let inner = parse_filter(registry, std::slice::from_ref(&target_type), chain, value)?;
            chains.push(Filter::Chain { reference: param.clone(), target_type, inner: Box::new(inner) });
        }
        return Ok(if chains.len() == 1 { chains.remove(0) } else { Filter::AnyOf(chains) });
    }
    if param.kind == ParamType::Special && !matches!(code, "_text" | "_content") {
        return Err(Unknown(format!("the special parameter '{code}' is not supported")));
    }
    let mut values = Vec::new();
    for part in split_or(value) {
        values.push(parse_value(registry, &param, modifier.as_ref(), &part).map_err(|why| Invalid(bad(name, why)))?);
    }
    if values.is_empty() {
        return Err(Invalid(bad(name, "has no value")));
    }
    Ok(Filter::Clause(Clause { param, modifier, values }))
}

fn parse_include(registry: &Registry, types: &[String], name: &str, value: &str, iterate: bool) -> Result<Include> {
    if value == "*" {
        return Ok(Include { source_type: "*".into(), param: None, target_type: None, iterate });
    }
    let mut parts = value.split(':');
    let source_type = parts.next().unwrap_or("").to_string();
    let code = parts.next().ok_or_else(|| bad(name, "must be Type:parameter[:TargetType] or *"))?;
    let target_type = parts.next().map(str::to_string);
    if name.starts_with("_include") && !iterate && !types.is_empty() && !types.contains(&source_type) {
        return Err(bad(name, format!("'{source_type}' is not a searched type")));
    }
    if code == "*" {
        return Ok(Include { source_type, param: None, target_type, iterate });
    }
    let param = registry
        .get(&source_type, code)
        .filter(|p| p.kind == ParamType::Reference)
        .ok_or_else(|| bad(name, format!("'{code}' is not a reference parameter of {source_type}")))?
        .clone();
    Ok(Include { source_type, param: Some(param), target_type, iterate })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::definitions::Definitions;

    fn q(t: &str, params: &[(&str, &str)]) -> Result<SearchQuery> {
        let reg = Registry::from_definitions(Definitions::r4()).map_err(FhirError::Internal)?;
        let params: Vec<(String, String)> = params.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        parse(&reg, vec![t.to_string()], &params, false)
    }

    #[test]
    fn typed_values() {
        let query = q("Observation", &[("code", "http://loinc.org|8867-4,|x"), ("date", "ge2024-01"), ("value-quantity", "lt5.4|http://unitsofmeasure.org|mg")]).unwrap();
        assert_eq!(query.filters.len(), 3);
        let Filter::Clause(c) = &query.filters[0] else { panic!("clause") };
        assert_eq!(c.values[0], SearchValue::Token { system: Some("http://loinc.org".into()), code: Some("8867-4".into()) });
        assert_eq!(c.values[1], SearchValue::Token { system: Some(String::new()), code: Some("x".into()) });
        let Filter::Clause(c) = &query.filters[2] else { panic!("clause") };
        assert!(matches!(&c.values[0], SearchValue::Quantity { prefix: Prefix::Lt, code: Some(code), .. } if code == "mg"));
    }

    #[test]
    fn chains_has_and_composites() {
        let query = q("Observation", &[("subject:Patient.organization.name", "Acme"), ("_has:Provenance:target:agent", "Practitioner/1")]).unwrap();
        let Filter::Chain { target_type, inner, .. } = &query.filters[0] else { panic!("chain") };
        assert_eq!(target_type, "Patient");
        assert!(matches!(inner.as_ref(), Filter::Chain { target_type, .. } if target_type == "Organization"));
        assert!(matches!(&query.filters[1], Filter::Has { source_type, .. } if source_type == "Provenance"));
        let query = q("Observation", &[("code-value-quantity", "http://loinc.org|8480-6$gt100")]).unwrap();
        let Filter::Clause(c) = &query.filters[0] else { panic!("clause") };
        assert!(matches!(&c.values[0], SearchValue::Composite(parts) if parts.len() == 2));
    }

    #[test]
    fn errors_and_leniency() {
        assert!(q("Observation", &[("date", "2024-13")]).is_err());
        assert!(q("Observation", &[("code:exact", "x")]).is_err());
        let lenient = q("Observation", &[("nonsense", "1")]).unwrap();
        assert_eq!(lenient.ignored.len(), 1);
        assert!(lenient.applied.is_empty());
        let reg = Registry::from_definitions(Definitions::r4()).unwrap();
        let strict = parse(&reg, vec!["Observation".into()], &[("nonsense".into(), "1".into())], true);
        assert!(strict.is_err());
    }

    #[test]
    fn result_parameters() {
        let query = q("Observation", &[("_sort", "-date,code"), ("_count", "10"), ("_include", "Observation:subject"), ("_revinclude:iterate", "Provenance:target"), ("_summary", "count"), ("_total", "none")]).unwrap();
        assert_eq!(query.sort.len(), 2);
        assert!(query.sort[0].descending);
        assert_eq!(query.count, Some(10));
        assert_eq!(query.includes.len(), 1);
        assert!(query.revincludes[0].iterate);
        assert_eq!(query.summary, Some(Summary::Count));
        assert_eq!(query.total, Total::None);
    }
}
