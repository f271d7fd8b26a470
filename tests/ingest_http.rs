//! `$ingest-document` over HTTP: a text-layer PDF becomes coded resources in one
//! transaction; the same document twice writes nothing new; bad documents get a 4xx
//! OperationOutcome and nothing is written.
mod common;

use common::TestServer;
use reqwest::Method;
use serde_json::Value;

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/bench/ingest/corpus/{name}", env!("CARGO_MANIFEST_DIR"))).expect("corpus file")
}

async fn post_doc(s: &TestServer, path: &str, ct: &str, body: Vec<u8>) -> common::Resp {
    s.send(s.req(Method::POST, path).header("content-type", ct).body(body)).await
}

async fn total(s: &TestServer, query: &str) -> u64 {
    let r = s.get(&format!("{query}{}_summary=count", if query.contains('?') { "&" } else { "?" })).await;
    r.expect(200, query);
    r.json()["total"].as_u64().unwrap_or(0)
}

fn param<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["parameter"].as_array().and_then(|ps| ps.iter().find(|x| x["name"] == name)).map(|x| &x["resource"]).unwrap_or(&Value::Null)
}

/// A PDF made of the given objects (1 is the catalog), with a correct xref table.
fn pdf(objects: &[&str], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

#[tokio::test]
async fn a_text_pdf_becomes_coded_resources_once() {
    let s = TestServer::start();
    let doc = corpus("000-clinic.pdf");
    let truth: Value = serde_json::from_slice(&corpus("000-clinic.truth.json")).expect("truth");
    let r = post_doc(&s, "/$ingest-document", "application/pdf", doc.clone()).await;
    r.expect(200, "ingest");
    let p = r.json();
    assert_eq!(p["resourceType"], "Parameters");
    assert_eq!(param(&p, "outcome")["resourceType"], "OperationOutcome");
    let tr = param(&p, "transaction");
    assert_eq!(tr["type"], "transaction-response");
    let created = tr["entry"].as_array().expect("entries").iter().filter(|e| e["response"]["status"].as_str().is_some_and(|x| x.starts_with("201"))).count();
    assert!(created >= 10, "only {created} resources created: {tr}");
    // every extracted value is reported with a confidence in [0, 1]
    let fields: Vec<&Value> = p["parameter"].as_array().expect("params").iter().filter(|x| x["name"] == "field").collect();
    assert!(fields.len() > 30);
    for f in &fields {
        let c = f["part"][2]["valueDecimal"].as_f64().expect("confidence");
        assert!((0.0..=1.0).contains(&c));
    }
    // the patient, found by its MRN
    let mrn = truth["fields"]["patient.mrn"].as_str().expect("mrn");
    let pats = s.get(&format!("/Patient?identifier=urn:hearth:ingest:mrn|{mrn}")).await.json();
    assert_eq!(pats["total"], 1, "{pats}");
    let patient = &pats["entry"][0]["resource"];
    assert_eq!(patient["birthDate"], truth["fields"]["patient.birthDate"]);
    assert!(patient["extension"][0]["valueDecimal"].as_f64().is_some(), "confidence extension: {patient}");
    let pid = patient["id"].as_str().expect("id").to_string();
    // vital signs with LOINC + UCUM
    let hr = s.get(&format!("/Observation?subject=Patient/{pid}&code=http://loinc.org|8867-4")).await.json();
    assert_eq!(hr["total"], 1, "{hr}");
    let q = &hr["entry"][0]["resource"]["valueQuantity"];
    assert_eq!(q["system"], "http://unitsofmeasure.org");
    assert_eq!(q["value"].to_string(), truth["fields"]["vitals.heartRate"].as_str().expect("hr"));
    // insurance, emergency contact, family history, social history, assessment and plan
    let f = &truth["fields"];
    let cov = s.get(&format!("/Coverage?beneficiary=Patient/{pid}")).await.json();
    assert_eq!(cov["total"], 1, "{cov}");
    assert_eq!(cov["entry"][0]["resource"]["subscriberId"], f["coverage.memberId"]);
    assert_eq!(cov["entry"][0]["resource"]["payor"][0]["display"], f["coverage.payer"]);
    let ec = f["patient.emergencyContact"].as_str().expect("contact");
    let phone = &patient["contact"][0]["telecom"][0]["value"];
    assert!(phone.as_str().is_some_and(|p| ec.ends_with(p)), "{}", patient["contact"]);
    let fam = truth["items"]["familyHistory"].as_array().expect("family").len() as u64;
    assert_eq!(total(&s, &format!("/FamilyMemberHistory?patient=Patient/{pid}")).await, fam);
    // family conditions are coded like the patient's (ICD-10-CM only where the term maps)
    let icd = hearth::ingest::icd10cm::Icd10Cm::shipped();
    let fmh = s.get(&format!("/FamilyMemberHistory?patient=Patient/{pid}")).await.json();
    for e in fmh["entry"].as_array().into_iter().flatten() {
        let code = &e["resource"]["condition"][0]["code"];
        let text = code["text"].as_str().expect("text");
        let icd_code = code["coding"].as_array().into_iter().flatten().find(|c| c["system"] == "http://hl7.org/fhir/sid/icd-10-cm").map(|c| c["code"].clone());
        assert_eq!(icd_code.as_ref().and_then(|c| c.as_str()), icd.lookup(text).map(|(k, _)| k), "{text}");
    }
    let alcohol = s.get(&format!("/Observation?subject=Patient/{pid}&category=social-history&_count=10")).await.json();
    assert!(alcohol["entry"].as_array().into_iter().flatten().any(|e| e["resource"]["valueString"] == f["social.alcohol"] || e["resource"]["valueCodeableConcept"]["text"] == f["social.alcohol"]), "{alcohol}");
    let ci = s.get(&format!("/ClinicalImpression?subject=Patient/{pid}")).await.json();
    assert_eq!(ci["entry"][0]["resource"]["summary"], f["plan.assessment"], "{ci}");
    let cp = s.get(&format!("/CarePlan?subject=Patient/{pid}")).await.json();
    assert_eq!(cp["entry"][0]["resource"]["activity"][0]["detail"]["description"], f["plan.followUp"], "{cp}");
    let meds = s.get(&format!("/MedicationStatement?subject=Patient/{pid}&_count=50")).await.json();
    let routes = truth["items"]["medication"].as_array().expect("meds").iter().filter(|m| m["route"].is_string()).count();
    let with_dosage = meds["entry"].as_array().into_iter().flatten().filter(|e| e["resource"]["dosage"][0]["text"].is_string()).count();
    assert_eq!(with_dosage, routes, "{meds}");
    // the original document, stored and pointed at
    let docs = s.get(&format!("/DocumentReference?subject=Patient/{pid}")).await.json();
    assert_eq!(docs["total"], 1);
    let url = docs["entry"][0]["resource"]["content"][0]["attachment"]["url"].as_str().expect("url").to_string();
    let bin = s.send(s.req(Method::GET, &format!("/{url}")).header("accept", "application/pdf")).await;
    bin.expect(200, "binary");
    assert_eq!(bin.body.as_ref(), doc.as_slice());
    // provenance of every created resource
    assert_eq!(total(&s, &format!("/Provenance?entity={url}")).await, 1);
    // unknown terms are text only: every Condition coding is SNOMED CT or ICD-10-CM from the
    // shipped subsets, and the ICD-10-CM code is the one its text maps to
    let conds = s.get(&format!("/Condition?subject=Patient/{pid}&_count=100")).await.json();
    let mut icd_coded = 0;
    for e in conds["entry"].as_array().into_iter().flatten() {
        let code = &e["resource"]["code"];
        let text = code["text"].as_str().expect("code.text");
        for c in code["coding"].as_array().into_iter().flatten() {
            match c["system"].as_str() {
                Some("http://snomed.info/sct") => {}
                Some("http://hl7.org/fhir/sid/icd-10-cm") => {
                    icd_coded += 1;
                    assert_eq!(icd.lookup(text).map(|(k, _)| k), c["code"].as_str(), "{text}");
                }
                other => panic!("unexpected coding system {other:?} on {text}"),
            }
        }
    }
    assert!(icd_coded >= 2, "conditions with ICD-10-CM codes: {icd_coded}: {conds}");
    // the same document again: nothing new
    let before = s.system_history_count().await;
    let obs_before = total(&s, "/Observation").await;
    let r2 = post_doc(&s, "/$ingest-document", "application/pdf", doc).await;
    r2.expect(200, "second ingest");
    assert_eq!(total(&s, "/Observation").await, obs_before);
    assert_eq!(total(&s, "/Patient").await, 1);
    assert_eq!(s.system_history_count().await, before, "a second ingestion wrote new versions");
}

#[tokio::test]
async fn attach_to_a_known_patient() {
    let s = TestServer::start();
    let r = s.post_json("/Patient", &serde_json::json!({"resourceType": "Patient", "name": [{"family": "Known"}]})).await;
    r.expect(201, "create patient");
    let loc = r.header("location").expect("location");
    let id = loc.split("/Patient/").nth(1).and_then(|x| x.split('/').next()).expect("id").to_string();
    let r = post_doc(&s, &format!("/Patient/{id}/$ingest-document"), "application/pdf", corpus("001-summary.pdf")).await;
    r.expect(200, "ingest into a known patient");
    assert_eq!(total(&s, "/Patient").await, 1, "no second patient");
    assert!(total(&s, &format!("/Observation?subject=Patient/{id}")).await > 3);
    let r = post_doc(&s, "/Patient/nobody/$ingest-document", "application/pdf", corpus("001-summary.pdf")).await;
    r.expect(404, "unknown patient");
}

#[tokio::test]
async fn bad_documents_get_4xx_and_nothing_is_written() {
    let s = TestServer::start_with_args(&["--ingest-max-pages", "1"]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("text/plain", b"hello".to_vec(), 415, "not a document"),
        ("image/png", b"\x89PNG\r\n".to_vec(), 422, "truncated image"),
        ("image/png", [b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice(), &100_000u32.to_be_bytes(), &100_000u32.to_be_bytes()].concat(), 413, "image bomb"),
        ("application/pdf", b"hello, not a pdf".to_vec(), 422, "not a PDF"),
        ("application/pdf", b"%PDF-1.4\n1 0 obj garbage".to_vec(), 422, "corrupt PDF"),
        ("application/pdf", pdf(&["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"], ""), 422, "zero pages"),
        (
            "application/pdf",
            pdf(
                &["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
                  "<< /Filter /Standard /V 1 /R 2 /Length 40 /O <0000000000000000000000000000000000000000000000000000000000000000> /U <0000000000000000000000000000000000000000000000000000000000000000> /P -4 >>"],
                "/Encrypt 4 0 R /ID [<01020304050607080910111213141516> <01020304050607080910111213141516>] ",
            ),
            422,
            "encrypted",
        ),
        ("application/pdf", corpus("000-clinic.pdf"), 413, "more pages than the limit"),
        ("application/pdf", Vec::new(), 400, "empty body"),
    ];
    for (ct, body, status, what) in cases {
        let r = post_doc(&s, "/$ingest-document", ct, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.json()["resourceType"], "OperationOutcome", "{what}");
    }
    assert_eq!(s.system_history_count().await, 0, "something was written");
}

#[tokio::test]
async fn respond_async_gives_a_status_url_with_the_result() {
    let s = TestServer::start();
    let r = s.send(s.req(Method::POST, "/$ingest-document").header("content-type", "application/pdf").header("prefer", "respond-async").body(corpus("002-discharge.pdf"))).await;
    r.expect(202, "async ingest");
    let status_url = r.header("content-location").expect("Content-Location");
    assert!(status_url.contains("/$ingest-status/"), "{status_url}");
    let mut last = 0;
    for _ in 0..200 {
        let st = s.send(s.client.get(&status_url)).await;
        last = st.status;
        if st.status == 200 {
            let p = st.json();
            assert_eq!(p["resourceType"], "Parameters");
            assert_eq!(param(&p, "transaction")["type"], "transaction-response");
            assert_eq!(total(&s, "/Patient").await, 1);
            return;
        }
        assert_eq!(st.status, 202, "{}", st.text());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the job did not finish (last status {last})");
}

/// A scanned (image-only) PDF goes through OCR (needs tesseract and pdftoppm; scripts/test.sh
/// installs them; outside CI the test says so and stops when they are missing).
#[tokio::test]
async fn a_scanned_pdf_is_read_by_ocr_into_a_known_patient() {
    if hearth::ingest::ocr::TesseractOcr::detect().is_none() {
        assert!(std::env::var("CI").is_err(), "tesseract/pdftoppm missing in CI");
        eprintln!("SKIPPED: tesseract or pdftoppm is not installed");
        return;
    }
    let s = TestServer::start();
    s.put_json("/Patient/scan1", &serde_json::json!({"resourceType": "Patient", "id": "scan1"})).await.expect(201, "patient");
    let doc = std::fs::read(format!("{}/bench/ingest/scans/004-summary-scan.pdf", env!("CARGO_MANIFEST_DIR"))).expect("scan");
    let r = post_doc(&s, "/Patient/scan1/$ingest-document", "application/pdf", doc).await;
    r.expect(200, "scan ingest");
    let p = r.json();
    let outcome = param(&p, "outcome");
    assert!(outcome["issue"][0]["diagnostics"].as_str().is_some_and(|d| d.contains("Ocr")), "{outcome}");
    // low-confidence OCR values are kept, flagged and listed as warnings (default: flag)
    assert!(outcome["issue"].as_array().is_some_and(|i| i.iter().any(|x| x["severity"] == "warning")));
    assert!(total(&s, "/Observation?subject=Patient/scan1").await >= 5);
    assert_eq!(total(&s, "/Patient").await, 1);
}

#[tokio::test]
async fn an_async_result_outlives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = TestServer::start_in(dir.path());
    let r = s.send(s.req(Method::POST, "/$ingest-document").header("content-type", "application/pdf").header("prefer", "respond-async").body(corpus("001-summary.pdf"))).await;
    r.expect(202, "async ingest");
    let url = r.header("content-location").expect("Content-Location");
    let path = url.split("/fhir").nth(1).expect("path under the base").to_string();
    let mut first = None;
    for _ in 0..200 {
        let st = s.get(&path).await;
        if st.status == 200 {
            first = Some(st.json());
            break;
        }
        assert_eq!(st.status, 202, "{}", st.text());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = first.expect("the job finished");
    s.stop();
    let s2 = TestServer::start_in(dir.path());
    let again = s2.get(&path).await;
    again.expect(200, "status after a restart");
    assert_eq!(again.json(), first);
    s2.get("/$ingest-status/00000000-0000-0000-0000-000000000000").await.expect(404, "unknown job");
    s2.get("/$ingest-status/..%2F..%2Fhearth.db").await.expect(404, "not a job id");
}
