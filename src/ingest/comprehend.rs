//! Amazon Comprehend Medical as the extraction stage for clinical lists
//! (`HEARTH_INGEST_EXTRACT=comprehend-medical`): the text of the problem, medication, lab
//! and procedure sections goes to `DetectEntitiesV2`; its entities become list items with
//! the service's scores as confidence. Everything else (demographics, encounter, vitals,
//! allergies, immunizations, family history) still comes from the blueprint.
use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::blueprint::Blueprint;
use super::extract::{BlueprintExtractor, Extraction, FieldExtractor, Item, Value};
use super::segment::Section;
use super::IngestError;

/// Most characters of one `DetectEntitiesV2` request (the service's limit is 20,000).
pub const MAX_CHARS: usize = 20_000;

/// The service call: text -> the response in Comprehend Medical's JSON shape
/// (`{"Entities": [...]}`).
pub trait EntityDetector: Send + Sync {
    fn detect(&self, text: &str) -> Result<Json, IngestError>;
}

/// The list kinds Comprehend Medical reads, by blueprint list kind.
const KINDS: [&str; 4] = ["condition", "medication", "lab", "procedure"];

pub struct ComprehendMedicalExtractor<'a> {
    pub blueprint: &'static Blueprint,
    pub detector: &'a dyn EntityDetector,
}

impl FieldExtractor for ComprehendMedicalExtractor<'_> {
    fn extract(&self, sections: &[Section]) -> Result<Extraction, IngestError> {
        let mut ex = BlueprintExtractor { blueprint: self.blueprint }.extract(sections)?;
        ex.items.retain(|i| !KINDS.contains(&i.kind.as_str()));
        for s in sections {
            let Some(kind) = self.blueprint.list_for_section(&s.kind).map(|l| l.kind.as_str()).filter(|k| KINDS.contains(k)) else { continue };
            let page = s.lines.first().map(|l| l.page).unwrap_or(1);
            for chunk in chunks(&s.lines.iter().map(|l| l.text()).collect::<Vec<_>>()) {
                let resp = self.detector.detect(&chunk)?;
                ex.items.extend(items_from_entities(&resp, page).into_iter().filter(|i| i.kind == kind));
            }
        }
        Ok(ex)
    }
}

/// Lines joined into texts of at most `MAX_CHARS` characters (a longer line is cut).
fn chunks(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for line in lines {
        let line: String = line.chars().take(MAX_CHARS - 1).collect();
        if cur.chars().count() + line.chars().count() + 1 > MAX_CHARS {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(&line);
        cur.push('\n');
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn text(v: &Json) -> &str {
    v.get("Text").and_then(Json::as_str).unwrap_or("").trim()
}

fn score(v: &Json, key: &str) -> f32 {
    v.get(key).and_then(Json::as_f64).unwrap_or(0.0).clamp(0.0, 1.0) as f32
}

fn has_trait(e: &Json, name: &str) -> bool {
    e.get("Traits").and_then(Json::as_array).into_iter().flatten().any(|t| t.get("Name").and_then(Json::as_str) == Some(name) && score(t, "Score") >= 0.5)
}

fn value(key: &str, raw: &str, confidence: f32, page: usize) -> Value {
    Value { key: key.to_string(), value: raw.to_string(), raw: raw.to_string(), confidence, page, unit: None }
}

/// List items from a `DetectEntitiesV2` response: medications (generic or brand name, with
/// dosage, route and frequency attributes), conditions (diagnosis names, not negated), lab
/// tests (name, value, unit) and procedures. An attribute's confidence is its score times
/// its relationship score, at most the entity's.
pub fn items_from_entities(resp: &Json, page: usize) -> Vec<Item> {
    let mut out = Vec::new();
    for e in resp.get("Entities").and_then(Json::as_array).into_iter().flatten() {
        let (cat, typ) = (e.get("Category").and_then(Json::as_str).unwrap_or(""), e.get("Type").and_then(Json::as_str).unwrap_or(""));
        let kind = match (cat, typ) {
            ("MEDICATION", "GENERIC_NAME" | "BRAND_NAME") => "medication",
            ("MEDICAL_CONDITION", "DX_NAME") if !has_trait(e, "NEGATION") => "condition",
            ("TEST_TREATMENT_PROCEDURE", "TEST_NAME") => "lab",
            ("TEST_TREATMENT_PROCEDURE", "PROCEDURE_NAME") => "procedure",
            _ => continue,
        };
        let name = text(e);
        if name.is_empty() {
            continue;
        }
        let conf = score(e, "Score");
        let mut fields = BTreeMap::new();
        fields.insert("name".to_string(), value("name", name, conf, page));
        for a in e.get("Attributes").and_then(Json::as_array).into_iter().flatten() {
            let col = match (kind, a.get("Type").and_then(Json::as_str).unwrap_or("")) {
                ("medication", "DOSAGE") => "dose",
                ("medication", "ROUTE_OR_MODE") => "route",
                ("medication", "FREQUENCY") => "frequency",
                ("lab", "TEST_VALUE") => "value",
                ("lab", "TEST_UNIT") => "unit",
                _ => continue,
            };
            let t = text(a);
            if t.is_empty() || fields.contains_key(col) {
                continue;
            }
            let c = (score(a, "Score") * score(a, "RelationshipScore")).min(conf);
            let mut v = value(col, t, c, page);
            if col == "value" {
                match super::normalise::number(t) {
                    Some((n, _)) => v.value = n,
                    None => continue,
                }
            }
            fields.insert(col.to_string(), v);
        }
        out.push(Item { kind: kind.to_string(), fields });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A response in the shape `DetectEntitiesV2` returns (recorded structure, made-up text).
    fn response() -> Json {
        json!({"Entities": [
            {"Id": 0, "BeginOffset": 0, "EndOffset": 9, "Score": 0.99, "Text": "Metformin", "Category": "MEDICATION", "Type": "GENERIC_NAME", "Traits": [],
             "Attributes": [
                {"Type": "DOSAGE", "Score": 0.9, "RelationshipScore": 0.98, "RelationshipType": "DOSAGE", "Id": 1, "BeginOffset": 10, "EndOffset": 16, "Text": "500 mg", "Category": "MEDICATION", "Traits": []},
                {"Type": "ROUTE_OR_MODE", "Score": 0.95, "RelationshipScore": 0.99, "Id": 2, "Text": "oral", "Category": "MEDICATION", "Traits": []},
                {"Type": "FREQUENCY", "Score": 0.8, "RelationshipScore": 0.9, "Id": 3, "Text": "twice daily", "Category": "MEDICATION", "Traits": []}]},
            {"Id": 4, "Score": 0.97, "Text": "hypertension", "Category": "MEDICAL_CONDITION", "Type": "DX_NAME", "Traits": [{"Name": "DIAGNOSIS", "Score": 0.9}]},
            {"Id": 5, "Score": 0.93, "Text": "chest pain", "Category": "MEDICAL_CONDITION", "Type": "DX_NAME", "Traits": [{"Name": "NEGATION", "Score": 0.95}]},
            {"Id": 6, "Score": 0.96, "Text": "Hemoglobin A1c", "Category": "TEST_TREATMENT_PROCEDURE", "Type": "TEST_NAME", "Traits": [],
             "Attributes": [{"Type": "TEST_VALUE", "Score": 0.99, "RelationshipScore": 0.99, "Text": "6.10"}, {"Type": "TEST_UNIT", "Score": 0.98, "RelationshipScore": 0.97, "Text": "%"}]},
            {"Id": 7, "Score": 0.9, "Text": "colonoscopy", "Category": "TEST_TREATMENT_PROCEDURE", "Type": "PROCEDURE_NAME", "Traits": []},
            {"Id": 8, "Score": 0.99, "Text": "John Smith", "Category": "PROTECTED_HEALTH_INFORMATION", "Type": "NAME", "Traits": []}
        ], "UnmappedAttributes": [], "ModelVersion": "2.6.0"})
    }

    #[test]
    fn entities_become_items_with_scores() {
        let items = items_from_entities(&response(), 2);
        let kinds: Vec<&str> = items.iter().map(|i| i.kind.as_str()).collect();
        assert_eq!(kinds, vec!["medication", "condition", "lab", "procedure"], "negated condition and PHI left out");
        let med = &items[0];
        assert_eq!(med.get("name").map(|v| v.value.as_str()), Some("Metformin"));
        assert_eq!(med.get("dose").map(|v| v.value.as_str()), Some("500 mg"));
        assert_eq!(med.get("route").map(|v| v.value.as_str()), Some("oral"));
        assert_eq!(med.get("frequency").map(|v| v.value.as_str()), Some("twice daily"));
        assert!((med.get("frequency").map(|v| v.confidence).unwrap_or(0.0) - 0.72).abs() < 1e-4);
        assert_eq!(med.get("name").map(|v| v.page), Some(2));
        let lab = &items[2];
        assert_eq!(lab.get("value").map(|v| (v.value.as_str(), v.raw.as_str())), Some(("6.1", "6.10")));
        assert_eq!(lab.get("unit").map(|v| v.value.as_str()), Some("%"));
        assert!(items_from_entities(&json!({}), 1).is_empty());
    }

    struct Recorded(std::sync::Mutex<Vec<String>>);

    impl EntityDetector for Recorded {
        fn detect(&self, text: &str) -> Result<Json, IngestError> {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(text.to_string());
            }
            Ok(response())
        }
    }

    #[test]
    fn list_sections_go_to_the_service_other_fields_to_the_blueprint() {
        let doc = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/ingest/corpus/001-summary.pdf")).expect("corpus");
        let pages = super::super::pdf::PdfFile::parse(&doc).expect("pdf").text_pages().expect("text").into_iter().flatten().collect::<Vec<_>>();
        let bp = Blueprint::shipped();
        let sections = super::super::segment::Segmenter::segment(&super::super::segment::HeadingSegmenter { blueprint: bp }, &pages);
        let rec = Recorded(std::sync::Mutex::new(Vec::new()));
        let ex = ComprehendMedicalExtractor { blueprint: bp, detector: &rec }.extract(&sections).expect("extract");
        let sent = rec.0.lock().map(|s| s.clone()).unwrap_or_default();
        assert!(!sent.is_empty() && sent.iter().all(|t| t.chars().count() <= MAX_CHARS));
        // scalars still from the blueprint; conditions from the service (one per call, of its kind only)
        assert!(ex.field("patient.birthDate").is_some());
        let conds = ex.items.iter().filter(|i| i.kind == "condition").count();
        assert!(conds >= 1 && ex.items.iter().filter(|i| i.kind == "condition").all(|i| i.get("name").is_some_and(|v| v.value == "hypertension")));
        assert!(ex.items.iter().any(|i| i.kind == "allergy" || i.kind == "immunization"), "blueprint lists kept");
    }

    #[test]
    fn long_sections_are_sent_in_chunks_under_the_limit() {
        let lines: Vec<String> = (0..3000).map(|i| format!("line {i} with some words")).collect();
        let c = chunks(&lines);
        assert!(c.len() >= 3);
        assert!(c.iter().all(|t| t.chars().count() <= MAX_CHARS));
        assert_eq!(c.iter().map(|t| t.lines().count()).sum::<usize>(), 3000);
    }
}
