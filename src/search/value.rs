//! Search parameter values: OR-splitting with escapes, prefixes, and typed values.
use super::params::{ParamType, Registry, SearchParam};
use super::query::Modifier;
use crate::fhir::meta::parse_range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// One typed value of a clause. Ranges are half-open `[low, high)`.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchValue {
    String(String),
    /// `system|code`: `system` None = any system, Some("") = no system; `code` None = any code.
    Token { system: Option<String>, code: Option<String> },
    /// `:of-type`: identifier type `system|code` and the identifier value.
    OfType { system: String, code: String, value: String },
    /// Dates as microsecond ranges at the precision given.
    Date { prefix: Prefix, low: i64, high: i64 },
    /// Numbers with the implicit range of their precision.
    Number { prefix: Prefix, value: f64, low: f64, high: f64 },
    Quantity { prefix: Prefix, value: f64, low: f64, high: f64, system: Option<String>, code: Option<String> },
    /// `Type/id`, bare `id` (type None) or an absolute URL (kept in `url`).
    Reference { resource_type: Option<String>, id: String, url: Option<String> },
    Uri(String),
    Composite(Vec<SearchValue>),
    Missing(bool),
}

/// Splits on unescaped `,` and removes the escapes `\,` `\$` `\|` `\\` from each part
/// (escaped `|` and `$` are kept escaped for the typed parsers).
pub fn split_or(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(',') => cur.push(','),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            },
            ',' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Splits on an unescaped separator, unescaping `\x` to `x` in the parts.
fn split_unescaped(value: &str, sep: char, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep && parts.len() + 1 < max {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

/// Splits on an unescaped separator, leaving every escape in place for the part's parser.
fn split_keeping_escapes(value: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        let cur = parts.last_mut();
        match (c, cur) {
            ('\\', Some(cur)) => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (c, _) if c == sep => parts.push(String::new()),
            (c, Some(cur)) => cur.push(c),
            (_, None) => {}
        }
    }
    parts
}

fn unescape(value: &str) -> String {
    split_unescaped(value, '\u{0}', 1).concat()
}

fn prefix(value: &str) -> (Prefix, &str) {
    let p = match value.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, value),
    };
    (p, &value[2..])
}

/// A decimal and the implicit range of its precision: `100` is [99.5, 100.5).
fn number_range(text: &str) -> Result<(f64, f64, f64), String> {
    let valid = regex_lite_decimal(text);
    let v: f64 = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    if !valid || !v.is_finite() {
        return Err(format!("'{text}' is not a number"));
    }
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let decimals = mantissa.split_once('.').map(|(_, f)| f.len() as i32).unwrap_or(0);
    let half = 0.5 * 10f64.powi(exp - decimals);
    Ok((v, v - half, v + half))
}

fn regex_lite_decimal(text: &str) -> bool {
    let t = text.strip_prefix('-').unwrap_or(text);
    let (m, e) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match m.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (m, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && frac.is_none_or(digits)
        && e.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

fn token(value: &str) -> SearchValue {
    let parts = split_unescaped(value, '|', 2);
    match parts.as_slice() {
        [code] => SearchValue::Token { system: None, code: Some(code.clone()) },
        [system, code] => SearchValue::Token {
            system: Some(system.clone()),
            code: (!code.is_empty()).then(|| code.clone()),
        },
        _ => SearchValue::Token { system: None, code: None },
    }
}

fn reference(param: &SearchParam, modifier: Option<&Modifier>, value: &str) -> Result<SearchValue, String> {
    let value = unescape(value);
    let type_mod = match modifier {
        Some(Modifier::Type(t)) => Some(t.clone()),
        _ => None,
    };
    if value.contains("://") || value.starts_with("urn:") {
        // Absolute: `http://server/fhir/Patient/1` also matches the relative `Patient/1`.
        let mut segs = value.trim_end_matches('/').rsplit('/');
        let (id, t) = (segs.next().unwrap_or(""), segs.next().unwrap_or(""));
        let typed = t.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        return Ok(SearchValue::Reference {
            resource_type: typed.then(|| t.to_string()),
            id: if typed { id.to_string() } else { String::new() },
            url: Some(value),
        });
    }
    let (t, id) = match value.split_once('/') {
        Some((t, rest)) => (Some(t.to_string()), rest.split('/').next().unwrap_or("").to_string()),
        None => (type_mod.clone(), value.clone()),
    };
    if id.is_empty() {
        return Err(format!("'{value}' is not a reference (Type/id, id or URL)"));
    }
    if let (Some(t), Some(m)) = (&t, &type_mod) {
        if t != m {
            return Err(format!("'{value}' does not match the modifier :{m}"));
        }
    }
    if let Some(t) = &t {
        if !param.target.is_empty() && !param.target.contains(t) && !param.target.iter().any(|x| x == "Resource") {
            return Err(format!("'{t}' is not a target of this parameter ({})", param.target.join(", ")));
        }
    }
    Ok(SearchValue::Reference { resource_type: t, id, url: None })
}

/// Parses one OR-part for `param` (already split on `,`).
pub fn parse_value(registry: &Registry, param: &SearchParam, modifier: Option<&Modifier>, value: &str) -> Result<SearchValue, String> {
    if modifier == Some(&Modifier::Missing) {
        return match value {
            "true" => Ok(SearchValue::Missing(true)),
            "false" => Ok(SearchValue::Missing(false)),
            _ => Err(format!(":missing takes true or false, not '{value}'")),
        };
    }
    match (param.kind, modifier) {
        (_, Some(Modifier::Text)) => Ok(SearchValue::String(unescape(value))),
        (ParamType::String | ParamType::Special, _) => Ok(SearchValue::String(unescape(value))),
        (ParamType::Uri, _) | (ParamType::Token, Some(Modifier::In | Modifier::NotIn)) => Ok(SearchValue::Uri(unescape(value))),
        (ParamType::Token, Some(Modifier::OfType)) => match split_unescaped(value, '|', 3).as_slice() {
            [s, c, v] if !c.is_empty() && !v.is_empty() => Ok(SearchValue::OfType { system: s.clone(), code: c.clone(), value: v.clone() }),
            _ => Err(format!(":of-type takes system|code|value, not '{value}'")),
        },
        (ParamType::Token, _) | (ParamType::Reference, Some(Modifier::Identifier)) => Ok(token(value)),
        (ParamType::Reference, _) => reference(param, modifier, value),
        (ParamType::Date, _) => {
            let (p, rest) = prefix(value);
            let (low, high) = parse_range(rest).ok_or_else(|| format!("'{value}' is not a valid date (e.g. 2024, 2024-05-01, 2024-05-01T10:00:00Z)"))?;
            Ok(SearchValue::Date { prefix: p, low, high })
        }
        (ParamType::Number, _) => {
            let (p, rest) = prefix(value);
            let (v, low, high) = number_range(rest)?;
            Ok(SearchValue::Number { prefix: p, value: v, low, high })
        }
        (ParamType::Quantity, _) => {
            let (p, rest) = prefix(value);
            let parts = split_unescaped(rest, '|', 3);
            let (v, low, high) = number_range(parts.first().map(String::as_str).unwrap_or(""))?;
            let nonempty = |i: usize| parts.get(i).filter(|s| !s.is_empty()).cloned();
            Ok(SearchValue::Quantity { prefix: p, value: v, low, high, system: nonempty(1), code: nonempty(2) })
        }
        (ParamType::Composite, _) => {
            let parts = split_keeping_escapes(value, '$');
            if parts.len() != param.component.len() {
                return Err(format!("'{value}' needs {} components separated by $", param.component.len()));
            }
            let mut values = Vec::new();
            for (c, part) in param.component.iter().zip(parts) {
                let cp = registry.by_url(&c.definition).ok_or_else(|| format!("component {} is not defined", c.definition))?;
                values.push(parse_value(registry, cp, None, &part)?);
            }
            Ok(SearchValue::Composite(values))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_split_and_escapes() {
        assert_eq!(split_or("a,b\\,c"), vec!["a", "b,c"]);
        assert_eq!(split_unescaped("http://x\\|y|c", '|', 2), vec!["http://x|y", "c"]);
    }

    #[test]
    fn number_precision() {
        let (_, lo, hi) = number_range("100").unwrap();
        assert_eq!((lo, hi), (99.5, 100.5));
        let (_, lo, hi) = number_range("100.00").unwrap();
        assert!((lo - 99.995).abs() < 1e-9 && (hi - 100.005).abs() < 1e-9);
        let (_, lo, hi) = number_range("1e2").unwrap();
        assert_eq!((lo, hi), (50.0, 150.0));
        assert!(number_range("abc").is_err());
        assert!(number_range("1.").is_err());
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("ge2024"), (Prefix::Ge, "2024"));
        assert_eq!(prefix("2024"), (Prefix::Eq, "2024"));
    }
}
