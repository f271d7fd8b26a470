//! Page cursors: opaque to clients, checked against the search they are used with.
//!
//! - `n<fp>.<values>` / `p<fp>.<values>`: the page after (before) the resource whose sort
//!   values are `<values>` (base64url JSON), on the live index. Default order pages this way:
//!   its key (`Type/id`) never changes, so a resource is never repeated or skipped.
//! - `N<fp>.<values>.<pit>` / `P<fp>.<values>.<pit>`: the same inside the point in time
//!   `<pit>` (the OpenSearch PIT id as OpenSearch wrote it, URL-safe base64): a sorted
//!   search pages over the index as it was at its first page.
//!
//! `<fp>` identifies the sort (and, for a point in time, the tenant's index and the
//! filters), so a cursor only continues the search it came from.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::error::{FhirError, Result};

/// Longest point-in-time id accepted in a cursor.
const MAX_PIT_CHARS: usize = 4096;

#[derive(Debug)]
pub struct Cursor {
    pub backward: bool,
    pub values: Vec<Value>,
    /// The point in time the search pages in (None: the live index).
    pub pit: Option<String>,
    pub fingerprint: String,
}

/// A 32-bit FNV-1a of `parts`, as 8 hex digits.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h: u32 = 0x811c9dc5;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h = (h ^ b as u32).wrapping_mul(0x01000193);
        }
    }
    format!("{h:08x}")
}

fn pit_ok(pit: &str) -> bool {
    !pit.is_empty() && pit.len() <= MAX_PIT_CHARS && pit.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'))
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&self.values).unwrap_or_default();
        let dir = match (self.backward, self.pit.is_some()) {
            (false, false) => 'n',
            (true, false) => 'p',
            (false, true) => 'N',
            (true, true) => 'P',
        };
        let mut out = format!("{dir}{}.{}", self.fingerprint, URL_SAFE_NO_PAD.encode(json));
        if let Some(pit) = &self.pit {
            out.push('.');
            out.push_str(pit);
        }
        out
    }

    /// A cursor of `len` sort values; its fingerprint is checked by the caller.
    pub fn parse(text: &str, len: usize) -> Result<Cursor> {
        let bad = || FhirError::BadRequest(format!("invalid page cursor '{}'", text.chars().take(100).collect::<String>()));
        let (dir, rest) = text.split_at_checked(1).ok_or_else(bad)?;
        let (backward, snapshot) = match dir {
            "n" => (false, false),
            "p" => (true, false),
            "N" => (false, true),
            "P" => (true, true),
            _ => return Err(bad()),
        };
        let mut parts = rest.splitn(3, '.');
        let fingerprint = parts.next().filter(|f| f.len() == 8).ok_or_else(bad)?.to_string();
        let data = parts.next().ok_or_else(bad)?;
        let pit = match (parts.next(), snapshot) {
            (Some(p), true) if pit_ok(p) => Some(p.to_string()),
            (None, false) => None,
            _ => return Err(bad()),
        };
        let bytes = URL_SAFE_NO_PAD.decode(data).map_err(|_| bad())?;
        let values: Vec<Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if values.len() != len || !values.iter().all(Value::is_string) {
            return Err(bad());
        }
        Ok(Cursor { backward, values, pit, fingerprint })
    }

    /// Refuses a cursor of another search.
    pub fn check(&self, fingerprint: &str) -> Result<()> {
        if self.fingerprint == fingerprint {
            Ok(())
        } else if self.pit.is_some() {
            Err(FhirError::BadRequest("this page cursor belongs to another search (other criteria, sort order or tenant)".into()))
        } else {
            Err(FhirError::BadRequest("this page cursor belongs to a search with another sort order".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursor_round_trip_and_checks() {
        let c = Cursor { backward: true, values: vec![json!("a"), json!("Patient/1")], pit: None, fingerprint: "0badcafe".into() };
        let text = c.encode();
        assert!(text.starts_with("p0badcafe."));
        let back = Cursor::parse(&text, 2).unwrap();
        assert!(back.backward && back.pit.is_none());
        assert_eq!(back.values, c.values);
        assert!(back.check("0badcafe").is_ok());
        assert!(back.check("00000000").is_err());
        assert!(Cursor::parse(&text, 3).is_err());
        assert!(Cursor::parse("x", 2).is_err());
        assert!(Cursor::parse("n0badcafe.!!", 2).is_err());
    }

    #[test]
    fn snapshot_cursors_carry_the_point_in_time() {
        let pit = "o_-7QQEFdC1hfjEWb3NtZW0xOGVhOGFlODUwODE0NTVkMAAK==";
        let c = Cursor { backward: false, values: vec![json!("k")], pit: Some(pit.into()), fingerprint: fingerprint(["a", "b"]) };
        let text = c.encode();
        assert!(text.starts_with('N'));
        let back = Cursor::parse(&text, 1).unwrap();
        assert_eq!(back.pit.as_deref(), Some(pit));
        assert!(!back.backward);
        // A live cursor with a point in time, or a snapshot cursor without one, is refused.
        assert!(Cursor::parse(&text.replacen('N', "n", 1), 1).is_err());
        let live = Cursor { pit: None, ..back }.encode();
        assert!(Cursor::parse(&live.replacen('n', "N", 1), 1).is_err());
        assert!(Cursor::parse(&format!("{text}.x"), 1).is_err(), "a '.' is not part of a point-in-time id");
        assert_ne!(fingerprint(["ab", ""]), fingerprint(["a", "b"]));
    }
}
