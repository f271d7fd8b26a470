//! A small XML reader for the HL7 FHIRPath Patch test file, and FHIR XML -> FHIR JSON
//! conversion driven by the R4 definitions (which elements repeat, which primitives are
//! numbers or booleans). Narrative `div`s are kept as their XML text.
use hearth::fhir::definitions::{Definitions, JsonKind, TypeDef};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct El {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<El>,
    /// The element's source text (for xhtml `div`).
    pub raw: String,
}

impl El {
    pub fn attr(&self, n: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str())
    }
    pub fn child(&self, n: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == n)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&#10;", "\n").replace("&#13;", "\r").replace("&apos;", "'").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

pub fn parse(text: &str) -> El {
    let mut pos = 0;
    let b = text.as_bytes();
    let mut stack: Vec<(El, usize)> = vec![(El { name: "#root".into(), attrs: vec![], children: vec![], raw: String::new() }, 0)];
    while pos < b.len() {
        if b[pos] != b'<' {
            pos += 1;
            continue;
        }
        if text[pos..].starts_with("<!--") {
            pos += text[pos..].find("-->").expect("comment end") + 3;
            continue;
        }
        if text[pos..].starts_with("<?") {
            pos += text[pos..].find("?>").expect("pi end") + 2;
            continue;
        }
        let end = {
            let mut quote: Option<u8> = None;
            let mut i = pos;
            loop {
                let c = b[i];
                match quote {
                    Some(q) if c == q => quote = None,
                    None if c == b'"' || c == b'\'' => quote = Some(c),
                    None if c == b'>' => break i,
                    _ => {}
                }
                i += 1;
            }
        };
        let tag = &text[pos + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            let (mut el, start) = stack.pop().expect("open element");
            assert_eq!(el.name, name.trim(), "mismatched tag");
            el.raw = text[start..end + 1].to_string();
            stack.last_mut().expect("parent").0.children.push(el);
            pos = end + 1;
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, rest) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let mut attrs = Vec::new();
        let mut r = rest.trim();
        while let Some(eq) = r.find('=') {
            let k = r[..eq].trim().to_string();
            let q = r[eq + 1..].trim_start();
            let quote = q.chars().next().expect("quote");
            let close = q[1..].find(quote).expect("attr end") + 1;
            attrs.push((k, unescape(&q[1..close])));
            r = q[close + 1..].trim_start();
        }
        let el = El { name: name.to_string(), attrs, children: vec![], raw: String::new() };
        if self_closing {
            let mut el = el;
            el.raw = text[pos..end + 1].to_string();
            stack.last_mut().expect("parent").0.children.push(el);
        } else {
            stack.push((el, pos));
        }
        pos = end + 1;
    }
    stack.pop().expect("root").0
}

/// Narrative with whitespace runs collapsed (the file writes one narrative several ways).
pub fn normalize_div(v: &mut Value) {
    if let Some(Value::String(d)) = v.pointer_mut("/text/div") {
        *d = d.split_whitespace().collect::<Vec<_>>().join(" ");
    }
}

/// Converts a FHIR XML resource element to FHIR JSON.
pub fn resource(defs: &Definitions, el: &El) -> Value {
    let td = defs.type_def(&el.name).unwrap_or_else(|| panic!("unknown type {}", el.name));
    let mut obj = Map::new();
    obj.insert("resourceType".into(), Value::String(el.name.clone()));
    fill(defs, td, &td.name, el, &mut obj);
    Value::Object(obj)
}

fn fill(defs: &Definitions, td: &TypeDef, path: &str, el: &El, obj: &mut Map<String, Value>) {
    for c in &el.children {
        let (ei, ti) = *td
            .children_of(path)
            .and_then(|ch| ch.keys.get(&c.name))
            .unwrap_or_else(|| panic!("unknown element {}.{}", path, c.name));
        let e = &td.elements[ei];
        let ty = e.types.get(ti).cloned().unwrap_or_default();
        let value = if c.name == "div" {
            // The file writes the same narrative with different escapes; compare it normalised.
            let t = c.raw.replace("&#10;", " ").replace("&#13;", " ").replace("&quot;", "\"");
            Value::String(t.split_whitespace().collect::<Vec<_>>().join(" "))
        } else if let Some(cr) = &e.content_reference {
            let mut o = Map::new();
            fill(defs, td, cr, c, &mut o);
            Value::Object(o)
        } else if td.has_children(&e.path) {
            let mut o = Map::new();
            fill(defs, td, &e.path, c, &mut o);
            Value::Object(o)
        } else {
            let ctd = defs.type_def(&ty).unwrap_or_else(|| panic!("unknown type {ty}"));
            match (ctd.json, c.attr("value")) {
                (Some(kind), Some(v)) => match kind {
                    JsonKind::Bool => Value::Bool(v == "true"),
                    JsonKind::Integer | JsonKind::Decimal => serde_json::from_str(v).expect("number"),
                    JsonKind::String => Value::String(v.to_string()),
                },
                _ => {
                    let mut o = Map::new();
                    fill(defs, ctd, &ctd.name, c, &mut o);
                    Value::Object(o)
                }
            }
        };
        if e.is_single() {
            obj.insert(c.name.clone(), value);
        } else {
            obj.entry(c.name.clone()).or_insert_with(|| Value::Array(vec![])).as_array_mut().expect("array").push(value);
        }
    }
}
