//! `_text` (the narrative) and `_content` (every string in the resource) for full-text search.
use serde_json::Value;

use super::extract::{IndexEntry, IndexValue};
use super::extract::normalize;

/// Narrative text without markup, and all string values, each normalised for search.
pub fn entries(resource: &Value) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    if let Some(div) = resource.pointer("/text/div").and_then(Value::as_str) {
        let text = strip_markup(div);
        if !text.trim().is_empty() {
            out.push(entry("_text", &text));
        }
    }
    let mut all = String::new();
    collect_strings(resource, &mut all);
    if !all.is_empty() {
        out.push(entry("_content", &all));
    }
    out
}

fn entry(param: &str, text: &str) -> IndexEntry {
    IndexEntry { param: param.to_string(), group: 0, value: IndexValue::String { norm: normalize(text), exact: String::new() } }
}

fn strip_markup(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Every string value except narrative markup, references and base64 data.
fn collect_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push(' ');
        }
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => {
            for (k, v) in map {
                if matches!(k.as_str(), "div" | "data" | "reference" | "url" | "system" | "meta" | "resourceType" | "id") {
                    continue;
                }
                collect_strings(v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrative_and_content() {
        let r = serde_json::json!({"resourceType": "Patient", "id": "x",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter <b>Chalmers</b></div>"},
            "name": [{"family": "Chalmërs"}]});
        let e = entries(&r);
        assert!(matches!(&e[0].value, IndexValue::String { norm, .. } if norm == "peter chalmers"));
        assert!(matches!(&e[1].value, IndexValue::String { norm, .. } if norm.contains("chalmers") && !norm.contains("div")));
    }
}
