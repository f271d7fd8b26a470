//! Reading request JSON: exact numbers (serde_json `arbitrary_precision`) and no duplicate
//! member names, which a plain parse would silently collapse into the last one.
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

mod split;
pub use split::{split, Split};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Objects up to this many members are scanned rather than hashed into: most FHIR elements
/// are small, and hashing the key (SipHash) costs more than a few comparisons.
pub const SCAN_MAX: usize = 12;

/// `obj[key]`, scanning a small object instead of hashing the key.
pub fn member<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if obj.len() <= SCAN_MAX {
        obj.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        obj.get(key)
    }
}

/// `v[key]` of an object value ([`member`]).
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|o| member(o, key))
}

/// Parses a JSON document, rejecting duplicate member names with their location.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match Strict.deserialize(&mut de).and_then(|v| de.end().map(|_| v)) {
        Ok(v) => Ok(v),
        // Parsed again only to say where the duplicate is.
        Err(e) if e.to_string().starts_with(DUPLICATE) => Err(locate_duplicate(bytes).unwrap_or_else(|| e.to_string())),
        Err(e) => Err(e.to_string()),
    }
}

const DUPLICATE: &str = "duplicate member name";

fn locate_duplicate(bytes: &[u8]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    NoDuplicates { path: String::new() }.deserialize(&mut de).err().map(|e| e.to_string())
}

/// Builds a `Value` like serde_json's own, failing on a duplicate member name.
struct Strict;

/// The member name serde_json (`arbitrary_precision`) gives a number's text.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.is_empty() && key == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                if text.parse::<f64>().is_ok_and(f64::is_infinite) {
                    return Err(serde::de::Error::custom(format!("the number {} is out of range", text.chars().take(40).collect::<String>())));
                }
                return Number::from_str(&text).map(Value::Number).map_err(serde::de::Error::custom);
            }
            let value = map.next_value_seed(Strict)?;
            if out.insert(key, value).is_some() {
                return Err(serde::de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(out))
    }
}

/// Walks a document without building it, failing on the first duplicate member name.
struct NoDuplicates {
    path: String,
}

impl<'de> DeserializeSeed<'de> for NoDuplicates {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq.next_element_seed(NoDuplicates { path: format!("{}[{i}]", self.path) })?.is_some() {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            if !seen.insert(key) {
                return Err(serde::de::Error::custom(format!("duplicate member name at {path}")));
            }
            map.next_value_seed(NoDuplicates { path })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn duplicates_are_rejected() {
        let err = parse(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert!(err.contains("duplicate member name at a.b"), "{err}");
        assert!(parse(br#"{"a":[{"b":1},{"b":2}],"n":5.00}"#).is_ok());
    }

    #[test]
    fn parses_like_serde_json() {
        let text = br#"{"a":[1,-2,3.50,1e300,1e-400,true,null,"x\u00e9"],"b":{"c":{}},"d":[],"e":18446744073709551615}"#;
        assert_eq!(parse(text).unwrap(), serde_json::from_slice::<serde_json::Value>(text).unwrap());
        // Beyond what a double holds: refused, never stored as infinity.
        assert!(parse(br#"{"a":[1e400]}"#).unwrap_err().contains("out of range"));
        assert!(parse(br#"{"a":1} x"#).is_err(), "trailing characters");
        assert!(parse(br#"{"a":[{"b":1,"c":{"b":2,"b":3}}]}"#).unwrap_err().contains("duplicate member name at a[0].c.b"));
    }

    #[test]
    fn decimals_keep_their_text() {
        let v = parse(br#"{"x":5.00,"y":5,"z":0.10}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"x":5.00,"y":5,"z":0.10}"#);
        // serde_json writes an exponent with its sign: the same number, a different spelling.
        let v = parse(br#"{"z":1e2}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"z":1e+2}"#);
    }
}
