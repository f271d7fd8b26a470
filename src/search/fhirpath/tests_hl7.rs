//! Runs the HL7 FHIRPath test suite (`tests-fhir-r4.xml`) against the evaluator.
//!
//! Skipped (not counted as applicable), with reasons:
//! - inputs only available as XML: `parameters-example-types.xml`, `patient-example-period.xml`
//!   (the R4 examples package has no JSON twin with the same content);
//! - `mode="strict"` tests and `<modeTest>`s: they need static type checking of paths;
//! - `invalid="semantic"` tests: static (compile-time) type checking is out of scope;
//! - group `testConformsTo` and expressions using `conformsTo`, `memberOf`, `subsumes`,
//!   `%vs-...`/`%ext-...` constants: terminology / profile validation services;
//! - cases whose JSON input differs from the XML the suite was written against:
//!   `testCombine1` (the XML CodeSystem has a deliberately duplicated code), the
//!   `patient-age` extension tests (absent from the JSON Observation) and
//!   `ValueSet.version` (`4.0.1` in JSON, `20150622` in XML).
//!
//! Known failure among the applicable cases: `(-0.0034).lowBoundary(1)` expects the text
//! `-0.0` (a negative zero, which exact decimals do not have).
use std::collections::HashMap;
use std::path::PathBuf;

use regex::Regex;
use serde_json::Value;

use super::{eval_str, Item};

/// Passing cases must not drop below this (raise it when the evaluator improves).
const BASELINE: usize = 904;

const SUITE: &str = "/work/shared/data/fhir-test-cases/fhirpath";

struct Case {
    group: String,
    name: String,
    input: Option<String>,
    expr: String,
    invalid: Option<String>,
    predicate: bool,
    ordered: bool,
    strict: bool,
    outputs: Vec<(String, String)>,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let re = Regex::new(&format!(r#"\s{name}\s*=\s*"([^"]*)""#)).ok()?;
    re.captures(tag).and_then(|c| c.get(1)).map(|m| unescape(m.as_str()))
}

fn parse_suite(xml: &str) -> Vec<Case> {
    let no_comments = Regex::new(r"(?s)<!--.*?-->").expect("re").replace_all(xml, "");
    let group_re = Regex::new(r#"(?s)<group\s[^>]*?name="([^"]*)"[^>]*>(.*?)</group>"#).expect("re");
    let test_re = Regex::new(r"(?s)<(test|modeTest)(\s[^>]*)?>(.*?)</(?:test|modeTest)>").expect("re");
    let expr_re = Regex::new(r"(?s)<expression([^>]*)>(.*?)</expression>").expect("re");
    let out_re = Regex::new(r#"(?s)<output(?:\s+type="([^"]*)")?\s*(?:/>|>(.*?)</output>)"#).expect("re");
    let mut cases = Vec::new();
    for g in group_re.captures_iter(&no_comments) {
        for t in test_re.captures_iter(&g[2]) {
            let tag = t.get(2).map(|m| m.as_str()).unwrap_or("");
            let body = &t[3];
            let Some(e) = expr_re.captures(body) else { continue };
            let eattrs = e[1].to_string();
            cases.push(Case {
                group: g[1].to_string(),
                name: attr(tag, "name").unwrap_or_default(),
                input: attr(tag, "inputfile"),
                expr: unescape(&e[2]),
                invalid: attr(&eattrs, "invalid"),
                predicate: attr(tag, "predicate").as_deref() == Some("true"),
                ordered: attr(tag, "ordered").as_deref() != Some("false"),
                strict: &t[1] == "modeTest" || attr(tag, "mode").is_some() || attr(&eattrs, "mode").is_some(),
                outputs: out_re
                    .captures_iter(body)
                    .map(|o| {
                        let ty = o.get(1).map(|m| m.as_str()).unwrap_or("").to_string();
                        (ty, unescape(o.get(2).map(|m| m.as_str()).unwrap_or("")))
                    })
                    .collect(),
            });
        }
    }
    cases
}

fn input_path(name: &str) -> Option<PathBuf> {
    if name.ends_with(".json") {
        return Some(PathBuf::from(SUITE).join("input").join(name));
    }
    let json = match name {
        "patient-example.xml" => "Patient-example.json",
        "observation-example.xml" => "Observation-example.json",
        "questionnaire-example.xml" => "Questionnaire-3141.json",
        "valueset-example-expansion.xml" => "ValueSet-example-expansion.json",
        "codesystem-example.xml" => "CodeSystem-example.json",
        _ => return None,
    };
    Some(super::tests_sp::examples_dir().join(json))
}

fn skip_reason(c: &Case) -> Option<&'static str> {
    const INPUT_DIFFERS: [&str; 6] = [
        "testCombine1", "testFHIRPathIsFunction8", "testFHIRPathIsFunction9", "testFHIRPathIsFunction10",
        "testFHIRPathAsFunction14", "testFHIRPathAsFunction19",
    ];
    if INPUT_DIFFERS.contains(&c.name.as_str()) {
        return Some("JSON input differs from the XML");
    }
    if c.strict {
        return Some("strict mode");
    }
    if c.invalid.as_deref() == Some("semantic") {
        return Some("static type checking");
    }
    if c.group == "testConformsTo" {
        return Some("conformsTo");
    }
    for f in ["conformsTo(", "memberOf(", "subsumes(", "subsumedBy(", "%vs-", "%`vs-", "%ext-", "%`ext-"] {
        if c.expr.contains(f) {
            return Some("terminology / profiles");
        }
    }
    if let Some(i) = &c.input {
        if input_path(i).is_none() {
            return Some("XML-only input");
        }
    }
    None
}

/// `(type, text)` of a result item in the suite's output notation.
fn render(it: &Item<'_>) -> (String, String) {
    match it {
        Item::Node(n) => {
            let ty = n.type_name.unwrap_or("?").to_string();
            let text = match (n.value, ty.as_str()) {
                (Value::String(s), "date" | "dateTime" | "instant") => format!("@{s}"),
                (Value::String(s), "time") => format!("@T{s}"),
                (Value::String(s), _) => s.clone(),
                (v, _) => v.to_string(),
            };
            (ty, text)
        }
        Item::Bool(b) => ("boolean".into(), b.to_string()),
        Item::Int(i) => ("integer".into(), i.to_string()),
        Item::Decimal(d) => ("decimal".into(), d.to_string()),
        Item::Str(s) => ("string".into(), s.clone()),
        Item::Date(s) => ("date".into(), format!("@{s}")),
        Item::DateTime(s) => ("dateTime".into(), format!("@{s}")),
        Item::Time(s) => ("time".into(), format!("@T{s}")),
        Item::Quantity { value, unit } => ("Quantity".into(), format!("{value} '{unit}'")),
        Item::Resolved { type_name, .. } => (type_name.clone(), String::new()),
        Item::TypeInfo { name, .. } => ("TypeInfo".into(), name.clone()),
    }
}

fn matches_output(actual: &(String, String), expected: &(String, String)) -> bool {
    // an output without a type attribute is compared by text only
    if !expected.0.is_empty() && actual.0 != expected.0 {
        return false;
    }
    if expected.0 == "decimal" {
        if let (Some(a), Some(b)) = (super::Dec::parse(&actual.1), super::Dec::parse(&expected.1)) {
            return a.cmp_num(&b).is_eq();
        }
    }
    actual.1 == expected.1
}

fn run_case(c: &Case, inputs: &mut HashMap<String, Value>) -> Result<(), String> {
    let empty = Value::Object(Default::default());
    let res = match &c.input {
        Some(name) => {
            if !inputs.contains_key(name) {
                let p = input_path(name).ok_or("no input")?;
                let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                inputs.insert(name.clone(), v);
            }
            &inputs[name]
        }
        None => &empty,
    };
    let result = eval_str(&c.expr, res);
    if c.invalid.is_some() {
        return match result {
            Err(_) => Ok(()),
            Ok(r) => Err(format!("expected an error, got {:?}", r.iter().map(render).collect::<Vec<_>>())),
        };
    }
    let items = result?;
    let mut actual: Vec<(String, String)> = if c.predicate {
        vec![("boolean".into(), (!items.is_empty()).to_string())]
    } else {
        items.iter().map(render).collect()
    };
    let mut expected = c.outputs.clone();
    if !c.ordered {
        actual.sort();
        expected.sort();
    }
    if actual.len() == expected.len() && actual.iter().zip(&expected).all(|(a, e)| matches_output(a, e)) {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {actual:?}"))
    }
}

#[test]
fn hl7_fhirpath_suite() {
    let path = PathBuf::from(SUITE).join("tests-fhir-r4.xml");
    let xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = parse_suite(&xml);
    assert!(cases.len() >= 900, "only {} cases parsed", cases.len());
    let mut inputs = HashMap::new();
    let (mut applicable, mut passed) = (0, 0);
    let mut skipped: HashMap<&str, usize> = HashMap::new();
    let verbose = std::env::var("FHIRPATH_VERBOSE").is_ok();
    for c in &cases {
        if let Some(r) = skip_reason(c) {
            *skipped.entry(r).or_default() += 1;
            continue;
        }
        applicable += 1;
        match run_case(c, &mut inputs) {
            Ok(()) => passed += 1,
            Err(e) if verbose => eprintln!("FAIL {}/{}: {} => {e}", c.group, c.name, c.expr),
            Err(_) => {}
        }
    }
    eprintln!("HL7 FHIRPath suite: {passed} passed / {applicable} applicable / {} total; skipped {skipped:?}", cases.len());
    assert!(passed >= BASELINE, "pass count {passed} dropped below baseline {BASELINE}");
}
