//! A JSON object whose array member (a Bundle's `entry`) is left as text, one byte range per
//! element, so that the elements can be parsed on every core. The text between the pieces
//! (braces, member names, colons, commas) is checked here; every piece is parsed strictly
//! by [`super::parse`] (its own value here, each element by the caller), so a document is
//! accepted only when it is valid JSON as a whole.
use std::ops::Range;

use serde_json::{Map, Value};

/// The object without the array member, and the array's elements as ranges of the text.
pub struct Split {
    pub head: Map<String, Value>,
    /// `None` when the object has no such member or it is not an array.
    pub elements: Option<Vec<Range<usize>>>,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

fn expect(b: &[u8], i: usize, c: u8) -> Result<usize, String> {
    if b.get(i) == Some(&c) {
        Ok(i + 1)
    } else {
        Err(format!("expected '{}' at byte {i}", c as char))
    }
}

/// The end (exclusive) of the string starting at `i` (a `"`).
fn string_end(b: &[u8], i: usize) -> Result<usize, String> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err(format!("unterminated string at byte {i}"))
}

/// The end (exclusive) of the value starting at `i`; only its extent is found here.
fn value_end(b: &[u8], i: usize) -> Result<usize, String> {
    match b.get(i) {
        None => Err("unexpected end of the document".into()),
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(format!("unterminated value at byte {i}"))
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            if j == i {
                return Err(format!("expected a value at byte {i}"));
            }
            Ok(j)
        }
    }
}

/// The elements of the array starting at `i` (a `[`) and the end of the array.
fn elements(b: &[u8], i: usize) -> Result<(Vec<Range<usize>>, usize), String> {
    let mut out = Vec::new();
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Ok((out, j + 1));
    }
    loop {
        let end = value_end(b, j)?;
        out.push(j..end);
        j = skip_ws(b, end);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b']') => return Ok((out, j + 1)),
            _ => return Err(format!("expected ',' or ']' at byte {j}")),
        }
    }
}

/// Splits the object in `b`, leaving the elements of array member `member` unparsed.
pub fn split(b: &[u8], member: &str) -> Result<Split, String> {
    let mut head = Map::new();
    let mut elems = None;
    let mut i = expect(b, skip_ws(b, 0), b'{')?;
    i = skip_ws(b, i);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return Err(format!("expected a member name at byte {i}"));
            }
            let key_end = string_end(b, i)?;
            let key: String = serde_json::from_slice(&b[i..key_end]).map_err(|e| e.to_string())?;
            i = skip_ws(b, expect(b, skip_ws(b, key_end), b':')?);
            let seen = head.contains_key(&key) || (key == member && elems.is_some());
            if seen {
                return Err(format!("duplicate member name at {key}"));
            }
            if key == member && b.get(i) == Some(&b'[') {
                let (list, end) = elements(b, i)?;
                elems = Some(list);
                i = end;
            } else {
                let end = value_end(b, i)?;
                let value = super::parse(&b[i..end]).map_err(|e| format!("{key}: {e}"))?;
                head.insert(key, value);
                i = end;
            }
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(format!("expected ',' or '}}' at byte {i}")),
            }
        }
    }
    if skip_ws(b, i) != b.len() {
        return Err(format!("trailing characters at byte {i}"));
    }
    Ok(Split { head, elements: elems })
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn elements_are_located_and_the_rest_parsed() {
        let text = br#" { "resourceType" : "Bundle", "entry" : [ {"a": "x,]}\"{"} , [1, {"b": [2]}], 3.50 , "s" ], "n": 1.0 } "#;
        let s = split(text, "entry").unwrap();
        let parts: Vec<&str> = s.elements.unwrap().into_iter().map(|r| std::str::from_utf8(&text[r]).unwrap()).collect();
        assert_eq!(parts, vec![r#"{"a": "x,]}\"{"}"#, r#"[1, {"b": [2]}]"#, "3.50", r#""s""#]);
        assert_eq!(serde_json::to_string(&s.head).unwrap(), r#"{"resourceType":"Bundle","n":1.0}"#);
        assert!(split(br#"{"entry": []}"#, "entry").unwrap().elements.unwrap().is_empty());
        assert!(split(br#"{"entry": {}}"#, "entry").unwrap().elements.is_none());
    }

    #[test]
    fn broken_documents_are_refused() {
        for bad in [
            &br#"{"entry": [1,]}"#[..],
            br#"{"entry": [1 2]}"#,
            br#"{"entry": [1], "entry": []}"#,
            br#"{"a": 1, "a": 2}"#,
            br#"{"a": {"b": 1, "b": 2}}"#,
            br#"{"a" 1}"#,
            br#"{"a": 1,}"#,
            br#"{"a": 1} x"#,
            br#"[1]"#,
            br#""#,
            br#"{"entry": ["x]"#,
            br#"{"a": tru}"#,
        ] {
            assert!(split(bad, "entry").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
