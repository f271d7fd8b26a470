//! Unit tests of the validator: each states one rule that must hold.
use super::validate_resource;
use crate::fhir::definitions::Definitions;
use crate::fhir::outcome::Issue;
use serde_json::{json, Value};

fn errors(v: &Value) -> Vec<Issue> {
    validate_resource(Definitions::r4(), v).into_iter().filter(Issue::is_error).collect()
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Asserts exactly the errors at the given (expression, code) pairs, in any order.
fn assert_errors(v: &Value, expected: &[(&str, &str)]) {
    let errs = errors(v);
    let mut got: Vec<(String, String)> =
        errs.iter().map(|i| (i.expression.clone(), i.code.to_string())).collect();
    let mut want: Vec<(String, String)> =
        expected.iter().map(|(e, c)| (e.to_string(), c.to_string())).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "issues: {errs:#?}");
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "1", "lastUpdated": "2021-01-01T10:00:00Z"},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Jane</div>"},
        "identifier": [{"system": "urn:oid:1.2.3", "value": "123"}],
        "active": true,
        "name": [{"use": "official", "family": "Doe", "given": ["Jane", "Q"]}],
        "gender": "female",
        "birthDate": "1980-02-29",
        "deceasedBoolean": false,
        "multipleBirthInteger": 2,
        "contact": [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
                     "name": {"family": "Doe"}}],
        "managingOrganization": {"reference": "Organization/1"}
    })
}

#[test]
fn valid_patient_passes() {
    assert_errors(&patient(), &[]);
}

#[test]
fn top_level_must_be_a_known_concrete_resource() {
    assert_errors(&json!([1]), &[("Resource", "structure")]);
    assert_errors(&json!({"id": "x"}), &[("Resource", "required")]);
    assert_errors(&json!({"resourceType": "Foo"}), &[("Resource", "invalid")]);
    assert_errors(&json!({"resourceType": "DomainResource"}), &[("Resource", "invalid")]);
}

#[test]
fn unknown_elements_are_rejected() {
    let mut p = patient();
    p["nickname"] = json!("JJ");
    p["name"][0]["fhir_comments"] = json!(["hi"]);
    assert_errors(&p, &[("Patient.nickname", "structure"), ("Patient.name[0].fhir_comments", "structure")]);
}

#[test]
fn empty_values_are_rejected() {
    let mut p = patient();
    p["name"][0]["family"] = json!("");
    p["identifier"] = json!([]);
    p["managingOrganization"] = json!({});
    p["active"] = Value::Null;
    assert_errors(
        &p,
        &[
            ("Patient.name[0].family", "value"),
            ("Patient.identifier", "structure"),
            ("Patient.managingOrganization", "structure"),
            ("Patient.active", "structure"),
        ],
    );
}

#[test]
fn wrong_primitive_json_types_are_rejected() {
    let mut p = patient();
    p["active"] = json!("true");
    p["multipleBirthInteger"] = json!("2");
    p["name"][0]["family"] = json!(5);
    assert_errors(
        &p,
        &[
            ("Patient.active", "structure"),
            ("Patient.multipleBirthInteger", "structure"),
            ("Patient.name[0].family", "structure"),
        ],
    );
}

#[test]
fn integers_and_decimals_follow_their_lexical_rules() {
    let p = parse(r#"{"resourceType":"Patient","multipleBirthInteger":2.0}"#);
    assert_errors(&p, &[("Patient.multipleBirthInteger", "value")]);
    let p = parse(r#"{"resourceType":"Patient","multipleBirthInteger":3000000000}"#);
    assert_errors(&p, &[("Patient.multipleBirthInteger", "value")]);
    let o = parse(r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.0e2}}"#);
    assert_errors(&o, &[]);
    let r = parse(r#"{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/1"},"prediction":[{"relativeRisk":1.50}]}"#);
    assert_errors(&r, &[]);
}

#[test]
fn dates_must_be_well_formed_and_exist() {
    for bad in ["2021-13-01", "2021-02-30", "2019-02-29", "21-01-01", "2021-1-1"] {
        let mut p = patient();
        p["birthDate"] = json!(bad);
        assert_errors(&p, &[("Patient.birthDate", "value")]);
    }
    for good in ["2021", "2021-02", "2020-02-29"] {
        let mut p = patient();
        p["birthDate"] = json!(good);
        assert_errors(&p, &[]);
    }
    let mut p = patient();
    p["meta"]["lastUpdated"] = json!("2021-04-31T10:00:00Z");
    assert_errors(&p, &[("Patient.meta.lastUpdated", "value")]);
}

#[test]
fn missing_required_elements_are_reported() {
    let o = json!({"resourceType": "Observation", "valueString": "x"});
    assert_errors(&o, &[("Observation.status", "required"), ("Observation.code", "required")]);
    let ext = json!({"resourceType": "Patient", "extension": [{"valueString": "x"}]});
    assert_errors(&ext, &[("Patient.extension[0].url", "required")]);
}

#[test]
fn arrays_versus_single_values() {
    let mut p = patient();
    p["gender"] = json!(["female"]);
    p["name"] = json!({"family": "Doe"});
    p["name"] = json!({"family": "Doe"});
    p["identifier"] = json!({"value": "1"});
    assert_errors(
        &p,
        &[("Patient.gender", "structure"), ("Patient.name", "structure"), ("Patient.identifier", "structure")],
    );
}

#[test]
fn choice_types_are_checked() {
    let mut o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                       "valueQuantity": {"value": 5.4, "unit": "mg"}});
    assert_errors(&o, &[]);
    o["valueString"] = json!("also");
    assert_errors(&o, &[("Observation.value", "structure")]);
    let bad = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                     "valueAddress": {"city": "X"}});
    assert_errors(&bad, &[("Observation.valueAddress", "structure")]);
    let bare = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "value": 1});
    assert_errors(&bare, &[("Observation.value", "structure")]);
}

#[test]
fn codes_in_required_bindings() {
    let mut p = patient();
    p["gender"] = json!("robot");
    assert_errors(&p, &[("Patient.gender", "code-invalid")]);
    // a Coding in the bound value set's own system must use a code of the set
    let o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "valueQuantity": {"value": 1, "comparator": "~"}});
    assert_errors(&o, &[("Observation.valueQuantity.comparator", "code-invalid")]);
    // not-enumerable value sets (mime types) are not checked
    let d = json!({"resourceType": "DocumentReference", "status": "current",
                   "content": [{"attachment": {"contentType": "application/x-whatever"}}]});
    assert_errors(&d, &[]);
}

#[test]
fn contained_resources_are_validated_and_cannot_nest() {
    let mut p = patient();
    p["contained"] = json!([
        {"resourceType": "Practitioner", "id": "pr", "name": [{"family": "Who"}], "gender": "robot"},
        {"resourceType": "Organization", "id": "o", "contained": [{"resourceType": "Organization", "id": "o2"}]}
    ]);
    assert_errors(
        &p,
        &[
            ("Patient.contained[0].ofType(Practitioner).gender", "code-invalid"),
            ("Patient.contained[1].ofType(Organization).contained", "invalid"),
        ],
    );
}

#[test]
fn bundle_entries_are_validated_as_resources() {
    let b = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "birthDate": "2021-13-01"}},
        {"resource": {"resourceType": "Nope"}}
    ]});
    assert_errors(
        &b,
        &[("Bundle.entry[0].resource.ofType(Patient).birthDate", "value"), ("Bundle.entry[1].resource", "invalid")],
    );
}

#[test]
fn extension_shapes() {
    let ok = json!({"resourceType": "Patient", "extension": [
        {"url": "http://example.org/a", "valueString": "x"},
        {"url": "http://example.org/b", "extension": [{"url": "c", "valueBoolean": true}]}
    ]});
    assert_errors(&ok, &[]);
    let both = json!({"resourceType": "Patient", "extension": [
        {"url": "http://example.org/a", "valueString": "x", "extension": [{"url": "c", "valueBoolean": true}]}
    ]});
    assert_errors(&both, &[("Patient.extension[0]", "invalid")]);
    let neither = json!({"resourceType": "Patient", "extension": [{"url": "http://example.org/a"}]});
    assert_errors(&neither, &[("Patient.extension[0]", "invalid")]);
    let not_array = json!({"resourceType": "Patient", "extension": {"url": "u", "valueString": "x"}});
    assert_errors(&not_array, &[("Patient.extension", "structure")]);
}

#[test]
fn primitive_extensions() {
    let ext = json!({"extension": [{"url": "http://example.org/x", "valueString": "approx"}]});
    let mut p = patient();
    p["_birthDate"] = ext.clone();
    assert_errors(&p, &[]);
    p.as_object_mut().unwrap().remove("birthDate");
    assert_errors(&p, &[]);
    // aligned arrays with null placeholders
    p["name"][0]["given"] = json!(["Jane", null]);
    p["name"][0]["_given"] = json!([null, ext.clone()]);
    assert_errors(&p, &[]);
    p["name"][0]["_given"] = json!([null]);
    assert_errors(&p, &[("Patient.name[0].given", "structure")]);
    p["name"][0]["_given"] = json!([null, null]);
    assert_errors(&p, &[("Patient.name[0].given[1]", "structure")]);
    let mut q = patient();
    q["_birthDate"] = json!({"value": "1980-01-01"});
    assert_errors(&q, &[("Patient.birthDate.value", "structure")]);
    let mut r = patient();
    r["_name"] = json!([ext]);
    assert_errors(&r, &[("Patient._name", "structure")]);
}

#[test]
fn content_references_and_backbone_elements() {
    let q = json!({"resourceType": "Questionnaire", "status": "active", "item": [
        {"linkId": "1", "type": "group", "item": [
            {"linkId": "1.1", "type": "string", "item": [{"linkId": "1.1.1", "type": "display", "bogus": 1}]},
            {"type": "string"}
        ]}
    ]});
    assert_errors(
        &q,
        &[("Questionnaire.item[0].item[0].item[0].bogus", "structure"), ("Questionnaire.item[0].item[1].linkId", "required")],
    );
}

#[test]
fn narrative_div_must_be_xhtml() {
    let mut p = patient();
    p["text"]["div"] = json!("plain text");
    assert_errors(&p, &[("Patient.text.div", "value")]);
}

#[test]
fn pathological_nesting_is_stopped() {
    let mut item = json!({"linkId": "x", "type": "group"});
    for _ in 0..100 {
        item = json!({"linkId": "x", "type": "group", "item": [item]});
    }
    let q = json!({"resourceType": "Questionnaire", "status": "active", "item": [item]});
    let errs = errors(&q);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].diagnostics.contains("deeper"));
}

#[test]
fn validation_does_not_mutate_decimal_text() {
    let text = r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}"#;
    let v = parse(text);
    assert_errors(&v, &[]);
    assert_eq!(serde_json::to_string(&v).unwrap(), text);
}

#[test]
fn reference_to_a_disallowed_type_is_a_warning_only() {
    let mut p = patient();
    p["managingOrganization"] = json!({"reference": "Practitioner/1"});
    assert_errors(&p, &[]);
    let issues = validate_resource(Definitions::r4(), &p);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(issues[0].expression, "Patient.managingOrganization.reference");
    assert!(!issues[0].is_error());
    p["managingOrganization"] = json!({"reference": "Organization/1"});
    assert!(validate_resource(Definitions::r4(), &p).is_empty());
}
