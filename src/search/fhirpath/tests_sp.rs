//! Every R4 SearchParameter expression parses and evaluates without error on the official
//! examples; spot checks of extracted values.
use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{eval_str, evaluate, parse, type_of, Item};
use crate::fhir::definitions::Definitions;

/// The directory of the official R4 examples (JSON); panics when absent so the test never
/// passes silently.
pub fn examples_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [root.join(".cache/hl7.fhir.r4.examples/package"), PathBuf::from("/tmp/fhirpkg/package")];
    for c in &candidates {
        if c.join("Patient-example.json").exists() {
            return c.clone();
        }
    }
    panic!("R4 examples not found in {candidates:?}: run scripts/fetch-r4-package.sh");
}

pub fn load_example(name: &str) -> Value {
    let p = examples_dir().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn params() -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(Definitions::r4().search_parameters_json()).expect("search parameters")
}

#[test]
fn all_search_parameter_expressions_parse_and_evaluate() {
    let mut by_type: HashMap<String, Vec<(String, super::Expr)>> = HashMap::new();
    let mut parse_failures = Vec::new();
    let mut parsed = 0;
    for p in params() {
        let expr = p["expression"].as_str().unwrap_or("");
        if expr.trim().is_empty() {
            continue;
        }
        match parse(expr) {
            Ok(e) => {
                parsed += 1;
                for b in p["base"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let url = p["url"].as_str().unwrap_or("").to_string();
                    by_type.entry(b.to_string()).or_default().push((url, e.clone()));
                }
            }
            Err(err) => parse_failures.push(format!("{expr}: {err}")),
        }
    }
    assert!(parse_failures.is_empty(), "parse failures: {parse_failures:#?}");
    assert!(parsed > 1300, "only {parsed} expressions");
    let mut eval_failures = Vec::new();
    let mut evaluations = 0;
    let mut eval_time = std::time::Duration::ZERO;
    let mut files: Vec<_> = std::fs::read_dir(examples_dir()).expect("examples dir").flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "json")) {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let Ok(res) = serde_json::from_str::<Value>(&text) else { continue };
        let Some(rt) = res["resourceType"].as_str() else { continue };
        for key in [rt, "Resource", "DomainResource"] {
            for (url, e) in by_type.get(key).into_iter().flatten() {
                evaluations += 1;
                let t = std::time::Instant::now();
                let r = evaluate(e, &res);
                eval_time += t.elapsed();
                if let Err(err) = r {
                    eval_failures.push(format!("{} on {}: {err}", url, f.display()));
                }
            }
        }
    }
    eprintln!("{parsed} expressions parsed, {evaluations} evaluations in {eval_time:?}");
    assert!(evaluations > 50_000, "only {evaluations} evaluations");
    assert!(eval_failures.is_empty(), "{} evaluation failures: {:#?}", eval_failures.len(), &eval_failures[..eval_failures.len().min(30)]);
}

/// Renders results as `type:value` (nodes as compact JSON) for concise assertions.
fn show(expr: &str, res: &Value) -> Vec<String> {
    let items = eval_str(expr, res).unwrap_or_else(|e| panic!("{expr}: {e}"));
    items
        .iter()
        .map(|it| {
            let ty = type_of(it).unwrap_or("?").to_string();
            let v = match it {
                Item::Node(n) => n.value.to_string(),
                Item::Resolved { type_name, .. } => type_name.clone(),
                other => super::funcs_more::to_string(other).unwrap_or_default(),
            };
            format!("{ty}:{v}")
        })
        .collect()
}

fn param_expr(code_url_suffix: &str) -> String {
    params()
        .into_iter()
        .find(|p| p["url"].as_str().is_some_and(|u| u.ends_with(&format!("/{code_url_suffix}"))))
        .and_then(|p| p["expression"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no parameter {code_url_suffix}"))
}

#[test]
fn spot_checks_on_official_examples() {
    let pat = load_example("Patient-example.json");
    let name = show(&param_expr("Patient-name"), &pat);
    assert_eq!(name.len(), 3);
    assert!(name[0].starts_with("HumanName:{\"use\":\"official\",\"family\":\"Chalmers\""), "{name:?}");
    assert_eq!(show(&param_expr("individual-birthdate"), &pat), ["date:\"1974-12-25\""]);
    assert_eq!(show(&param_expr("individual-gender"), &pat), ["code:\"male\""]);
    assert_eq!(show(&param_expr("Patient-deceased"), &pat), ["Boolean:false"]);
    assert_eq!(show(&param_expr("Patient-identifier"), &pat)[0].split(':').next(), Some("Identifier"));
    assert_eq!(show(&param_expr("Resource-id"), &pat), ["id:\"example\""]);
    assert_eq!(show(&param_expr("Patient-organization"), &pat)[0].split(':').next(), Some("Reference"));
    // primitive extension content is ignored; extension() on the resource
    let newborn = load_example("Patient-newborn.json");
    assert_eq!(
        show("Patient.extension('http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName').value", &newborn),
        ["string:\"Everywoman\""]
    );
    assert_eq!(show(&param_expr("Patient-deceased"), &load_example("Patient-pat4.json")), ["Boolean:true"]);
    assert_eq!(show(&param_expr("Patient-deceased"), &load_example("Patient-pat3.json")), ["Boolean:true"]);

    let obs = load_example("Observation-example.json");
    let codes = show(&param_expr("clinical-code"), &obs);
    assert_eq!(codes.len(), 1);
    assert!(codes[0].starts_with("CodeableConcept:"));
    assert_eq!(show("Observation.code.coding.code", &obs), ["code:\"29463-7\"", "code:\"3141-9\"", "code:\"27113001\"", "code:\"body-weight\""]);
    assert_eq!(
        show(&param_expr("Observation-value-quantity"), &obs),
        ["Quantity:{\"value\":185,\"unit\":\"lbs\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"[lb_av]\"}"]
    );
    assert_eq!(show(&param_expr("clinical-date"), &obs), ["dateTime:\"2016-03-28\""]);
    assert_eq!(show(&param_expr("clinical-patient"), &obs), ["Reference:{\"reference\":\"Patient/example\"}"]);
    assert!(show(&param_expr("Observation-value-concept"), &obs).is_empty());

    let bp = load_example("Observation-blood-pressure.json");
    // composite components evaluated on a component keep their types
    let comps = eval_str("Observation.component", &bp).expect("eval");
    let code = parse("code").expect("parse");
    let v = super::evaluate_item(&parse("value.as(Quantity)").expect("parse"), &comps[0], &bp).expect("eval");
    assert_eq!(type_of(&v[0]), Some("Quantity"));
    assert_eq!(type_of(&super::evaluate_item(&code, &comps[0], &bp).expect("eval")[0]), Some("CodeableConcept"));
    assert_eq!(super::evaluate_item(&parse("%resource.id").expect("parse"), &comps[0], &bp).expect("eval").len(), 1);
    let combo = show(&param_expr("Observation-combo-code-value-quantity"), &bp);
    assert_eq!(combo.len(), 3, "{combo:?}");
    assert_eq!(combo[0].split(':').next(), Some("Observation"));
    assert_eq!(combo[1].split(':').next(), Some("BackboneElement"));
    let comp = show(&param_expr("Observation-component-value-quantity"), &bp);
    assert_eq!(comp.len(), 2);
    assert!(comp[1].contains("\"value\":60"));
    assert_eq!(show("Observation.performer.where(resolve() is Patient)", &bp), Vec::<String>::new());
    assert_eq!(show("Observation.performer.resolve()", &bp), ["Practitioner:Practitioner"]);

    let cond = load_example("Condition-example.json");
    assert_eq!(show(&param_expr("clinical-patient"), &cond), ["Reference:{\"reference\":\"Patient/example\"}"]);

    let mr = load_example("MedicationRequest-medrx0324.json");
    let med = show("(MedicationRequest.medication as CodeableConcept).coding.code", &mr);
    assert_eq!(med, ["code:\"322254008\""]);
    assert!(show(&param_expr("medications-medication"), &mr).is_empty());

    // decimals keep their precision and compare numerically
    let dec = load_example("Observation-decimal.json");
    let first = eval_str("Observation.component.value.value.first()", &dec).expect("eval");
    assert_eq!(first.len(), 1);
    assert_eq!(show("Observation.component.value.value.first() = 1.00", &dec), ["Boolean:true"]);

    // contained resources and Bundle entries are typed by resourceType
    let bundle = load_example("Bundle-bundle-example.json");
    assert_eq!(show("Bundle.entry.resource.ofType(Medication).id", &bundle).len(), 1);
    assert_eq!(show("Bundle.entry[0].resource.is(MedicationRequest)", &bundle), ["Boolean:true"]);
}

#[test]
fn inline_search_shapes() {
    let r: Value = serde_json::json!({
        "resourceType": "Observation",
        "extension": [{"url": "http://x/ext", "valueCodeableConcept": {"text": "t"}}],
        "subject": {"reference": "https://server/fhir/Group/7/_history/2"},
        "effectivePeriod": {"start": "2020-01-01", "end": "2020-02-01"},
        "valueString": "Hello World"
    });
    assert_eq!(show("Observation.extension('http://x/ext').value", &r), ["CodeableConcept:{\"text\":\"t\"}"]);
    assert_eq!(show("Observation.subject.where(resolve() is Group)", &r).len(), 1);
    assert!(show("Observation.subject.where(resolve() is Patient)", &r).is_empty());
    assert_eq!(show("Observation.effective", &r)[0].split(':').next(), Some("Period"));
    assert_eq!(show("(Observation.value as string).lower()", &r), ["String:hello world"]);
    assert_eq!(show("Observation.effective.start < @2020-01-02", &r), ["Boolean:true"]);
    assert_eq!(show("Observation.value.ofType(string).startsWith('Hell')", &r), ["Boolean:true"]);
}

#[test]
fn expr_is_send_sync_and_contained_references_resolve() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<super::Expr>();
    let r: Value = serde_json::from_str(
        r##"{
        "resourceType": "Observation",
        "contained": [{"resourceType": "Patient", "id": "p1", "name": [{"family": "Inner"}]}],
        "subject": {"reference": "#p1"},
        "performer": [{"reference": "Practitioner/1"}, {"display": "no reference"}],
        "valueQuantity": {"value": 5.40, "unit": "mg"}
    }"##,
    )
    .expect("json");
    assert_eq!(show("Observation.subject.where(resolve() is Patient)", &r).len(), 1);
    assert_eq!(show("Observation.subject.resolve().name.family", &r), ["string:\"Inner\""]);
    assert_eq!(show("Observation.performer.resolve()", &r), ["Practitioner:Practitioner"]);
    let q = eval_str("Observation.value", &r).expect("eval");
    assert_eq!(super::item_text(&q[0]), Some("5.40 'mg'".to_string()));
    assert_eq!(show("Observation.value = 5.4 'mg'", &r), ["Boolean:true"]);
    assert_eq!(show("Observation.value.value = 5.400", &r), ["Boolean:true"]);
    assert!(parse("Observation.where(").is_err());
    assert!(eval_str("Observation.value.foo()", &r).is_err());
}
