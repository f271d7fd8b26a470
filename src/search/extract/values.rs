//! FHIRPath results -> index values, per search parameter type (R4 search.html rules).
//!
//! Nodes are handled by their FHIR type; where the evaluator could not type a node (composite
//! components evaluated on a backbone element), the type is inferred from the JSON shape.
use serde_json::{Map, Value};

use super::text::normalize;
use super::IndexValue;
use crate::fhir::definitions::Definitions;
use crate::fhir::json::{field, member};
use crate::fhir::meta::parse_range;
use crate::search::fhirpath::{Dec, Item};
use crate::search::params::ParamType;

const ISO4217: &str = "urn:iso:std:iso:4217";

/// Appends the values of `item` for a parameter of type `kind`.
pub fn convert(kind: ParamType, item: &Item<'_>, out: &mut Vec<IndexValue>) {
    match item {
        Item::Node(n) => {
            let ty = n.type_name.unwrap_or_else(|| infer_type(n.value));
            node(kind, n.value, ty, out);
        }
        Item::Str(s) => match kind {
            ParamType::String => push_string(s, out),
            ParamType::Token => out.push(token(None, Some(s), None)),
            ParamType::Date => push_date(s, out),
            ParamType::Reference => out.push(url_ref(s)),
            ParamType::Uri => out.push(IndexValue::Uri(s.clone())),
            ParamType::Number => push_number_text(s, out),
            _ => {}
        },
        Item::Date(s) | Item::DateTime(s) => match kind {
            ParamType::Date => push_date(s, out),
            ParamType::String => push_string(s, out),
            ParamType::Token => out.push(token(None, Some(s), None)),
            _ => {}
        },
        Item::Bool(b) => {
            if kind == ParamType::Token {
                out.push(token(None, Some(if *b { "true" } else { "false" }), None));
            }
        }
        Item::Int(i) => push_dec(kind, Dec::from_int(*i), out),
        Item::Decimal(d) => push_dec(kind, *d, out),
        Item::Quantity { value, unit } => {
            if kind == ParamType::Quantity {
                let (v, lo, hi) = dec_range(*value);
                let unit = Some(unit.clone()).filter(|u| !u.is_empty());
                out.push(IndexValue::Quantity { value: v, low: lo, high: hi, system: None, code: unit.clone(), unit });
            }
        }
        Item::Resolved { type_name, reference } => {
            if kind == ParamType::Reference {
                let mut v = parse_reference(reference, None);
                if let IndexValue::Reference { target_type, .. } = &mut v {
                    if target_type.is_none() {
                        *target_type = Some(type_name.clone());
                    }
                }
                out.push(v);
            }
        }
        Item::Time(_) | Item::TypeInfo { .. } => {}
    }
}

fn node(kind: ParamType, v: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    match kind {
        ParamType::String => string_node(v, ty, out),
        ParamType::Token => token_node(v, ty, out),
        ParamType::Date => date_node(v, ty, out),
        ParamType::Number => number_node(v, ty, out),
        ParamType::Quantity => quantity_node(v, ty, out),
        ParamType::Reference => reference_node(v, ty, out),
        ParamType::Uri => {
            if let Some(s) = v.as_str() {
                out.push(IndexValue::Uri(s.to_string()));
            }
        }
        ParamType::Composite | ParamType::Special => {}
    }
}

/// The likely FHIR type of an untyped JSON value.
fn infer_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) => {
            if n.to_string().contains(['.', 'e', 'E']) {
                "decimal"
            } else {
                "integer"
            }
        }
        Value::Object(o) => {
            let has = |k: &str| member(o, k).is_some();
            if has("coding") || (has("text") && o.len() == 1) {
                "CodeableConcept"
            } else if has("reference") {
                "Reference"
            } else if has("family") || has("given") {
                "HumanName"
            } else if has("line") || has("city") || has("postalCode") || has("country") {
                "Address"
            } else if has("start") || has("end") {
                "Period"
            } else if has("event") || has("repeat") {
                "Timing"
            } else if has("low") || has("high") {
                "Range"
            } else if has("currency") {
                "Money"
            } else if member(o, "value").is_some_and(Value::is_number) {
                "Quantity"
            } else if member(o, "value").is_some_and(Value::is_string) && (has("system") || has("use") || has("type")) {
                match member(o, "system").and_then(Value::as_str) {
                    Some(s) if !s.contains(':') => "ContactPoint",
                    _ => "Identifier",
                }
            } else if has("code") || has("system") || has("display") {
                "Coding"
            } else if has("identifier") {
                "Reference"
            } else {
                "Element"
            }
        }
        _ => "Element",
    }
}

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    member(o, k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn strs<'a>(o: &'a Map<String, Value>, k: &str) -> impl Iterator<Item = &'a str> {
    let v = member(o, k);
    let one = v.and_then(Value::as_str);
    let many = v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    one.into_iter().chain(many).filter(|s| !s.is_empty())
}

// ---- string ----

fn push_string(s: &str, out: &mut Vec<IndexValue>) {
    let norm = normalize(s);
    if !norm.is_empty() {
        out.push(IndexValue::String { norm, exact: s.to_string() });
    }
}

fn string_node(v: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let o = match v {
        Value::String(s) => return push_string(s, out),
        Value::Object(o) => o,
        _ => return,
    };
    let keys: &[&str] = match ty {
        "HumanName" => &["family", "given", "prefix", "suffix", "text"],
        "Address" => &["line", "city", "district", "state", "postalCode", "country", "text"],
        "CodeableConcept" => {
            for c in member(o, "coding").and_then(Value::as_array).into_iter().flatten() {
                if let Some(d) = field(c, "display").and_then(Value::as_str) {
                    push_string(d, out);
                }
            }
            &["text"]
        }
        "Coding" | "Reference" => &["display"],
        "Identifier" | "ContactPoint" => &["value"],
        "Annotation" => &["text"],
        "Attachment" => &["title"],
        _ => {
            // Other complex types: their direct string children that carry text.
            for (k, x) in o {
                if !matches!(k.as_str(), "id" | "system" | "url" | "reference" | "code" | "extension" | "modifierExtension") {
                    if let Some(s) = x.as_str() {
                        push_string(s, out);
                    }
                }
            }
            return;
        }
    };
    for k in keys {
        for s in strs(o, k) {
            push_string(s, out);
        }
    }
}

// ---- token ----

fn token(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    let text = text.map(normalize).filter(|t| !t.is_empty());
    IndexValue::Token { system: system.map(str::to_string), code: code.map(str::to_string), text }
}

fn coding_token(c: &Value, out: &mut Vec<IndexValue>) {
    let Some(o) = c.as_object() else { return };
    let (system, code, display) = (str_of(o, "system"), str_of(o, "code"), str_of(o, "display"));
    if system.is_some() || code.is_some() || display.is_some() {
        out.push(token(system, code, display));
    }
}

fn token_node(v: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let o = match v {
        Value::String(s) => {
            if !s.is_empty() {
                out.push(token(None, Some(s), None));
            }
            return;
        }
        Value::Bool(b) => return out.push(token(None, Some(if *b { "true" } else { "false" }), None)),
        Value::Number(n) => return out.push(token(None, Some(&n.to_string()), None)),
        Value::Object(o) => o,
        _ => return,
    };
    match ty {
        "Coding" => coding_token(v, out),
        "CodeableConcept" => {
            for c in member(o, "coding").and_then(Value::as_array).into_iter().flatten() {
                coding_token(c, out);
            }
            if let Some(t) = str_of(o, "text") {
                out.push(token(None, None, Some(t)));
            }
        }
        "Identifier" => {
            let type_text = member(o, "type").and_then(|t| field(t, "text")).and_then(Value::as_str);
            let (system, value) = (str_of(o, "system"), str_of(o, "value"));
            if system.is_some() || value.is_some() || type_text.is_some() {
                out.push(token(system, value, type_text));
            }
        }
        "ContactPoint" => {
            if let Some(value) = str_of(o, "value") {
                out.push(token(None, Some(value), None));
            }
        }
        _ => {}
    }
}

// ---- date ----

fn push_date(s: &str, out: &mut Vec<IndexValue>) {
    if let Some((low, high)) = parse_range(s) {
        out.push(IndexValue::Date { low, high });
    }
}

/// A Period's range; `None` when an end present is not a valid date or both are absent.
fn period_range(o: &Map<String, Value>) -> Option<(i64, i64)> {
    let start = member(o, "start").and_then(Value::as_str);
    let end = member(o, "end").and_then(Value::as_str);
    if start.is_none() && end.is_none() {
        return None;
    }
    let low = match start {
        Some(s) => parse_range(s)?.0,
        None => i64::MIN,
    };
    let high = match end {
        Some(e) => parse_range(e)?.1,
        None => i64::MAX,
    };
    Some((low, high.max(low)))
}

fn date_node(v: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let o = match v {
        Value::String(s) => return push_date(s, out),
        Value::Object(o) => o,
        _ => return,
    };
    match ty {
        "Period" => {
            if let Some((low, high)) = period_range(o) {
                out.push(IndexValue::Date { low, high });
            }
        }
        "Timing" => {
            let events: Vec<(i64, i64)> = strs(o, "event").filter_map(parse_range).collect();
            if let (Some(low), Some(high)) = (events.iter().map(|r| r.0).min(), events.iter().map(|r| r.1).max()) {
                out.push(IndexValue::Date { low, high });
            } else if let Some(bp) = member(o, "repeat").and_then(|r| field(r, "boundsPeriod")).and_then(Value::as_object) {
                if let Some((low, high)) = period_range(bp) {
                    out.push(IndexValue::Date { low, high });
                }
            }
        }
        _ => {}
    }
}

// ---- number ----

/// The value of a number literal and its implicit precision range: half a unit of its last
/// significant digit either side (`100` -> [99.5, 100.5), `1.50` -> [1.495, 1.505)).
pub fn literal_range(text: &str) -> Option<(f64, f64, f64)> {
    let v: f64 = text.trim().parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let t = text.trim().to_ascii_lowercase();
    let (mant, exp) = match t.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().ok()?),
        None => (t.clone(), 0),
    };
    let decimals = mant.split_once('.').map(|(_, f)| f.len() as i32).unwrap_or(0) - exp;
    let half = 0.5 * 10f64.powi(-decimals);
    Some((v, v - half, v + half))
}

fn dec_range(d: Dec) -> (f64, f64, f64) {
    let v = d.to_f64();
    let half = 0.5 * 10f64.powi(-(d.s as i32));
    (v, v - half, v + half)
}

fn push_number_text(s: &str, out: &mut Vec<IndexValue>) {
    if let Some((value, low, high)) = literal_range(s) {
        out.push(IndexValue::Number { value, low, high });
    }
}

fn push_dec(kind: ParamType, d: Dec, out: &mut Vec<IndexValue>) {
    let (value, low, high) = dec_range(d);
    match kind {
        ParamType::Number => out.push(IndexValue::Number { value, low, high }),
        ParamType::Quantity => out.push(IndexValue::Quantity { value, low, high, system: None, code: None, unit: None }),
        ParamType::Token => out.push(token(None, Some(&d.to_f64().to_string()), None)),
        _ => {}
    }
}

fn number_node(v: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    match v {
        Value::Number(n) => push_number_text(&n.to_string(), out),
        Value::Object(o) if ty != "Range" => {
            if let Some(n) = member(o, "value").filter(|x| x.is_number()) {
                push_number_text(&n.to_string(), out);
            }
        }
        _ => {}
    }
}

// ---- quantity ----

fn quantity_node(v: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let o = match v {
        Value::Number(n) => {
            if let Some((value, low, high)) = literal_range(&n.to_string()) {
                out.push(IndexValue::Quantity { value, low, high, system: None, code: None, unit: None });
            }
            return;
        }
        Value::Object(o) => o,
        _ => return,
    };
    match ty {
        "Range" => {
            let end = |k: &str| member(o, k).and_then(Value::as_object);
            let (lo, hi) = (end("low"), end("high"));
            let lo_v = lo.and_then(|q| member(q, "value")).and_then(|n| n.as_number()).and_then(|n| literal_range(&n.to_string()));
            let hi_v = hi.and_then(|q| member(q, "value")).and_then(|n| n.as_number()).and_then(|n| literal_range(&n.to_string()));
            let (value, low, high) = match (lo_v, hi_v) {
                (None, None) => return,
                (Some(l), Some(h)) => (l.0, l.1, h.2),
                (Some(l), None) => (l.0, l.1, f64::MAX),
                (None, Some(h)) => (h.0, f64::MIN, h.2),
            };
            let units = lo.filter(|_| lo_v.is_some()).or(hi).unwrap_or(o);
            out.push(IndexValue::Quantity {
                value,
                low,
                high,
                system: str_of(units, "system").map(str::to_string),
                code: str_of(units, "code").map(str::to_string),
                unit: str_of(units, "unit").map(str::to_string),
            });
        }
        "Money" | "MoneyQuantity" if o.contains_key("currency") => {
            let Some((value, low, high)) = member(o, "value").and_then(Value::as_number).and_then(|n| literal_range(&n.to_string())) else {
                return;
            };
            let cur = str_of(o, "currency").map(str::to_string);
            out.push(IndexValue::Quantity { value, low, high, system: Some(ISO4217.to_string()), code: cur.clone(), unit: cur });
        }
        _ => {
            let Some((value, low, high)) = member(o, "value").and_then(Value::as_number).and_then(|n| literal_range(&n.to_string())) else {
                return;
            };
            out.push(IndexValue::Quantity {
                value,
                low,
                high,
                system: str_of(o, "system").map(str::to_string),
                code: str_of(o, "code").map(str::to_string),
                unit: str_of(o, "unit").map(str::to_string),
            });
        }
    }
}

// ---- reference ----

fn url_ref(s: &str) -> IndexValue {
    IndexValue::Reference { target_type: None, target_id: None, url: Some(s.to_string()), identifier: None }
}

fn reference_node(v: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let o = match v {
        Value::String(s) => {
            if !s.is_empty() {
                out.push(url_ref(s));
            }
            return;
        }
        Value::Object(o) if ty == "Reference" || ty == "Element" => o,
        _ => return,
    };
    let identifier = member(o, "identifier").and_then(Value::as_object).and_then(|i| {
        let value = str_of(i, "value")?;
        Some((str_of(i, "system").map(str::to_string), value.to_string()))
    });
    match str_of(o, "reference") {
        Some(r) => {
            let mut val = parse_reference(r, str_of(o, "type"));
            if let IndexValue::Reference { identifier: id, .. } = &mut val {
                *id = identifier;
            }
            out.push(val);
        }
        None => {
            if let Some(identifier) = identifier {
                out.push(IndexValue::Reference {
                    target_type: str_of(o, "type").map(str::to_string),
                    target_id: None,
                    url: None,
                    identifier: Some(identifier),
                });
            }
        }
    }
}

fn looks_like_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Parses `Reference.reference`: relative `Type/id` (a `/_history/n` suffix ignored), absolute
/// URL (kept; type/id from its last two segments when they look like that), `#contained`
/// (url only), anything else as url. `declared_type` is `Reference.type` (used for bare ids).
pub fn parse_reference(r: &str, declared_type: Option<&str>) -> IndexValue {
    let r = r.trim();
    let mk = |t: Option<&str>, id: Option<&str>, url: Option<&str>| IndexValue::Reference {
        target_type: t.map(str::to_string),
        target_id: id.map(str::to_string),
        url: url.map(str::to_string),
        identifier: None,
    };
    if r.starts_with('#') {
        return mk(None, None, Some(r));
    }
    let absolute = r.contains("://") || r.starts_with("urn:");
    let path = match r.find("/_history/") {
        Some(p) => &r[..p],
        None => r,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let mut segs = path.rsplit('/');
    let (id, ty) = (segs.next(), segs.next());
    let is_type = |t: &str| Definitions::r4().is_resource_type(t);
    match (ty, id) {
        (Some(t), Some(id)) if is_type(t) && looks_like_id(id) => mk(Some(t), Some(id), absolute.then_some(path)),
        _ if absolute => mk(None, None, Some(r)),
        (None, Some(id)) if looks_like_id(id) => mk(declared_type, Some(id), None),
        (Some(t), Some(id)) if !t.is_empty() && looks_like_id(id) => mk(Some(t), Some(id), None),
        _ => mk(None, None, Some(r)),
    }
}
