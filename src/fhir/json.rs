//! Reading request JSON: exact numbers (serde_json `arbitrary_precision`) and no duplicate
//! member names, which a plain parse would silently collapse into the last one.
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Parses a JSON document, rejecting duplicate member names with their location.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    NoDuplicates { path: String::new() }.deserialize(&mut de).map_err(|e| e.to_string())?;
    Ok(value)
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
    fn decimals_keep_their_text() {
        let v = parse(br#"{"x":5.00,"y":5,"z":0.10}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"x":5.00,"y":5,"z":0.10}"#);
        // serde_json writes an exponent with its sign: the same number, a different spelling.
        let v = parse(br#"{"z":1e2}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"z":1e+2}"#);
    }
}
