//! The transaction Bundle built from an extraction: conditional creates keyed on the
//! document's SHA-256 make a second ingestion of the same document write nothing new.
use serde_json::{json, Map, Value};

use super::blueprint::Blueprint;
use super::extract::{Extraction, Item, Value as Field};
use super::terminology::{Coder, LOINC, SNOMED};
use super::{LowConfidence, Settings};
use crate::fhir::outcome::{Issue, Severity};

mod plan;

pub const EXT_CONFIDENCE: &str = "http://hearth.dev/fhir/StructureDefinition/ingest-confidence";
pub const EXT_FIELD: &str = "http://hearth.dev/fhir/StructureDefinition/ingest-field";
pub const INGEST_SYSTEM: &str = "urn:hearth:ingest";
pub const MRN_SYSTEM: &str = "urn:hearth:ingest:mrn";
const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
const UCUM: &str = "http://unitsofmeasure.org";

pub struct Input<'a> {
    pub ex: &'a Extraction,
    pub sha256: &'a str,
    pub content_type: &'a str,
    /// The original as base64; `None` when `Binary/{sha256}` is already stored.
    pub data_base64: Option<String>,
    pub size: usize,
    /// `Patient/id` when the document is attached to a known patient.
    pub patient: Option<String>,
    pub now: String,
    pub settings: &'a Settings,
    pub coder: &'a dyn Coder,
    pub blueprint: &'a Blueprint,
    /// The store answers conditional criteria on `identifier` and `_id` only (AWS): the
    /// Organization and a patient known by name and birth date are then matched through
    /// identifiers derived from them, and the Provenance is written under a fixed id.
    pub identifier_criteria_only: bool,
    /// `Provenance/{provenance_id}` is already stored (read by the caller when
    /// `identifier_criteria_only`): the document was ingested before.
    pub provenance_stored: bool,
}

/// The fixed id of a document's Provenance where it cannot be created conditionally.
pub fn provenance_id(sha256: &str) -> String {
    format!("ingest-{}", &sha256[..sha256.len().min(40)])
}

pub struct Built {
    pub bundle: Value,
    pub warnings: Vec<Issue>,
}

/// A decimal JSON number with two places (serde_json keeps the text).
pub fn dec(x: f32) -> Value {
    serde_json::from_str(&format!("{:.2}", x.clamp(0.0, 1.0))).unwrap_or(Value::Null)
}

fn num(s: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(s).ok()?;
    v.is_number().then_some(v)
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

struct Builder<'a> {
    inp: &'a Input<'a>,
    entries: Vec<Value>,
    warnings: Vec<Issue>,
    targets: Vec<String>,
    n: usize,
}

impl<'a> Builder<'a> {
    /// Whether a value is kept; a low one is reported (and dropped under `omit`).
    fn keep(&mut self, f: &Field, path: &str) -> bool {
        if f.confidence >= self.inp.settings.min_confidence {
            return true;
        }
        let omit = self.inp.settings.low_confidence == LowConfidence::Omit;
        self.warnings.push(Issue {
            severity: Severity::Warning,
            code: "incomplete",
            diagnostics: format!(
                "{} on page {} has confidence {:.2} (below {:.2}); {}",
                f.key,
                f.page,
                f.confidence,
                self.inp.settings.min_confidence,
                if omit { "left out" } else { "kept and flagged" }
            ),
            expression: path.to_string(),
        });
        !omit
    }

    fn get(&mut self, key: &str, path: &str) -> Option<Field> {
        let f = self.inp.ex.field(key)?.clone();
        self.keep(&f, path).then_some(f)
    }

    fn field_ext(path: &str, f: &Field, min: f32) -> Value {
        let mut parts = vec![json!({"url": "path", "valueString": path}), json!({"url": "confidence", "valueDecimal": dec(f.confidence)})];
        if f.confidence < min {
            parts.push(json!({"url": "lowConfidence", "valueBoolean": true}));
        }
        json!({"url": EXT_FIELD, "extension": parts})
    }

    /// Adds a POST entry with the confidence extensions; returns its fullUrl.
    fn add(&mut self, mut r: Value, used: &[(&str, &Field)], if_none_exist: Option<String>, target: bool) -> String {
        let rtype = r["resourceType"].as_str().unwrap_or("Basic").to_string();
        let full = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        if !used.is_empty() {
            let min = self.inp.settings.min_confidence;
            let mut ext: Vec<Value> = vec![json!({"url": EXT_CONFIDENCE, "valueDecimal": dec(used.iter().map(|(_, f)| f.confidence).fold(1.0, f32::min))})];
            ext.extend(used.iter().map(|(p, f)| Self::field_ext(p, f, min)));
            if let Some(o) = r.as_object_mut() {
                o.insert("extension".into(), Value::Array(ext));
            }
        }
        let mut request = Map::new();
        request.insert("method".into(), json!("POST"));
        request.insert("url".into(), json!(rtype));
        if let Some(q) = if_none_exist {
            request.insert("ifNoneExist".into(), json!(q));
        }
        self.entries.push(json!({"fullUrl": full, "resource": r, "request": Value::Object(request)}));
        if target {
            self.targets.push(full.clone());
        }
        full
    }

    fn ingest_id(&mut self, what: &str) -> (Value, String) {
        Self::identifier(format!("{}-{what}", self.inp.sha256))
    }

    /// An `INGEST_SYSTEM` identifier and the conditional criteria finding it.
    fn identifier(value: String) -> (Value, String) {
        (json!([{"system": INGEST_SYSTEM, "value": value}]), query(&[("identifier", &format!("{INGEST_SYSTEM}|{value}"))]))
    }

    /// An identifier standing for what identifies a resource across documents (e.g. an
    /// organisation's name): lower-case letters and digits joined by `-`.
    fn derived_id(what: &str, parts: &[&str]) -> (Value, String) {
        let words: Vec<String> = parts.iter().flat_map(|p| p.split(|c: char| !c.is_alphanumeric())).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        Self::identifier(format!("{what}-{}", words.join("-")))
    }

    /// Adds a PUT of `rtype/id` (created with that id, or replaced); returns its fullUrl.
    fn put(&mut self, mut r: Value, id: &str) -> String {
        r["id"] = json!(id);
        let url = format!("{}/{id}", r["resourceType"].as_str().unwrap_or("Basic"));
        let full = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        self.entries.push(json!({"fullUrl": full, "resource": r, "request": {"method": "PUT", "url": url}}));
        full
    }

    fn code(&self, terminology: &str, text: &str, fixed: Option<&str>) -> Value {
        let coder = self.inp.coder;
        // `terminology` may name several (e.g. "snomed icd10cm"): one coding from each that knows the term.
        let codings: Vec<Value> = match fixed {
            Some(code) if coder.has(terminology, code) => vec![json!({"system": LOINC, "code": code})],
            Some(_) => Vec::new(),
            None => terminology.split_whitespace().filter_map(|t| coder.code(t, text)).map(|c| json!({"system": c.system, "code": c.code, "display": c.display})).collect(),
        };
        if codings.is_empty() {
            json!({"text": text})
        } else {
            json!({"coding": codings, "text": text})
        }
    }
}

fn split_name(full: &str) -> Value {
    let mut words: Vec<&str> = full.split_whitespace().collect();
    let prefix: Vec<&str> = words.iter().take_while(|w| ["dr.", "dr", "mr.", "mrs.", "ms."].contains(&w.to_lowercase().as_str())).copied().collect();
    words.drain(..prefix.len());
    let mut n = Map::new();
    n.insert("text".into(), json!(full));
    if let Some(family) = words.pop() {
        n.insert("family".into(), json!(family));
    }
    if !words.is_empty() {
        n.insert("given".into(), json!(words));
    }
    if !prefix.is_empty() {
        n.insert("prefix".into(), json!(prefix));
    }
    Value::Object(n)
}

fn marital(v: &str) -> Value {
    let code = match v {
        "married" => Some("M"),
        "never married" | "single" | "unmarried" => Some("S"),
        "divorced" => Some("D"),
        "widowed" => Some("W"),
        "separated" => Some("L"),
        "domestic partner" => Some("T"),
        _ => None,
    };
    match code {
        Some(c) => json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": c}], "text": v}),
        None => json!({"text": v}),
    }
}

pub fn build(inp: &Input) -> Result<Built, String> {
    let mut b = Builder { inp, entries: Vec::new(), warnings: Vec::new(), targets: Vec::new(), n: 0 };
    let sha = inp.sha256;
    // The original document, stored once under its hash.
    if let Some(data) = &inp.data_base64 {
        b.entries.push(json!({
            "resource": {"resourceType": "Binary", "id": sha, "contentType": inp.content_type, "data": data},
            "request": {"method": "PUT", "url": format!("Binary/{sha}")}
        }));
    }
    // Patient: the one named in the URL, or matched by MRN, or by name + birth date.
    let patient = match &inp.patient {
        Some(p) => p.clone(),
        None => patient(&mut b)?,
    };
    let subject = json!({"reference": patient});
    let enc_date = b.get("encounter.date", "Encounter.period.start");
    // Practitioner and Organization
    let attending = b.get("encounter.attending", "Encounter.participant");
    let npi = b.get("encounter.npi", "Practitioner.identifier");
    let practitioner = attending.as_ref().map(|a| {
        let mut r = json!({"resourceType": "Practitioner", "name": [split_name(&a.value)]});
        let mut used = vec![("Practitioner.name", a)];
        let cond = match &npi {
            Some(n) => {
                r["identifier"] = json!([{"system": NPI, "value": n.value}]);
                used.push(("Practitioner.identifier", n));
                query(&[("identifier", &format!("{NPI}|{}", n.value))])
            }
            None => {
                let (id, q) = b.ingest_id("practitioner");
                r["identifier"] = id;
                q
            }
        };
        b.add(r, &used, Some(cond), true)
    });
    let facility = b.get("encounter.facility", "Encounter.serviceProvider");
    let org = facility.as_ref().map(|f| {
        let mut r = json!({"resourceType": "Organization", "name": f.value});
        let cond = if b.inp.identifier_criteria_only {
            let (id, q) = Builder::derived_id("organization", &[&f.value]);
            r["identifier"] = id;
            q
        } else {
            query(&[("name:exact", &f.value)])
        };
        b.add(r, &[("Organization.name", f)], Some(cond), true)
    });
    // Encounter
    let mut encounter = None;
    if enc_date.is_some() || b.inp.ex.field("encounter.type").is_some() {
        let (id, q) = b.ingest_id("encounter");
        let mut r = json!({"resourceType": "Encounter", "identifier": id, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"}, "subject": subject});
        let mut used = Vec::new();
        let t = b.get("encounter.type", "Encounter.type");
        let reason = b.get("encounter.reason", "Encounter.reasonCode");
        let end = b.get("encounter.dischargeDate", "Encounter.period.end");
        let disp = b.get("encounter.disposition", "Encounter.hospitalization.dischargeDisposition");
        if let Some(t) = &t {
            r["type"] = json!([{"text": t.value}]);
            used.push(("Encounter.type", t));
        }
        let mut period = Map::new();
        if let Some(d) = &enc_date {
            period.insert("start".into(), json!(d.value));
            used.push(("Encounter.period.start", d));
        }
        if let Some(d) = &end {
            if enc_date.as_ref().is_none_or(|s| s.value <= d.value) {
                period.insert("end".into(), json!(d.value));
                used.push(("Encounter.period.end", d));
            }
        }
        if !period.is_empty() {
            r["period"] = Value::Object(period);
        }
        if let Some(p) = &practitioner {
            r["participant"] = json!([{"individual": {"reference": p}}]);
        }
        if let Some(o) = &org {
            r["serviceProvider"] = json!({"reference": o});
        }
        if let Some(x) = &reason {
            r["reasonCode"] = json!([{"text": x.value}]);
            used.push(("Encounter.reasonCode", x));
        }
        if let Some(x) = &disp {
            r["hospitalization"] = json!({"dischargeDisposition": {"text": x.value}});
            used.push(("Encounter.hospitalization", x));
        }
        encounter = Some(b.add(r, &used, Some(q), true));
    }
    let enc_ref = encounter.as_ref().map(|e| json!({"reference": e}));
    let when = enc_date.as_ref().map(|d| d.value.clone());
    vitals(&mut b, &subject, enc_ref.as_ref(), when.as_deref());
    let items: Vec<Item> = inp.ex.items.clone();
    for (i, item) in items.iter().enumerate() {
        list_item(&mut b, i, item, &subject, enc_ref.as_ref(), when.as_deref());
    }
    coverage(&mut b, &subject);
    plan::assessment_and_plan(&mut b, &subject, enc_ref.as_ref(), when.as_deref());
    // DocumentReference and Provenance
    let (id, q) = b.ingest_id("document");
    let mut doc = json!({"resourceType": "DocumentReference", "status": "current",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:sha256:{sha}")}, "identifier": id,
        "subject": subject, "date": inp.now,
        "content": [{"attachment": {"contentType": inp.content_type, "url": format!("Binary/{sha}"), "size": inp.size}}]});
    let mut used = Vec::new();
    let dtype = b.get("document.type", "DocumentReference.type");
    let ddate = b.get("document.date", "DocumentReference.content.attachment.creation");
    if let Some(t) = &dtype {
        doc["type"] = b.code("loinc", &t.value, None);
        doc["content"][0]["attachment"]["title"] = json!(t.value);
        used.push(("DocumentReference.type", t));
    }
    if let Some(d) = &ddate {
        doc["content"][0]["attachment"]["creation"] = json!(d.value);
        used.push(("DocumentReference.content.attachment.creation", d));
    }
    if let Some(p) = &practitioner {
        doc["author"] = json!([{"reference": p}]);
    }
    if let Some(e) = &encounter {
        doc["context"] = json!({"encounter": [{"reference": e}]});
    }
    let doc_url = b.add(doc, &used, Some(q), true);
    let mut targets: Vec<Value> = b.targets.iter().map(|t| json!({"reference": t})).collect();
    if inp.patient.is_none() {
        targets.push(json!({"reference": patient}));
    }
    let prov = json!({"resourceType": "Provenance", "target": targets, "recorded": inp.now,
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE"}], "text": "$ingest-document"},
        "agent": [{"who": {"display": "Hearth $ingest-document"}}],
        "entity": [{"role": "source", "what": {"reference": format!("Binary/{sha}")}}, {"role": "source", "what": {"reference": doc_url}}]});
    if b.inp.identifier_criteria_only {
        // Provenance has no identifier: one id per document, written once.
        if !b.inp.provenance_stored {
            b.put(prov, &provenance_id(sha));
        }
    } else {
        let q = query(&[("entity", &format!("Binary/{sha}"))]);
        b.add(prov, &[], Some(q), false);
    }
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": b.entries});
    Ok(Built { bundle, warnings: b.warnings })
}

fn patient(b: &mut Builder) -> Result<String, String> {
    let name = b.get("patient.name", "Patient.name");
    let dob = b.get("patient.birthDate", "Patient.birthDate");
    let mrn = b.get("patient.mrn", "Patient.identifier");
    let mut r = json!({"resourceType": "Patient"});
    let mut used = Vec::new();
    if let Some(n) = &name {
        r["name"] = json!([split_name(&n.value)]);
        used.push(("Patient.name", n));
    }
    if let Some(d) = &dob {
        r["birthDate"] = json!(d.value);
        used.push(("Patient.birthDate", d));
    }
    // Matching needs a confident identity: an MRN, or a name with a birth date.
    let min = b.inp.settings.min_confidence;
    let cond = match (&mrn, &name, &dob) {
        (Some(m), _, _) if m.confidence >= min => {
            r["identifier"] = json!([{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}, "system": MRN_SYSTEM, "value": m.value}]);
            used.push(("Patient.identifier", m));
            query(&[("identifier", &format!("{MRN_SYSTEM}|{}", m.value))])
        }
        (_, Some(n), Some(d)) if n.confidence >= min && d.confidence >= min => {
            let nm = r["name"][0].clone();
            let family = nm["family"].as_str().unwrap_or_default().to_string();
            let given = nm["given"][0].as_str().unwrap_or_default().to_string();
            if b.inp.identifier_criteria_only {
                let (id, q) = Builder::derived_id("patient", &[&family, &given, &d.value]);
                r["identifier"] = id;
                q
            } else {
                query(&[("family", &family), ("given", &given), ("birthdate", &d.value)])
            }
        }
        _ => return Err("the document does not identify its patient confidently (an MRN, or a name with a birth date); post it to Patient/[id]/$ingest-document".into()),
    };
    let gender = b.get("patient.gender", "Patient.gender");
    if let Some(g) = gender.as_ref().filter(|g| ["male", "female", "other", "unknown"].contains(&g.value.as_str())) {
        r["gender"] = json!(g.value);
        used.push(("Patient.gender", g));
    }
    let addr = b.get("patient.address", "Patient.address");
    if let Some(a) = &addr {
        r["address"] = json!([{"text": a.value}]);
        used.push(("Patient.address", a));
    }
    let mut telecom = Vec::new();
    let phone = b.get("patient.phone", "Patient.telecom");
    let email = b.get("patient.email", "Patient.telecom");
    if let Some(p) = &phone {
        telecom.push(json!({"system": "phone", "value": p.value}));
        used.push(("Patient.telecom", p));
    }
    if let Some(e) = &email {
        telecom.push(json!({"system": "email", "value": e.value}));
        used.push(("Patient.telecom", e));
    }
    if !telecom.is_empty() {
        r["telecom"] = Value::Array(telecom);
    }
    let ms = b.get("patient.maritalStatus", "Patient.maritalStatus");
    if let Some(m) = &ms {
        r["maritalStatus"] = marital(&m.value);
        used.push(("Patient.maritalStatus", m));
    }
    let lang = b.get("patient.language", "Patient.communication");
    if let Some(l) = &lang {
        r["communication"] = json!([{"language": {"text": l.value}}]);
        used.push(("Patient.communication", l));
    }
    let ec = b.get("patient.emergencyContact", "Patient.contact");
    if let Some(c) = &ec {
        r["contact"] = contact(&c.value);
        used.push(("Patient.contact", c));
    }
    Ok(b.add(r, &used, Some(cond), false))
}

/// An emergency contact as printed ("Maria Rempel (Spouse) 555-201-3344"): name,
/// relationship in parentheses and a phone number when present.
fn contact(text: &str) -> Value {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"^(?P<name>[^()]+?)\s*(?:\((?P<rel>[^()]+)\))?\s*(?P<phone>\+?[\d(][\d ()./-]{6,}\d)?$").ok());
    let mut rel = vec![json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}], "text": "emergency contact"})];
    let mut c = json!({"name": {"text": text}});
    if let Some(m) = re.as_ref().and_then(|r| r.captures(text.trim())) {
        if let Some(n) = m.name("name") {
            c["name"] = json!({"text": n.as_str().trim()});
        }
        if let Some(r) = m.name("rel") {
            rel.push(json!({"text": r.as_str().trim()}));
        }
        if let Some(p) = m.name("phone") {
            c["telecom"] = json!([{"system": "phone", "value": p.as_str().trim()}]);
        }
    }
    c["relationship"] = Value::Array(rel);
    json!([c])
}

fn obs_base(b: &mut Builder, key: &str, category: &str, code: Value, subject: &Value, enc: Option<&Value>, when: Option<&str>) -> Value {
    let (id, _) = b.ingest_id(key);
    let mut r = json!({"resourceType": "Observation", "identifier": id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
        "code": code, "subject": subject});
    if let Some(e) = enc {
        r["encounter"] = e.clone();
    }
    if let Some(w) = when {
        r["effectiveDateTime"] = json!(w);
    }
    r
}

fn quantity(b: &Builder, value: &str, unit: &str) -> Option<Value> {
    let v = num(value)?;
    let mut q = json!({"value": v, "unit": unit});
    if let Some(code) = b.inp.blueprint.ucum(unit) {
        q["system"] = json!(UCUM);
        q["code"] = json!(code);
    }
    Some(q)
}

fn vitals(b: &mut Builder, subject: &Value, enc: Option<&Value>, when: Option<&str>) {
    let defs: Vec<_> = b.inp.blueprint.fields.iter().filter(|f| f.section == "vitals" || f.section == "social").cloned().collect();
    for f in defs {
        if f.normaliser == "bp" {
            let (Some(s), Some(d)) = (b.get("vitals.systolic", "Observation.component"), b.get("vitals.diastolic", "Observation.component")) else { continue };
            let code = b.code("loinc", "Blood pressure", f.loinc.as_deref());
            let (id, q) = b.ingest_id("vitals.bp");
            let mut r = obs_base(b, "vitals.bp", "vital-signs", code, subject, enc, when);
            r["identifier"] = id;
            let comp = |b: &Builder, code: &str, text: &str, v: &Field| {
                json!({"code": b.code("loinc", text, Some(code)), "valueQuantity": quantity(b, &v.value, "mmHg").unwrap_or(Value::Null)})
            };
            r["component"] = json!([comp(b, "8480-6", "Systolic blood pressure", &s), comp(b, "8462-4", "Diastolic blood pressure", &d)]);
            b.add(r, &[("Observation.component[0].valueQuantity", &s), ("Observation.component[1].valueQuantity", &d)], Some(q), true);
            continue;
        }
        let Some(v) = b.get(&f.key, "Observation.value") else { continue };
        let label = f.cues.first().cloned().unwrap_or_default();
        let code = b.code("loinc", &label, f.loinc.as_deref());
        let category = if f.section == "social" { "social-history" } else { "vital-signs" };
        let (id, q) = b.ingest_id(&f.key);
        let mut r = obs_base(b, &f.key, category, code, subject, enc, when);
        r["identifier"] = id;
        if f.normaliser == "quantity" {
            let unit = f.unit.clone().unwrap_or_default();
            match quantity(b, &v.value, &unit) {
                Some(qv) => r["valueQuantity"] = qv,
                None => continue,
            }
        } else {
            r["valueCodeableConcept"] = json!({"text": v.value});
        }
        b.add(r, &[("Observation.value", &v)], Some(q), true);
    }
}

fn list_item(b: &mut Builder, i: usize, item: &Item, subject: &Value, enc: Option<&Value>, when: Option<&str>) {
    let Some(name) = item.get("name").cloned() else { return };
    if !b.keep(&name, &format!("{}[{i}].name", item.kind)) {
        return;
    }
    let key = format!("{}-{i}", item.kind);
    let (id, q) = b.ingest_id(&key);
    let get = |b: &mut Builder, col: &str| item.get(col).cloned().filter(|f| b.keep(f, &format!("{}[{i}].{col}", item.kind)));
    let list = b.inp.blueprint.lists.iter().find(|l| l.kind == item.kind).cloned();
    let terminology = list.as_ref().map(|l| l.terminology.clone()).unwrap_or_default();
    let code = b.code(&terminology, &name.value, None);
    let mut used: Vec<(String, Field)> = vec![("code".into(), name.clone())];
    let r = match item.kind.as_str() {
        "condition" => {
            let mut r = json!({"resourceType": "Condition", "identifier": id, "code": code, "subject": subject});
            if let Some(s) = get(b, "status").filter(|s| ["active", "recurrence", "relapse", "inactive", "remission", "resolved"].contains(&s.value.as_str())) {
                r["clinicalStatus"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": s.value}]});
                used.push(("Condition.clinicalStatus".into(), s));
            }
            if let Some(o) = get(b, "onset") {
                r["onsetDateTime"] = json!(o.value);
                used.push(("Condition.onsetDateTime".into(), o));
            }
            if let Some(e) = enc {
                r["encounter"] = e.clone();
            }
            r
        }
        "medication" => {
            let status = get(b, "status").filter(|s| ["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"].contains(&s.value.as_str()));
            let mut r = json!({"resourceType": "MedicationStatement", "identifier": id, "status": status.as_ref().map(|s| s.value.as_str()).unwrap_or("unknown"),
                "medicationCodeableConcept": code, "subject": subject});
            if let Some(s) = status {
                used.push(("MedicationStatement.status".into(), s));
            }
            if let Some(s) = get(b, "start") {
                r["effectivePeriod"] = json!({"start": s.value});
                used.push(("MedicationStatement.effectivePeriod.start".into(), s));
            }
            let dosage: Vec<String> = ["dose", "route", "frequency"].iter().filter_map(|c| get(b, c)).map(|f| {
                let t = f.value.clone();
                used.push(("MedicationStatement.dosage".into(), f));
                t
            }).collect();
            if !dosage.is_empty() {
                r["dosage"] = json!([{"text": dosage.join(" ")}]);
            }
            r
        }
        "allergy" => {
            let mut r = json!({"resourceType": "AllergyIntolerance", "identifier": id, "code": code, "patient": subject,
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]}});
            if let Some(x) = get(b, "reaction") {
                let mut reaction = json!({"manifestation": [{"text": x.value}]});
                used.push(("AllergyIntolerance.reaction.manifestation".into(), x));
                if let Some(s) = get(b, "severity").filter(|s| ["mild", "moderate", "severe"].contains(&s.value.as_str())) {
                    reaction["severity"] = json!(s.value);
                    used.push(("AllergyIntolerance.reaction.severity".into(), s));
                }
                r["reaction"] = json!([reaction]);
            }
            r
        }
        "lab" => {
            let date = get(b, "date");
            let mut r = obs_base(b, &key, "laboratory", code, subject, enc, date.as_ref().map(|d| d.value.as_str()).or(when));
            r["identifier"] = id;
            if let Some(d) = date {
                used.push(("Observation.effectiveDateTime".into(), d));
            }
            if let Some(v) = get(b, "value") {
                let unit = get(b, "unit");
                match quantity(b, &v.value, unit.as_ref().map(|u| u.value.as_str()).unwrap_or("")) {
                    Some(mut qv) => {
                        if unit.is_none() {
                            qv.as_object_mut().map(|o| o.remove("unit"));
                        }
                        r["valueQuantity"] = qv;
                    }
                    None => r["valueString"] = json!(v.value),
                }
                used.push(("Observation.value".into(), v));
                if let Some(u) = unit {
                    used.push(("Observation.valueQuantity.unit".into(), u));
                }
            }
            if let Some(rg) = get(b, "range") {
                if let Some((lo, hi)) = rg.value.split_once('-') {
                    if let (Some(l), Some(h)) = (num(lo), num(hi)) {
                        r["referenceRange"] = json!([{"low": {"value": l}, "high": {"value": h}, "text": rg.raw.trim()}]);
                        used.push(("Observation.referenceRange".into(), rg));
                    }
                }
            }
            if let Some(fl) = get(b, "flag") {
                let code = fl.value.to_uppercase();
                if ["H", "L", "HH", "LL", "A", "N"].contains(&code.as_str()) {
                    r["interpretation"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": code}]}]);
                    used.push(("Observation.interpretation".into(), fl));
                }
            }
            r
        }
        "immunization" => {
            let mut r = json!({"resourceType": "Immunization", "identifier": id, "status": "completed", "vaccineCode": code, "patient": subject});
            match get(b, "date") {
                Some(d) => {
                    r["occurrenceDateTime"] = json!(d.value);
                    used.push(("Immunization.occurrenceDateTime".into(), d));
                }
                None => r["occurrenceString"] = json!("not stated in the document"),
            }
            r
        }
        "procedure" => {
            let mut r = json!({"resourceType": "Procedure", "identifier": id, "status": "completed", "code": code, "subject": subject});
            if let Some(d) = get(b, "date") {
                r["performedDateTime"] = json!(d.value);
                used.push(("Procedure.performedDateTime".into(), d));
            }
            r
        }
        "familyHistory" => {
            let rel = get(b, "relationship").map(|f| f.value).unwrap_or_else(|| "family member".into());
            json!({"resourceType": "FamilyMemberHistory", "identifier": id, "status": "completed", "patient": subject,
                "relationship": {"text": rel}, "condition": [{"code": code}]})
        }
        _ => return,
    };
    let used_refs: Vec<(&str, &Field)> = used.iter().map(|(p, f)| (p.as_str(), f)).collect();
    let _ = SNOMED;
    b.n += 1;
    b.add(r, &used_refs, Some(q), true);
}

fn coverage(b: &mut Builder, subject: &Value) {
    let Some(payer) = b.get("coverage.payer", "Coverage.payor") else { return };
    let (id, q) = b.ingest_id("coverage");
    let mut r = json!({"resourceType": "Coverage", "identifier": id, "status": "active", "beneficiary": subject, "payor": [{"display": payer.value}]});
    let mut used = vec![("Coverage.payor", payer.clone())];
    if let Some(m) = b.get("coverage.memberId", "Coverage.subscriberId") {
        r["subscriberId"] = json!(m.value);
        used.push(("Coverage.subscriberId", m));
    }
    if let Some(g) = b.get("coverage.group", "Coverage.class") {
        r["class"] = json!([{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}]}, "value": g.value}]);
        used.push(("Coverage.class", g));
    }
    let refs: Vec<(&str, &Field)> = used.iter().map(|(p, f)| (*p, f)).collect();
    b.add(r, &refs, Some(q), true);
}
