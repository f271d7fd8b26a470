//! Exact extraction checks on hand-made resources, and a run over every official R4 example.
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{json, Value};

use super::values::{literal_range, parse_reference};
use super::{Extractor, IndexEntry, IndexValue};
use crate::fhir::definitions::Definitions;
use crate::fhir::meta::parse_range;
use crate::search::params::Registry;

fn extractor() -> &'static Extractor {
    static X: OnceLock<Extractor> = OnceLock::new();
    X.get_or_init(|| Extractor::new(Arc::new(Registry::from_definitions(Definitions::r4()).expect("registry"))))
}

fn of<'a>(entries: &'a [IndexEntry], param: &str) -> Vec<&'a IndexValue> {
    entries.iter().filter(|e| e.param == param).map(|e| &e.value).collect()
}

fn s(norm: &str, exact: &str) -> IndexValue {
    IndexValue::String { norm: norm.into(), exact: exact.into() }
}

fn tok(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    IndexValue::Token { system: system.map(Into::into), code: code.map(Into::into), text: text.map(Into::into) }
}

fn reference(t: Option<&str>, id: Option<&str>, url: Option<&str>) -> IndexValue {
    IndexValue::Reference { target_type: t.map(Into::into), target_id: id.map(Into::into), url: url.map(Into::into), identifier: None }
}

fn date(text: &str) -> IndexValue {
    let (low, high) = parse_range(text).expect("date");
    IndexValue::Date { low, high }
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"lastUpdated": "2024-05-06T07:08:09.123Z", "tag": [{"system": "http://t", "code": "x"}],
                 "profile": ["http://example.org/StructureDefinition/p"], "source": "http://src#1"},
        "identifier": [{"system": "http://hospital/mrn", "value": "12345", "type": {"text": "Medical Record"}}],
        "active": true,
        "name": [{"family": "Müller", "given": ["José", "Ana  María"], "prefix": ["Dr."], "text": "Dr. José Müller"}],
        "gender": "female",
        "birthDate": "1974-12",
        "telecom": [{"system": "phone", "value": "555-1234", "use": "home"}, {"system": "email", "value": "j@x.org"}],
        "address": [{"line": ["1 Rue de l'Église"], "city": "Zürich", "postalCode": "8001", "country": "CH"}],
        "generalPractitioner": [{"reference": "Practitioner/pr1"}, {"reference": "Organization/o1/_history/3"}],
        "link": [{"other": {"reference": "http://other.org/fhir/Patient/x9"}, "type": "seealso"}]
    })
}

#[test]
fn patient_values() {
    let e = extractor().extract(&patient());
    let names = of(&e, "name");
    for want in
        [s("muller", "Müller"), s("jose", "José"), s("ana maria", "Ana  María"), s("dr.", "Dr."), s("dr. jose muller", "Dr. José Müller")]
    {
        assert!(names.contains(&&want), "{want:?} not in {names:?}");
    }
    assert_eq!(names.len(), 5);
    assert_eq!(of(&e, "family"), vec![&s("muller", "Müller")]);
    assert_eq!(of(&e, "birthdate"), vec![&date("1974-12")]);
    let IndexValue::Date { low, high } = of(&e, "birthdate")[0] else { panic!() };
    assert_eq!((*low, *high), (parse_range("1974-12-01").unwrap().0, parse_range("1975-01-01").unwrap().0));
    assert_eq!(of(&e, "gender"), vec![&tok(None, Some("female"), None)]);
    assert_eq!(of(&e, "active"), vec![&tok(None, Some("true"), None)]);
    assert_eq!(of(&e, "identifier"), vec![&tok(Some("http://hospital/mrn"), Some("12345"), Some("medical record"))]);
    assert_eq!(
        of(&e, "general-practitioner"),
        vec![&reference(Some("Practitioner"), Some("pr1"), None), &reference(Some("Organization"), Some("o1"), None)]
    );
    assert_eq!(of(&e, "link"), vec![&reference(Some("Patient"), Some("x9"), Some("http://other.org/fhir/Patient/x9"))]);
    assert_eq!(of(&e, "address-city"), vec![&s("zurich", "Zürich")]);
    assert_eq!(of(&e, "address-postalcode"), vec![&s("8001", "8001")]);
    assert!(of(&e, "address").contains(&&s("1 rue de l'eglise", "1 Rue de l'Église")));
    assert_eq!(of(&e, "telecom"), vec![&tok(None, Some("555-1234"), None), &tok(None, Some("j@x.org"), None)]);
    assert_eq!(of(&e, "phone"), vec![&tok(None, Some("555-1234"), None)]);
    assert_eq!(of(&e, "email"), vec![&tok(None, Some("j@x.org"), None)]);
    // Common parameters.
    assert_eq!(of(&e, "_id"), vec![&tok(None, Some("p1"), None)]);
    assert_eq!(of(&e, "_lastUpdated"), vec![&date("2024-05-06T07:08:09.123Z")]);
    assert_eq!(of(&e, "_tag"), vec![&tok(Some("http://t"), Some("x"), None)]);
    assert_eq!(of(&e, "_profile"), vec![&IndexValue::Uri("http://example.org/StructureDefinition/p".into())]);
    assert_eq!(of(&e, "_source"), vec![&IndexValue::Uri("http://src#1".into())]);
    // Nothing special or composite on a Patient; all groups 0; no duplicates.
    assert!(e.iter().all(|x| x.group == 0));
    assert!(of(&e, "_text").is_empty() && of(&e, "_content").is_empty());
    for (i, a) in e.iter().enumerate() {
        assert!(!e[i + 1..].contains(a), "duplicate {a:?}");
    }
}

fn observation() -> Value {
    // Parsed from text so that `5.40` keeps its literal (json! would go through f64).
    serde_json::from_str(
        r##"{
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}], "text": "BP"},
        "subject": {"reference": "Patient/1"},
        "performer": [{"reference": "https://fhir.example.org/r4/Practitioner/abc/_history/2"}, {"reference": "#c1"},
                      {"identifier": {"system": "http://npi", "value": "99"}}],
        "effectivePeriod": {"start": "2024-01-02T10:00:00Z"},
        "valueQuantity": {"value": 5.40, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 80, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
        ]
    }"##,
    )
    .expect("observation json")
}

fn q(value: f64, low: f64, high: f64, system: Option<&str>, code: Option<&str>, unit: Option<&str>) -> IndexValue {
    IndexValue::Quantity { value, low, high, system: system.map(Into::into), code: code.map(Into::into), unit: unit.map(Into::into) }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() < 1e-9
}

fn approx(v: &IndexValue, want: &IndexValue) -> bool {
    match (v, want) {
        (
            IndexValue::Quantity { value, low, high, system, code, unit },
            IndexValue::Quantity { value: v2, low: l2, high: h2, system: s2, code: c2, unit: u2 },
        ) => close(*value, *v2) && close(*low, *l2) && close(*high, *h2) && system == s2 && code == c2 && unit == u2,
        (IndexValue::Number { value, low, high }, IndexValue::Number { value: v2, low: l2, high: h2 }) => {
            close(*value, *v2) && close(*low, *l2) && close(*high, *h2)
        }
        _ => v == want,
    }
}

#[test]
fn observation_values() {
    let e = extractor().extract(&observation());
    assert_eq!(
        of(&e, "code"),
        vec![&tok(Some("http://loinc.org"), Some("85354-9"), Some("blood pressure panel")), &tok(None, None, Some("bp"))]
    );
    let vq = of(&e, "value-quantity");
    assert_eq!(vq.len(), 1);
    let ucum = Some("http://unitsofmeasure.org");
    assert!(approx(vq[0], &q(5.4, 5.395, 5.405, ucum, Some("mmol/L"), Some("mmol/L"))), "{vq:?}");
    let start = parse_range("2024-01-02T10:00:00Z").unwrap().0;
    assert_eq!(of(&e, "date"), vec![&IndexValue::Date { low: start, high: i64::MAX }]);
    assert_eq!(of(&e, "subject"), vec![&reference(Some("Patient"), Some("1"), None)]);
    assert_eq!(of(&e, "patient"), vec![&reference(Some("Patient"), Some("1"), None)]);
    let perf = of(&e, "performer");
    assert_eq!(perf.len(), 3, "{perf:?}");
    assert_eq!(perf[0], &reference(Some("Practitioner"), Some("abc"), Some("https://fhir.example.org/r4/Practitioner/abc")));
    assert_eq!(perf[1], &reference(None, None, Some("#c1")));
    assert_eq!(
        perf[2],
        &IndexValue::Reference {
            target_type: None,
            target_id: None,
            url: None,
            identifier: Some((Some("http://npi".into()), "99".into()))
        }
    );
    // code-value-quantity: one element (the Observation) -> group 1.
    let cvq: Vec<&IndexEntry> = e.iter().filter(|x| x.param.starts_with("code-value-quantity#")).collect();
    assert!(cvq.iter().all(|x| x.group == 1), "{cvq:?}");
    assert!(cvq
        .iter()
        .any(|x| x.param == "code-value-quantity#0"
            && x.value == tok(Some("http://loinc.org"), Some("85354-9"), Some("blood pressure panel"))));
    assert!(cvq
        .iter()
        .any(|x| x.param == "code-value-quantity#1" && approx(&x.value, &q(5.4, 5.395, 5.405, ucum, Some("mmol/L"), Some("mmol/L")))));
    // component-code-value-quantity: one group per component.
    let ccvq: Vec<&IndexEntry> = e.iter().filter(|x| x.param.starts_with("component-code-value-quantity#")).collect();
    let want = [
        ("component-code-value-quantity#0", 1, tok(Some("http://loinc.org"), Some("8480-6"), None)),
        ("component-code-value-quantity#1", 1, q(120.0, 119.5, 120.5, ucum, Some("mm[Hg]"), Some("mmHg"))),
        ("component-code-value-quantity#0", 2, tok(Some("http://loinc.org"), Some("8462-4"), None)),
        ("component-code-value-quantity#1", 2, q(80.0, 79.5, 80.5, ucum, Some("mm[Hg]"), Some("mmHg"))),
    ];
    assert_eq!(ccvq.len(), 4, "{ccvq:?}");
    for (p, g, v) in &want {
        assert!(ccvq.iter().any(|x| x.param == *p && x.group == *g && approx(&x.value, v)), "{p} {g} {v:?} not in {ccvq:?}");
    }
    // combo-code-value-quantity: the Observation and both components -> 3 groups.
    let groups: std::collections::BTreeSet<u32> =
        e.iter().filter(|x| x.param.starts_with("combo-code-value-quantity#")).map(|x| x.group).collect();
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(of(&e, "component-code").len(), 2);
}

#[test]
fn condition_onset_age_and_abatement() {
    let c = json!({
        "resourceType": "Condition", "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Asthma"},
        "onsetAge": {"value": 52, "unit": "yr", "system": "http://unitsofmeasure.org", "code": "a"},
        "abatementRange": {"low": {"value": 60, "unit": "yr", "system": "http://unitsofmeasure.org", "code": "a"}},
        "recordedDate": "2020-02-03"
    });
    let e = extractor().extract(&c);
    let onset = of(&e, "onset-age");
    assert_eq!(onset.len(), 1);
    assert!(approx(onset[0], &q(52.0, 51.5, 52.5, Some("http://unitsofmeasure.org"), Some("a"), Some("yr"))), "{onset:?}");
    let ab = of(&e, "abatement-age");
    assert_eq!(ab.len(), 1);
    assert!(approx(ab[0], &q(60.0, 59.5, f64::MAX, Some("http://unitsofmeasure.org"), Some("a"), Some("yr"))), "{ab:?}");
    assert_eq!(of(&e, "code"), vec![&tok(None, None, Some("asthma"))]);
    assert_eq!(of(&e, "recorded-date"), vec![&date("2020-02-03")]);
    assert!(of(&e, "onset-date").is_empty());
}

#[test]
fn canonical_reference_and_uri() {
    let qr = json!({
        "resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/phq9|1.0",
        "subject": {"reference": "Patient/p1"}
    });
    let e = extractor().extract(&qr);
    assert_eq!(of(&e, "questionnaire"), vec![&reference(None, None, Some("http://example.org/Questionnaire/phq9|1.0"))]);
    let qn = json!({"resourceType": "Questionnaire", "id": "q", "status": "active", "url": "http://example.org/Questionnaire/phq9", "version": "1.0"});
    let e = extractor().extract(&qn);
    assert_eq!(of(&e, "url"), vec![&IndexValue::Uri("http://example.org/Questionnaire/phq9".into())]);
    assert_eq!(of(&e, "version"), vec![&tok(None, Some("1.0"), None)]);
}

#[test]
fn numbers_with_precision() {
    let ra = json!({
        "resourceType": "RiskAssessment", "id": "r", "status": "final", "subject": {"reference": "Patient/p"},
        "prediction": [{"probabilityDecimal": 0.02}, {"probabilityDecimal": 100}, {"probabilityRange": {"low": {"value": 1}}}]
    });
    let e = extractor().extract(&ra);
    let p = of(&e, "probability");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(approx(p[0], &IndexValue::Number { value: 0.02, low: 0.015, high: 0.025 }), "{p:?}");
    assert!(approx(p[1], &IndexValue::Number { value: 100.0, low: 99.5, high: 100.5 }), "{p:?}");
    let ms =
        json!({"resourceType": "MolecularSequence", "id": "m", "coordinateSystem": 0, "variant": [{"start": 128273724, "end": 128273725}]});
    let e = extractor().extract(&ms);
    assert!(approx(of(&e, "variant-start")[0], &IndexValue::Number { value: 128273724.0, low: 128273723.5, high: 128273724.5 }));
    assert_eq!(literal_range("1.50"), Some((1.5, 1.495, 1.505)));
    let (v, lo, hi) = literal_range("1e2").unwrap();
    assert_eq!((v, lo, hi), (100.0, 50.0, 150.0));
}

#[test]
fn timing_and_money() {
    let mr = json!({
        "resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order", "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"coding": [{"system": "http://rxnorm", "code": "1"}]},
        "dosageInstruction": [{"timing": {"event": ["2024-01-05", "2024-01-01"]}},
                              {"timing": {"repeat": {"boundsPeriod": {"start": "2024-02-01", "end": "2024-02-10"}}}}]
    });
    let e = extractor().extract(&mr);
    let day = |t: &str| parse_range(t).unwrap();
    // `date` is `dosageInstruction.timing.event`: each event on its own.
    assert_eq!(
        of(&e, "date"),
        vec![
            &IndexValue::Date { low: day("2024-01-05").0, high: day("2024-01-05").1 },
            &IndexValue::Date { low: day("2024-01-01").0, high: day("2024-01-01").1 }
        ]
    );
    // A whole Timing: events min..max, else repeat.boundsPeriod.
    let sr = json!({"resourceType": "ServiceRequest", "id": "s", "status": "active", "intent": "order", "subject": {"reference": "Patient/p"},
                    "occurrenceTiming": {"event": ["2024-01-05", "2024-01-01T10:00:00Z"]}});
    let e = extractor().extract(&sr);
    assert_eq!(of(&e, "occurrence"), vec![&IndexValue::Date { low: day("2024-01-01T10:00:00Z").0, high: day("2024-01-05").1 }]);
    let cp = json!({"resourceType": "CarePlan", "id": "c", "status": "active", "intent": "plan", "subject": {"reference": "Patient/p"},
                    "activity": [{"detail": {"status": "scheduled", "scheduledTiming": {"repeat": {"boundsPeriod": {"start": "2024-02-01", "end": "2024-02-10"}}}}},
                                 {"detail": {"status": "scheduled", "scheduledPeriod": {"end": "2024-03"}}}]});
    let e = extractor().extract(&cp);
    assert_eq!(
        of(&e, "activity-date"),
        vec![
            &IndexValue::Date { low: day("2024-02-01").0, high: day("2024-02-10").1 },
            &IndexValue::Date { low: i64::MIN, high: day("2024-03").1 }
        ]
    );
    let ci: Value = serde_json::from_str(
        r#"{"resourceType": "ChargeItem", "id": "c", "status": "billed", "code": {"text": "x"}, "subject": {"reference": "Patient/p"},
            "priceOverride": {"value": 40.00, "currency": "EUR"}, "factorOverride": 0.8}"#,
    )
    .expect("json");
    let e = extractor().extract(&ci);
    let po = of(&e, "price-override");
    assert!(approx(po[0], &q(40.0, 39.995, 40.005, Some("urn:iso:std:iso:4217"), Some("EUR"), Some("EUR"))), "{po:?}");
    assert!(approx(of(&e, "factor-override")[0], &IndexValue::Number { value: 0.8, low: 0.75, high: 0.85 }));
}

#[test]
fn reference_forms() {
    assert_eq!(parse_reference("Patient/1/_history/2", None), reference(Some("Patient"), Some("1"), None));
    assert_eq!(parse_reference("abc", Some("Patient")), reference(Some("Patient"), Some("abc"), None));
    assert_eq!(parse_reference("urn:uuid:1234-5", None), reference(None, None, Some("urn:uuid:1234-5")));
    assert_eq!(parse_reference("http://x.org/fhir/Foo/1", None), reference(None, None, Some("http://x.org/fhir/Foo/1")));
}

#[test]
fn bad_data_does_not_panic() {
    for v in [
        json!({}),
        json!({"resourceType": 3}),
        json!({"resourceType": "Unknown", "id": "x"}),
        json!({"resourceType": "Patient", "name": "not-a-list", "birthDate": "yesterday", "gender": 7, "telecom": [null, 1, {"value": {}}]}),
        json!({"resourceType": "Observation", "valueQuantity": {"value": "x"}, "effectivePeriod": {"start": "garbage"}, "component": [1, null]}),
    ] {
        let _ = extractor().extract(&v);
    }
}

fn examples_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/hl7.fhir.r4.examples/package");
    assert!(dir.join("Patient-example.json").exists(), "R4 examples not found in {}: run scripts/fetch-r4-package.sh", dir.display());
    dir
}

#[test]
fn every_official_example() {
    let x = extractor();
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir()).expect("examples dir").flatten().map(|e| e.path()).collect();
    files.sort();
    let (mut resources, mut entries, mut empty) = (0usize, 0usize, Vec::new());
    let mut by_kind = std::collections::BTreeMap::<&'static str, usize>::new();
    let mut elapsed = std::time::Duration::ZERO;
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if v.get("resourceType").and_then(Value::as_str).is_none() {
            continue;
        }
        let t = Instant::now();
        let e = x.extract(&v);
        elapsed += t.elapsed();
        assert_eq!(e, x.extract_with(&v, false), "{}: the element guards changed the result", f.display());
        resources += 1;
        entries += e.len();
        if e.is_empty() {
            empty.push(f.display().to_string());
        }
        for en in &e {
            let k = match en.value {
                IndexValue::String { .. } => "string",
                IndexValue::Token { .. } => "token",
                IndexValue::Date { .. } => "date",
                IndexValue::Number { .. } => "number",
                IndexValue::Quantity { .. } => "quantity",
                IndexValue::Reference { .. } => "reference",
                IndexValue::Uri(_) => "uri",
            };
            *by_kind.entry(k).or_default() += 1;
        }
    }
    println!(
        "extract: {resources} examples, {entries} entries ({by_kind:?}), {} evaluation errors, {:.1} ms total, {:.1} us/resource",
        x.error_count(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / resources.max(1) as f64
    );
    assert!(resources > 2000, "only {resources} examples");
    assert!(entries > resources * 5, "only {entries} entries for {resources} resources");
    // Every resource with an id gets at least `_id`.
    assert!(empty.len() < resources / 50, "{} resources without entries: {:?}", empty.len(), &empty[..empty.len().min(10)]);
}

#[test]
fn timing_typical_resources() {
    let x = extractor();
    let t = Instant::now();
    let _fresh = Extractor::new(Arc::new(Registry::from_definitions(Definitions::r4()).expect("registry")));
    println!("extract: Extractor::new (incl. registry) {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    // Best of 5 batches (the machine is shared); unguarded = every expression evaluated.
    for (name, v) in [("Patient", patient()), ("Observation", observation())] {
        for guarded in [true, false] {
            let n = 300;
            let mut best = f64::MAX;
            let mut count = 0;
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..n {
                    count = x.extract_with(&v, guarded).len();
                }
                best = best.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
            }
            println!("extract: {name} (guarded {guarded}): {count} entries, {best:.1} us/call");
        }
    }
}

/// Evaluating union parts separately (shared between parameters) gives the same values as
/// evaluating each whole expression, except where FHIRPath's union merged equal-but-distinct
/// elements (e.g. `5` and `5.0`), which the index keeps apart.
#[test]
fn split_unions_match_whole_expressions() {
    use super::{restrict_to_type, values};
    use crate::search::fhirpath;
    use crate::search::params::ParamType;
    let x = extractor();
    let reg = Registry::from_definitions(Definitions::r4()).expect("registry");
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir()).expect("examples dir").flatten().map(|e| e.path()).collect();
    files.sort();
    let mut extra = Vec::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let Some(v) = std::fs::read_to_string(f).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()) else {
            continue;
        };
        let Some(rt) = v.get("resourceType").and_then(Value::as_str) else {
            continue;
        };
        let got = x.extract(&v);
        for p in reg.for_type(rt) {
            if matches!(p.kind, ParamType::Composite | ParamType::Special) || p.code == "_text" || p.code == "_content" {
                continue;
            }
            let Some(text) = p.expression.as_deref().and_then(|t| restrict_to_type(t, rt)) else {
                continue;
            };
            let Ok(items) = fhirpath::eval_str(&text, &v) else {
                continue;
            };
            let mut whole = Vec::new();
            for it in &items {
                values::convert(p.kind, it, &mut whole);
            }
            let mine: Vec<&IndexValue> = of(&got, &p.code);
            for w in &whole {
                assert!(mine.contains(&w), "{}: {} lost {w:?}", f.display(), p.code);
            }
            let mut dedup: Vec<&IndexValue> = Vec::new();
            for w in &whole {
                if !dedup.contains(&w) {
                    dedup.push(w);
                }
            }
            if mine.len() != dedup.len() {
                extra.push(format!("{} {}: {:?} vs {:?}", f.display(), p.code, mine, dedup));
            }
        }
    }
    println!("extract: {} parameter values differ from whole-expression evaluation by extra entries", extra.len());
    for e in extra.iter().take(5) {
        println!("  {e}");
    }
    assert!(extra.len() < 20, "{extra:#?}");
}
