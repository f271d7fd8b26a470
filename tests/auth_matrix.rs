//! Black-box access-control matrix: for each kind of token, a table of cells
//! (method, path, body, headers, expected allow/deny) run against the real binary started
//! with `HEARTH_AUTH=jwt`. Written from the access-control policy, not from the code.
//!
//! Every cell is run and reported; a test fails at the end with the list of failed cells
//! (`[table] cell-name: problem`). Allowed answers are checked for leaks (secret strings of
//! Patient B's data, B's ids in resources, `_hearthBlob`), denied answers for their form
//! (OperationOutcome, WWW-Authenticate on 401, no version headers, nothing leaked), and
//! after every cell of a restricted token the protected data is compared with a snapshot
//! read by a practitioner (byte-identical, same version), and a denial must have written
//! nothing (system history unchanged).
mod auth_support;
mod auth_leaks;
mod auth_matrix_support;
mod common;

use auth_leaks::*;
use auth_matrix_support::*;
use auth_support::*;
use common::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

/// In every resource of Patient A (only used as a marker for the other-tenant tables).
const A_MARK: &str = "Alphason";

/// Everything of Patient A seeded.
const A_IDS: &[&str] = &[
    "Patient/A", "Observation/oA", "Observation/oA-hist", "Observation/oA-upd", "Observation/oA-del",
    "Observation/oA-patch", "Observation/oA-cond", "Condition/cA", "Encounter/eA", "Claim/clA",
];

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

fn ident(v: &str) -> Value {
    json!([{"system": "urn:test", "value": v}])
}

fn mark(p: &str) -> &'static str {
    if p == "A" {
        A_MARK
    } else {
        SECRET
    }
}

fn obs(id: Option<&str>, subject: &str, text: &str) -> Value {
    let mut o = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": text},
        "subject": {"reference": subject}});
    if let Some(id) = id {
        o["id"] = json!(id);
    }
    o
}

fn claim(id: &str, p: &str) -> Value {
    json!({"resourceType": "Claim", "id": id, "identifier": ident(&format!("{}-{id}", mark(p))), "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim", "patient": {"reference": format!("Patient/{p}")}, "created": "2024-01-01",
        "provider": {"display": "Clinic"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "Cover"}}]})
}

/// Seeds the policy's data set with a practitioner token (default tenant).
async fn seed(s: &TestServer, tok: &str) {
    for p in ["A", "B"] {
        let m = mark(p);
        seed_put(s, tok, &format!("/Patient/{p}"), json!({"resourceType": "Patient", "id": p,
            "identifier": ident(&format!("{m}-pat-{p}")), "name": [{"family": format!("{m}-{p}")}]})).await;
        let mut o = obs(Some(format!("o{p}").as_str()), &format!("Patient/{p}"), &format!("{m}-obs"));
        o["identifier"] = ident(&format!("{m}-o{p}"));
        seed_put(s, tok, &format!("/Observation/o{p}"), o).await;
        seed_put(s, tok, &format!("/Condition/c{p}"), json!({"resourceType": "Condition", "id": format!("c{p}"),
            "identifier": ident(&format!("{m}-c{p}")), "code": {"text": format!("{m}-cond")},
            "subject": {"reference": format!("Patient/{p}")}})).await;
        seed_put(s, tok, &format!("/Encounter/e{p}"), json!({"resourceType": "Encounter", "id": format!("e{p}"),
            "identifier": ident(&format!("{m}-e{p}")), "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{p}")}})).await;
        seed_put(s, tok, &format!("/Claim/cl{p}"), claim(&format!("cl{p}"), p)).await;
    }
    seed_put(s, tok, "/List/LB", json!({"resourceType": "List", "id": "LB", "identifier": ident("Bravowitz-LB"),
        "status": "current", "mode": "working", "title": "Bravowitz-list", "subject": {"reference": "Patient/B"},
        "entry": [{"item": {"reference": "Observation/oB"}}]})).await;
    // oA-hist: version 1 belongs to B, version 2 to A.
    let mut v1 = obs(Some("oA-hist"), "Patient/B", "Bravowitz-hist-v1");
    v1["identifier"] = ident("Bravowitz-hist-v1");
    seed_put(s, tok, "/Observation/oA-hist", v1).await;
    let mut v2 = obs(Some("oA-hist"), "Patient/A", "Alphason-hist-v2");
    v2["identifier"] = ident("Alphason-hist-v2");
    seed_put(s, tok, "/Observation/oA-hist", v2).await;
    let r = call(s, Method::GET, "/Observation/oA-hist", Some(tok), None).await;
    assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""), "seed: oA-hist is at version 2: {}", r.text());
    // Targets of the write cells (all A's).
    for id in ["oA-upd", "oA-del", "oA-patch", "oA-cond"] {
        let mut o = obs(Some(id), "Patient/A", &format!("Alphason-{id}"));
        o["identifier"] = ident(&format!("Alphason-{id}"));
        seed_put(s, tok, &format!("/Observation/{id}"), o).await;
    }
}

async fn setup(extra_env: &[(&str, &str)]) -> (TestServer, Jwks, String) {
    let (s, jwks) = start(extra_env).await;
    let prac = practitioner();
    seed(&s, &prac).await;
    (s, jwks, prac)
}

fn confined_policy() -> Policy {
    Policy { markers: vec![SECRET], forbidden: B_IDS.to_vec(), confined_to_a: true }
}

// ---------------------------------------------------------------------------------------
// The cells of the patient-confined tokens (5-8)
// ---------------------------------------------------------------------------------------

fn confined_cells(base: &str, can_write: bool) -> Vec<Cell> {
    use Ent::{Allow as A, Deny as D};
    let w = can_write;
    let mut c = vec![
        // read
        Cell::get("read Patient/A", "/Patient/A").allow(&[200]).contains(&["Patient/A"]),
        Cell::get("read Observation/oA", "/Observation/oA").allow(&[200]).contains(&["Observation/oA"]),
        Cell::get("read Condition/cA", "/Condition/cA").allow(&[200]),
        Cell::get("read Encounter/eA", "/Encounter/eA").allow(&[200]),
        Cell::get("read Claim/clA", "/Claim/clA").allow(&[200]),
        Cell::get("read Observation/oA-hist (current version is A's)", "/Observation/oA-hist").allow(&[200]),
        Cell::get("read Patient/B", "/Patient/B").deny(),
        Cell::get("read Observation/oB", "/Observation/oB").deny(),
        Cell::get("read Condition/cB", "/Condition/cB").deny(),
        Cell::get("read Encounter/eB", "/Encounter/eB").deny(),
        Cell::get("read Claim/clB", "/Claim/clB").deny(),
        Cell::get("read List/LB", "/List/LB").deny(),
        Cell::get("read Observation/oB?x=1", "/Observation/oB?x=1").deny(),
        Cell::get("read absent Observation (no existence leak)", "/Observation/does-not-exist").deny(),
        Cell::get("read absent Patient (no existence leak)", "/Patient/nobody").deny(),
        Cell::new("HEAD Observation/oA (405: no HTTP HEAD at all)", Method::HEAD, "/Observation/oA").status(&[200, 405]),
        Cell::new("HEAD Observation/oB (405: no HTTP HEAD at all)", Method::HEAD, "/Observation/oB").status(&[403, 405]),
        // vread
        Cell::get("vread Observation/oA/_history/1", "/Observation/oA/_history/1").allow(&[200]),
        Cell::get("vread Patient/A/_history/1", "/Patient/A/_history/1").allow(&[200]),
        Cell::get("vread Observation/oB/_history/1", "/Observation/oB/_history/1").deny(),
        Cell::get("vread Patient/B/_history/1", "/Patient/B/_history/1").deny(),
        Cell::get("vread Observation/oA-hist/_history/1 (version 1 was B's)", "/Observation/oA-hist/_history/1").deny(),
        Cell::get("vread Observation/oA-hist/_history/2", "/Observation/oA-hist/_history/2").allow(&[200]),
        // instance history
        Cell::get("history Observation/oA", "/Observation/oA/_history").allow(&[200]),
        Cell::get("history Patient/A", "/Patient/A/_history").allow(&[200]),
        Cell::get("history Observation/oB", "/Observation/oB/_history").deny(),
        Cell::get("history Patient/B", "/Patient/B/_history").deny(),
        Cell::get("history absent Observation", "/Observation/does-not-exist/_history").deny(),
        Cell::get("history Observation/oA-hist (without version 1's body)", "/Observation/oA-hist/_history").allow(&[200]).contains(&["Observation/oA-hist"]),
        // search-type
        Cell::get("search Observation", "/Observation").allow(&[200]).contains(&["Observation/oA", "Observation/oA-hist"]).with(Extra::TotalIsMatches),
        Cell::get("search Observation _total=accurate", "/Observation?_total=accurate").allow(&[200]).with(Extra::TotalIsMatches)
            .with(Extra::TotalAsPractitioner("/Observation?subject=Patient/A&_total=accurate".into())),
        Cell::get("search Observation _summary=count", "/Observation?_summary=count").allow(&[200])
            .with(Extra::TotalAsPractitioner("/Observation?subject=Patient/A&_summary=count".into())),
        Cell::get("search Condition", "/Condition").allow(&[200]).contains(&["Condition/cA"]).with(Extra::TotalIsMatches),
        Cell::get("search Encounter", "/Encounter").allow(&[200]).contains(&["Encounter/eA"]).with(Extra::TotalIsMatches),
        Cell::get("search Claim", "/Claim").allow(&[200]).contains(&["Claim/clA"]).with(Extra::TotalIsMatches),
        Cell::get("search Patient", "/Patient").allow(&[200]).contains(&["Patient/A"]).with(Extra::TotalIsMatches),
        Cell::get("search Patient?_id=A", "/Patient?_id=A").allow(&[200]).contains(&["Patient/A"]).with(Extra::TotalIsMatches),
        Cell::get("search Patient?_id=B (nothing of B)", "/Patient?_id=B").status(&[200, 403]),
        Cell::get("search Observation?subject=Patient/B (nothing of B)", "/Observation?subject=Patient/B").status(&[200, 403]),
        Cell::get("search Observation?_id=oB (nothing of B)", "/Observation?_id=oB").status(&[200, 403]),
        Cell::get("search List (nothing of B)", "/List").status(&[200, 403]),
        Cell::new("HEAD search Observation (405: no HTTP HEAD at all)", Method::HEAD, "/Observation").status(&[200, 405]),
        Cell::new("POST _search Observation", Method::POST, "/Observation/_search").allow(&[200]).contains(&["Observation/oA"]),
        // includes
        Cell::get("search Observation _include=Observation:subject", "/Observation?_include=Observation:subject").allow(&[200]).contains(&["Observation/oA", "Patient/A"]),
        Cell::get("search Observation _include=Observation:*", "/Observation?_include=*").status(&[200, 400]),
        Cell::get("search Patient _revinclude=Observation:subject", "/Patient?_revinclude=Observation:subject").allow(&[200]).contains(&["Patient/A", "Observation/oA"]),
        Cell::get("search Observation _revinclude=List:item", "/Observation?_revinclude=List:item").allow(&[200]).lacks(&["List/LB"]),
        Cell::get("search Claim _include=Claim:patient", "/Claim?_include=Claim:patient").allow(&[200]).contains(&["Claim/clA"]),
        Cell::get("search Patient _revinclude=Condition:subject&_revinclude=Encounter:subject", "/Patient?_revinclude=Condition:subject&_revinclude=Encounter:subject").allow(&[200]),
        // chains, _has, _list
        Cell::get("chain Observation?subject.name=x", "/Observation?subject.name=x").deny(),
        Cell::get("chain Observation?subject:Patient.name=x", "/Observation?subject:Patient.name=x").deny(),
        Cell::get("_has Patient?_has:Observation:subject:code=x", "/Patient?_has:Observation:subject:code=x").deny(),
        Cell::get("_list Observation?_list=LB", "/Observation?_list=LB").deny(),
        // compartment search
        Cell::get("compartment Patient/A/Observation", "/Patient/A/Observation").allow(&[200]).contains(&["Observation/oA"]).with(Extra::TotalIsMatches),
        Cell::get("compartment Patient/A/Claim", "/Patient/A/Claim").allow(&[200]).contains(&["Claim/clA"]),
        Cell::get("compartment Patient/B/Observation", "/Patient/B/Observation").deny(),
        Cell::get("compartment Patient/B/Condition", "/Patient/B/Condition").deny(),
        Cell::get("compartment Patient/B/Observation?x=1", "/Patient/B/Observation?code=8867-4").deny(),
        // system search, history
        Cell::get("system search ?_type=Observation", "/?_type=Observation").allow(&[200]).contains(&["Observation/oA"]),
        Cell::get("system search with no _type", "/").deny(),
        Cell::get("type history Observation/_history", "/Observation/_history").deny(),
        Cell::get("system history /_history", "/_history").deny(),
        // metadata and operations
        Cell::get("GET /metadata", "/metadata").allow(&[200]),
        Cell::new("POST Observation/$validate", Method::POST, "/Observation/$validate").json(obs(None, "Patient/A", "Alphason-validate")).allow(&[200])
            .with(Extra::OnlyTypes(vec!["OperationOutcome"])),
        Cell::new("POST /$reindex", Method::POST, "/$reindex").deny(),
        Cell::new("POST Observation/$reindex", Method::POST, "/Observation/$reindex").deny(),
        // batch
        Cell::new("batch: GET Observation", Method::POST, "").json(bundle("batch", vec![e_get("Observation")])).entries(&[A]).contains(&["Observation/oA"]),
        Cell::new("batch: HEAD Observation (must not return B's)", Method::POST, "").json(bundle("batch", vec![e_head("Observation")])).entries(&[A]),
        Cell::new("batch: HEAD Observation/oB", Method::POST, "").json(bundle("batch", vec![e_head("Observation/oB")])).entries(&[D]),
        Cell::new("batch: GET Observation/oB", Method::POST, "").json(bundle("batch", vec![e_get("Observation/oB")])).entries(&[D]),
        Cell::new("batch: GET absent Observation", Method::POST, "").json(bundle("batch", vec![e_get("Observation/does-not-exist")])).entries(&[D]),
        Cell::new("batch: GET Observation/oA-hist/_history/1", Method::POST, "").json(bundle("batch", vec![e_get("Observation/oA-hist/_history/1")])).entries(&[D]),
        Cell::new("batch: GET Observation/oA-hist/_history", Method::POST, "").json(bundle("batch", vec![e_get("Observation/oA-hist/_history")])).entries(&[A]),
        Cell::new("batch: GET Observation?_include=Observation:subject", Method::POST, "").json(bundle("batch", vec![e_get("Observation?_include=Observation:subject")])).entries(&[A]).contains(&["Patient/A"]),
        Cell::new("batch: GET Patient?_revinclude=Observation:subject", Method::POST, "").json(bundle("batch", vec![e_get("Patient?_revinclude=Observation:subject")])).entries(&[A]),
        Cell::new("batch: GET metadata", Method::POST, "").json(bundle("batch", vec![e_get("metadata")])).entries(&[A]),
        Cell::new("batch: GET Patient/A/Observation", Method::POST, "").json(bundle("batch", vec![e_get("Patient/A/Observation")])).entries(&[A]),
        Cell::new("batch: GET Patient/B/Observation", Method::POST, "").json(bundle("batch", vec![e_get("Patient/B/Observation")])).entries(&[D]),
        Cell::new("batch: GET Observation/_history", Method::POST, "").json(bundle("batch", vec![e_get("Observation/_history")])).entries(&[D]),
        Cell::new("batch: GET _history", Method::POST, "").json(bundle("batch", vec![e_get("_history")])).entries(&[D]),
        Cell::new("batch: GET Observation?subject.name=x", Method::POST, "").json(bundle("batch", vec![e_get("Observation?subject.name=x")])).entries(&[D]),
        Cell::new("batch: GET Patient?_has:Observation:subject:code=x", Method::POST, "").json(bundle("batch", vec![e_get("Patient?_has:Observation:subject:code=x")])).entries(&[D]),
        Cell::new("batch: GET Observation?_list=LB", Method::POST, "").json(bundle("batch", vec![e_get("Observation?_list=LB")])).entries(&[D]),
        Cell::new("batch: mixed reads (oA, oB, Observation, Patient/B)", Method::POST, "")
            .json(bundle("batch", vec![e_get("Observation/oA"), e_get("Observation/oB"), e_get("Observation"), e_get("Patient/B")]))
            .entries(&[A, D, A, D]),
        Cell::new("batch: PUT Observation/oB?x=1 (subject A)", Method::POST, "")
            .json(bundle("batch", vec![e_put("Observation/oB?x=1", obs(Some("oB"), "Patient/A", "Alphason-hijack"))])).entries(&[D]),
        Cell::new("batch: PUT Observation/oB (subject B)", Method::POST, "")
            .json(bundle("batch", vec![e_put("Observation/oB", obs(Some("oB"), "Patient/B", "changed"))])).entries(&[D]),
        Cell::new("batch: PUT Observation/oB?x=1 ifMatch W/\"1\"", Method::POST, "")
            .json(bundle("batch", vec![with_req(e_put("Observation/oB?x=1", obs(Some("oB"), "Patient/A", "Alphason-hijack")), "ifMatch", "W/\"1\"")])).entries(&[D]),
        Cell::new("batch: DELETE Observation/oB", Method::POST, "").json(bundle("batch", vec![e_delete("Observation/oB")])).entries(&[D]),
        Cell::new("batch: DELETE Observation/oB?x=1 ifMatch W/\"1\"", Method::POST, "")
            .json(bundle("batch", vec![with_req(e_delete("Observation/oB?x=1"), "ifMatch", "W/\"1\"")])).entries(&[D]),
        Cell::new("batch: PATCH Observation/oB", Method::POST, "").json(bundle("batch", vec![e_patch("Observation/oB", status_op("amended"))])).entries(&[D]),
        Cell::new("batch: POST Observation subject B", Method::POST, "").json(bundle("batch", vec![e_post("Observation", obs(None, "Patient/B", "x"), None)])).entries(&[D]),
        Cell::new("batch: POST Observation subject B performer A", Method::POST, "")
            .json(bundle("batch", vec![e_post("Observation", { let mut o = obs(None, "Patient/B", "x"); o["performer"] = json!([{"reference": "Patient/A"}]); o }, None)])).entries(&[D]),
        Cell::new("batch: conditional create (ifNoneExist)", Method::POST, "")
            .json(bundle("batch", vec![with_req(e_post("Observation", obs(None, "Patient/A", "x"), None), "ifNoneExist", "identifier=urn:test|Alphason-oA")])).entries(&[D]),
        Cell::new("batch: conditional update PUT Observation?identifier=", Method::POST, "")
            .json(bundle("batch", vec![e_put("Observation?identifier=urn:test|Alphason-oA-cond", obs(None, "Patient/A", "x"))])).entries(&[D]).unchanged(&["/Observation/oA-cond"]),
        Cell::new("batch: conditional delete DELETE Observation?identifier=", Method::POST, "")
            .json(bundle("batch", vec![e_delete("Observation?identifier=urn:test|Alphason-oA-cond")])).entries(&[D]).unchanged(&["/Observation/oA-cond"]),
        Cell::new("batch: conditional patch PATCH Observation?identifier=", Method::POST, "")
            .json(bundle("batch", vec![e_patch("Observation?identifier=urn:test|Alphason-oA-cond", status_op("amended"))])).entries(&[D]).unchanged(&["/Observation/oA-cond"]),
        // transaction
        Cell::new("transaction: GET Observation", Method::POST, "").json(bundle("transaction", vec![e_get("Observation")])).entries(&[A]),
        Cell::new("transaction: GET Observation/oB", Method::POST, "").json(bundle("transaction", vec![e_get("Observation/oB")])).entries(&[D]),
        Cell::new("transaction: GET Observation/oA-hist/_history/1", Method::POST, "").json(bundle("transaction", vec![e_get("Observation/oA-hist/_history/1")])).entries(&[D]),
        Cell::new("transaction: POST Observation subject A + GET Observation/oB (nothing written)", Method::POST, "")
            .json(bundle("transaction", vec![e_post("Observation", obs(None, "Patient/A", "Alphason-tx"), Some("urn:uuid:5b0c1a7e-0000-4000-8000-000000000001")), e_get("Observation/oB")]))
            .entries(&[if w { A } else { D }, D]),
        Cell::new("transaction: PUT Observation/oB?x=1", Method::POST, "")
            .json(bundle("transaction", vec![e_put("Observation/oB?x=1", obs(Some("oB"), "Patient/A", "Alphason-hijack"))])).entries(&[D]),
        Cell::new("transaction: PUT own oA-upd + PUT Observation/oB?x=1 ifMatch W/\"1\" (nothing written)", Method::POST, "")
            .json(bundle("transaction", vec![e_put("Observation/oA-upd", obs(Some("oA-upd"), "Patient/A", "Alphason-tx-upd")), with_req(e_put("Observation/oB?x=1", obs(Some("oB"), "Patient/A", "Alphason-hijack")), "ifMatch", "W/\"1\"")]))
            .entries(&[if w { A } else { D }, D]).unchanged(&["/Observation/oA-upd"]),
        Cell::new("transaction: DELETE Observation/oB", Method::POST, "").json(bundle("transaction", vec![e_delete("Observation/oB")])).entries(&[D]),
        Cell::new("transaction: DELETE Observation/oB?x=1", Method::POST, "").json(bundle("transaction", vec![e_delete("Observation/oB?x=1")])).entries(&[D]),
        Cell::new("transaction: POST Patient (urn:uuid) + Observation referencing it", Method::POST, "")
            .json(bundle("transaction", vec![
                e_post("Patient", json!({"resourceType": "Patient", "name": [{"family": "Newman"}]}), Some("urn:uuid:5b0c1a7e-0000-4000-8000-0000000000aa")),
                e_post("Observation", obs(None, "urn:uuid:5b0c1a7e-0000-4000-8000-0000000000aa", "x"), Some("urn:uuid:5b0c1a7e-0000-4000-8000-0000000000ab"))]))
            .entries(&[D, D]),
        Cell::new("transaction: POST Patient with fullUrl <base>/Patient/A + Observation subject Patient/A (rewritten to a new patient)", Method::POST, "")
            .json(bundle("transaction", vec![
                e_post("Patient", json!({"resourceType": "Patient", "name": [{"family": "Impostor"}]}), Some(format!("{base}/Patient/A").as_str())),
                e_post("Observation", obs(None, "Patient/A", "Alphason-impostor"), Some("urn:uuid:5b0c1a7e-0000-4000-8000-0000000000ac"))]))
            .entries(&[D, D]),
        Cell::new("transaction: PATCH own moving subject to Patient/B", Method::POST, "")
            .json(bundle("transaction", vec![e_patch("Observation/oA-patch", move_to_b())])).entries(&[D]).unchanged(&["/Observation/oA-patch"]),
        Cell::new("transaction: PATCH Observation/oB", Method::POST, "")
            .json(bundle("transaction", vec![e_patch("Observation/oB", status_op("amended"))])).entries(&[D]),
        Cell::new("transaction: POST Observation subject B performer A", Method::POST, "")
            .json(bundle("transaction", vec![e_post("Observation", { let mut o = obs(None, "Patient/B", "x"); o["performer"] = json!([{"reference": "Patient/A"}]); o }, None)])).entries(&[D]),
        Cell::new("transaction: conditional create (ifNoneExist)", Method::POST, "")
            .json(bundle("transaction", vec![with_req(e_post("Observation", obs(None, "Patient/A", "x"), None), "ifNoneExist", "identifier=urn:test|Alphason-oA")])).entries(&[D]),
        Cell::new("transaction: conditional update", Method::POST, "")
            .json(bundle("transaction", vec![e_put("Observation?identifier=urn:test|Alphason-oA-cond", obs(None, "Patient/A", "x"))])).entries(&[D]).unchanged(&["/Observation/oA-cond"]),
        // direct writes that are denied for every confined token
        Cell::new("create Observation subject B", Method::POST, "/Observation").json(obs(None, "Patient/B", "x")).deny(),
        Cell::new("create Observation subject B performer [Patient/A]", Method::POST, "/Observation")
            .json({ let mut o = obs(None, "Patient/B", "x"); o["performer"] = json!([{"reference": "Patient/A"}]); o }).deny(),
        Cell::new("create Patient", Method::POST, "/Patient").json(json!({"resourceType": "Patient", "name": [{"family": "Newman"}]})).deny(),
        Cell::new("update B's Observation (subject B)", Method::PUT, "/Observation/oB").json(obs(Some("oB"), "Patient/B", "changed")).deny(),
        Cell::new("update B's Observation (moved to subject A)", Method::PUT, "/Observation/oB").json(obs(Some("oB"), "Patient/A", "Alphason-hijack")).deny(),
        Cell::new("update Patient/B", Method::PUT, "/Patient/B").json(json!({"resourceType": "Patient", "id": "B", "active": false})).deny(),
        Cell::new("update own oA-upd moved to subject B", Method::PUT, "/Observation/oA-upd").json(obs(Some("oA-upd"), "Patient/B", "x")).deny().unchanged(&["/Observation/oA-upd"]),
    ];
    for q in ["?x=1", "?_id=oA", "?subject=Patient/A"] {
        for im in [false, true] {
            let suffix = if im { " If-Match W/\"1\"" } else { "" };
            let mut put = Cell::new(format!("PUT /Observation/oB{q}{suffix}"), Method::PUT, format!("/Observation/oB{q}")).json(obs(Some("oB"), "Patient/A", "Alphason-hijack")).deny();
            let mut del = Cell::new(format!("DELETE /Observation/oB{q}{suffix}"), Method::DELETE, format!("/Observation/oB{q}")).deny();
            let mut patch = Cell::new(format!("PATCH /Observation/oB{q}{suffix}"), Method::PATCH, format!("/Observation/oB{q}")).jpatch(status_op("amended")).deny();
            if im {
                put = put.header("if-match", "W/\"1\"");
                del = del.header("if-match", "W/\"1\"");
                patch = patch.header("if-match", "W/\"1\"");
            }
            c.extend([put, del, patch]);
        }
    }
    c.extend([
        Cell::new("DELETE Observation/oB", Method::DELETE, "/Observation/oB").deny(),
        Cell::new("DELETE Patient/B", Method::DELETE, "/Patient/B").deny(),
        Cell::new("DELETE List/LB", Method::DELETE, "/List/LB").deny(),
        Cell::new("PATCH Observation/oB", Method::PATCH, "/Observation/oB").jpatch(status_op("amended")).deny(),
        Cell::new("PATCH own oA-patch moving subject to Patient/B", Method::PATCH, "/Observation/oA-patch").jpatch(move_to_b()).deny().unchanged(&["/Observation/oA-patch"]),
        Cell::new("conditional create (If-None-Exist)", Method::POST, "/Observation").json(obs(None, "Patient/A", "Alphason-cond")).header("if-none-exist", "identifier=urn:test|Alphason-oA").deny(),
        Cell::new("conditional update PUT Observation?identifier=", Method::PUT, "/Observation?identifier=urn:test|Alphason-oA-cond").json(obs(None, "Patient/A", "x")).deny().unchanged(&["/Observation/oA-cond"]),
        Cell::new("conditional delete DELETE Observation?identifier=", Method::DELETE, "/Observation?identifier=urn:test|Alphason-oA-cond").deny().unchanged(&["/Observation/oA-cond"]),
        Cell::new("conditional patch PATCH Observation?identifier=", Method::PATCH, "/Observation?identifier=urn:test|Alphason-oA-cond").jpatch(status_op("amended")).deny().unchanged(&["/Observation/oA-cond"]),
        // writes within the compartment: writers only
        Cell::new("create Observation subject A", Method::POST, "/Observation").json(obs(None, "Patient/A", "Alphason-new")).allow_if(w, &[201], &[]),
        Cell::new("update own oA-upd", Method::PUT, "/Observation/oA-upd").json(obs(Some("oA-upd"), "Patient/A", "Alphason-upd-2")).allow_if(w, &[200], &["/Observation/oA-upd"]),
        Cell::new("PATCH own oA-patch (JSON Patch)", Method::PATCH, "/Observation/oA-patch").jpatch(status_op("amended")).allow_if(w, &[200], &["/Observation/oA-patch"]),
        Cell::new("batch: POST Observation subject A", Method::POST, "").json(bundle("batch", vec![e_post("Observation", obs(None, "Patient/A", "Alphason-batch"), None)])).entries(&[if w { A } else { D }]),
        Cell::new("batch: PUT own oA-upd", Method::POST, "").json(bundle("batch", vec![e_put("Observation/oA-upd", obs(Some("oA-upd"), "Patient/A", "Alphason-upd-3"))])).entries(&[if w { A } else { D }]),
        Cell::new("batch: PATCH own oA-patch", Method::POST, "").json(bundle("batch", vec![e_patch("Observation/oA-patch", status_op("corrected"))])).entries(&[if w { A } else { D }]),
        Cell::new("batch: PATCH own oA-patch moving subject to Patient/B", Method::POST, "").json(bundle("batch", vec![e_patch("Observation/oA-patch", move_to_b())])).entries(&[D]).unchanged(&["/Observation/oA-patch"]),
        Cell::new("transaction: POST Observation subject A", Method::POST, "")
            .json(bundle("transaction", vec![e_post("Observation", obs(None, "Patient/A", "Alphason-tx2"), Some("urn:uuid:5b0c1a7e-0000-4000-8000-000000000002"))])).entries(&[if w { A } else { D }]),
        Cell::new("transaction: PATCH own oA-patch", Method::POST, "").json(bundle("transaction", vec![e_patch("Observation/oA-patch", status_op("final"))])).entries(&[if w { A } else { D }]),
        Cell::new("delete own oA-del", Method::DELETE, "/Observation/oA-del").allow_if(w, &[200, 204], &["/Observation/oA-del"]),
    ]);
    c
}

async fn confined_table(table: &str, tok: String, can_write: bool) {
    let (s, _jwks, prac) = setup(&[]).await;
    let cells = confined_cells(&s.base, can_write);
    let ctx = Ctx { s: &s, prac, policy: confined_policy(), guards: b_guards(), count_writes: true };
    let failures = run_table(&ctx, table, Some(tok.as_str()), &cells).await;
    finish(table, cells.len(), failures);
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_5_patient_v1_read() {
    confined_table("patient/*.read", token(json!({"scope": "patient/*.read", "patient": "A"})), false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_6_patient_v2_read() {
    confined_table("patient/*.rs", token(json!({"scope": "patient/*.rs", "patient": "A"})), false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_7_patient_writer() {
    confined_table("patient/*.cruds", token(json!({"scope": "patient/*.cruds", "patient": "A"})), true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_8_user_scope_fhir_user_patient() {
    confined_table("user/*.cruds fhirUser=Patient/A", token(json!({"scope": "user/*.cruds", "fhirUser": "Patient/A"})), true).await;
}

// ---------------------------------------------------------------------------------------
// 1. No token
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn matrix_1_no_token() {
    let (s, _jwks, prac) = setup(&[]).await;
    let cells = vec![
        Cell::get("GET /metadata is public", "/metadata").allow(&[200]),
        Cell::get("read Patient/A", "/Patient/A").unauth(),
        Cell::get("read Patient/B", "/Patient/B").unauth(),
        Cell::get("read absent", "/Patient/nobody").unauth(),
        Cell::new("HEAD Patient/A", Method::HEAD, "/Patient/A").unauth(),
        Cell::get("vread Observation/oB/_history/1", "/Observation/oB/_history/1").unauth(),
        Cell::get("history Observation/oB", "/Observation/oB/_history").unauth(),
        Cell::get("search Observation", "/Observation").unauth(),
        Cell::get("search Patient?_summary=count", "/Patient?_summary=count").unauth(),
        Cell::new("POST _search", Method::POST, "/Observation/_search").unauth(),
        Cell::get("compartment Patient/B/Observation", "/Patient/B/Observation").unauth(),
        Cell::get("system search", "/?_type=Observation").unauth(),
        Cell::get("type history", "/Observation/_history").unauth(),
        Cell::get("system history", "/_history").unauth(),
        Cell::new("create", Method::POST, "/Observation").json(obs(None, "Patient/A", "x")).unauth(),
        Cell::new("update", Method::PUT, "/Observation/oB").json(obs(Some("oB"), "Patient/B", "changed")).unauth(),
        Cell::new("patch", Method::PATCH, "/Observation/oB").jpatch(status_op("amended")).unauth(),
        Cell::new("delete", Method::DELETE, "/Observation/oB").unauth(),
        Cell::new("conditional delete", Method::DELETE, "/Observation?identifier=urn:test|Alphason-oA").unauth(),
        Cell::new("batch", Method::POST, "").json(bundle("batch", vec![e_get("Observation/oB")])).unauth(),
        Cell::new("transaction", Method::POST, "").json(bundle("transaction", vec![e_post("Observation", obs(None, "Patient/A", "x"), None)])).unauth(),
        Cell::new("$validate", Method::POST, "/Observation/$validate").json(obs(None, "Patient/A", "x")).unauth(),
        Cell::new("$reindex", Method::POST, "/$reindex").unauth(),
        Cell::get("tenant URL read", format!("{}/tenant/default/fhir/Patient/B", s.root)).unauth(),
    ];
    let policy = Policy { markers: vec![SECRET, A_MARK], forbidden: vec![], confined_to_a: false };
    let ctx = Ctx { s: &s, prac, policy, guards: all_guards(), count_writes: true };
    let failures = run_table(&ctx, "no token", None, &cells).await;
    finish("no token", cells.len(), failures);
}

// ---------------------------------------------------------------------------------------
// 2. Practitioner
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn matrix_2_practitioner() {
    use Ent::Allow as A;
    let (s, _jwks, prac) = setup(&[]).await;
    let base = s.base.clone();
    let cells = vec![
        Cell::get("read Patient/A", "/Patient/A").allow(&[200]),
        Cell::get("read Patient/B", "/Patient/B").allow(&[200]).contains(&["Patient/B"]),
        Cell::get("read Observation/oB", "/Observation/oB").allow(&[200]),
        Cell::get("read List/LB", "/List/LB").allow(&[200]),
        Cell::get("read Claim/clB", "/Claim/clB").allow(&[200]),
        Cell::get("read absent", "/Observation/does-not-exist").status(&[404]),
        Cell::new("HEAD Observation/oB (405: no HTTP HEAD at all)", Method::HEAD, "/Observation/oB").status(&[200, 405]),
        Cell::get("vread Observation/oA-hist/_history/1", "/Observation/oA-hist/_history/1").allow(&[200]),
        Cell::get("history Observation/oA-hist", "/Observation/oA-hist/_history").allow(&[200]),
        Cell::get("search Observation", "/Observation").allow(&[200]).contains(&["Observation/oA", "Observation/oB"]).with(Extra::TotalIsMatches),
        Cell::get("search Patient", "/Patient").allow(&[200]).contains(&["Patient/A", "Patient/B"]),
        Cell::get("search _include", "/Observation?_include=Observation:subject").allow(&[200]).contains(&["Patient/B"]),
        Cell::get("search _revinclude", "/Patient?_revinclude=Observation:subject").allow(&[200]).contains(&["Observation/oB"]),
        Cell::get("chain", "/Observation?subject.name=x").allow(&[200]),
        Cell::get("_has", "/Patient?_has:Observation:subject:code=x").allow(&[200]),
        Cell::get("_list=LB", "/Observation?_list=LB").allow(&[200]).contains(&["Observation/oB"]),
        Cell::get("compartment Patient/B/Observation", "/Patient/B/Observation").allow(&[200]).contains(&["Observation/oB"]),
        Cell::get("system search ?_type=Observation", "/?_type=Observation").allow(&[200]).contains(&["Observation/oB"]),
        Cell::get("type history", "/Observation/_history").allow(&[200]),
        Cell::get("system history", "/_history").allow(&[200]),
        Cell::get("metadata", "/metadata").allow(&[200]),
        Cell::new("$validate", Method::POST, "/Observation/$validate").json(obs(None, "Patient/B", "x")).allow(&[200]),
        Cell::new("create Observation subject B", Method::POST, "/Observation").json(obs(None, "Patient/B", "x")).allow(&[201]),
        Cell::new("update Observation/oA-upd", Method::PUT, "/Observation/oA-upd").json(obs(Some("oA-upd"), "Patient/A", "Alphason-2")).allow(&[200]),
        Cell::new("PATCH Observation/oA-patch", Method::PATCH, "/Observation/oA-patch").jpatch(status_op("amended")).allow(&[200]),
        Cell::new("conditional create", Method::POST, "/Observation").json(obs(None, "Patient/A", "x")).header("if-none-exist", "identifier=urn:test|Alphason-oA").allow(&[200, 201]),
        Cell::new("conditional update", Method::PUT, "/Observation?identifier=urn:test|Alphason-oA-cond").json({ let mut o = obs(None, "Patient/A", "Alphason-cond-2"); o["identifier"] = ident("Alphason-oA-cond"); o }).allow(&[200]),
        Cell::new("conditional patch", Method::PATCH, "/Observation?identifier=urn:test|Alphason-oA-cond").jpatch(status_op("amended")).allow(&[200]),
        Cell::new("batch with every method", Method::POST, "")
            .json(bundle("batch", vec![e_get("Observation"), e_head("Observation"), e_get("Observation/oB"), e_get("Observation/oA-hist/_history/1"),
                e_get("Observation?_include=Observation:subject"), e_post("Observation", obs(None, "Patient/B", "x"), None),
                e_patch("Observation/oA-patch", status_op("corrected")), e_put("Observation/oA-upd", obs(Some("oA-upd"), "Patient/A", "Alphason-3"))]))
            .entries(&[A, A, A, A, A, A, A, A]),
        Cell::new("batch: GET metadata", Method::POST, "").json(bundle("batch", vec![e_get("metadata")])).entries(&[A]),
        Cell::new("transaction with a new Patient at <base>/Patient/A", Method::POST, "")
            .json(bundle("transaction", vec![
                e_post("Patient", json!({"resourceType": "Patient", "name": [{"family": "Impostor"}]}), Some(format!("{base}/Patient/A").as_str())),
                e_post("Observation", obs(None, "Patient/A", "x"), Some("urn:uuid:5b0c1a7e-0000-4000-8000-0000000000ac"))]))
            .entries(&[A, A]),
        Cell::new("conditional delete", Method::DELETE, "/Observation?identifier=urn:test|Alphason-oA-cond").allow(&[200, 204]),
        Cell::new("delete Observation/oA-del", Method::DELETE, "/Observation/oA-del").allow(&[200, 204]),
        // $reindex acts on the caller's tenant only (auth_regressions, finding 10).
        Cell::new("$reindex", Method::POST, "/$reindex").allow(&[]),
    ];
    let ctx = Ctx { s: &s, prac: prac.clone(), policy: Policy::default(), guards: vec![], count_writes: false };
    let failures = run_table(&ctx, "practitioner", Some(prac.as_str()), &cells).await;
    finish("practitioner", cells.len(), failures);
}

// ---------------------------------------------------------------------------------------
// 3. Auditor, 4. non-practitioner
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn matrix_3_auditor() {
    use Ent::Deny as D;
    let (s, _jwks, prac) = setup(&[]).await;
    let pt = || Extra::OnlyTypes(vec!["Patient"]);
    let cells = vec![
        Cell::get("read Patient/A", "/Patient/A").allow(&[200]).with(pt()),
        Cell::get("read Patient/B", "/Patient/B").allow(&[200]).with(pt()),
        Cell::get("vread Patient/B/_history/1", "/Patient/B/_history/1").allow(&[200]).with(pt()),
        Cell::get("search Patient", "/Patient").allow(&[200]).with(pt()).contains(&["Patient/A", "Patient/B"]),
        Cell::get("search Patient _revinclude=Observation:subject (no Observation)", "/Patient?_revinclude=Observation:subject").allow(&[200]).with(pt()).contains(&["Patient/A", "Patient/B"]),
        Cell::get("search Patient _has:Observation", "/Patient?_has:Observation:subject:code=x").deny(),
        Cell::get("read Observation/oA", "/Observation/oA").deny(),
        Cell::get("vread Observation/oA/_history/1", "/Observation/oA/_history/1").deny(),
        Cell::get("read Claim/clA", "/Claim/clA").deny(),
        Cell::get("search Observation", "/Observation").deny(),
        Cell::get("compartment Patient/A/Observation", "/Patient/A/Observation").deny(),
        Cell::get("history Patient/A", "/Patient/A/_history").deny(),
        Cell::get("type history Patient", "/Patient/_history").deny(),
        Cell::get("system history", "/_history").deny(),
        Cell::get("system search", "/?_type=Patient").deny(),
        Cell::new("create Patient", Method::POST, "/Patient").json(json!({"resourceType": "Patient"})).deny(),
        Cell::new("update Patient/A", Method::PUT, "/Patient/A").json(json!({"resourceType": "Patient", "id": "A"})).deny(),
        Cell::new("patch Patient/A", Method::PATCH, "/Patient/A").jpatch(json!([{"op": "add", "path": "/active", "value": false}])).deny(),
        Cell::new("delete Patient/A", Method::DELETE, "/Patient/A").deny(),
        Cell::new("$validate", Method::POST, "/Observation/$validate").json(obs(None, "Patient/A", "x")).deny(),
        Cell::new("batch: GET Observation/oA", Method::POST, "").json(bundle("batch", vec![e_get("Observation/oA")])).entries(&[D]),
        Cell::new("transaction: POST Patient", Method::POST, "").json(bundle("transaction", vec![e_post("Patient", json!({"resourceType": "Patient"}), None)])).entries(&[D]),
    ];
    let policy = Policy { markers: vec![], forbidden: vec![], confined_to_a: false };
    let ctx = Ctx { s: &s, prac, policy, guards: all_guards(), count_writes: true };
    let tok = token(json!({"cognito:groups": ["auditor"]}));
    let failures = run_table(&ctx, "auditor", Some(tok.as_str()), &cells).await;
    finish("auditor", cells.len(), failures);
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_4_non_practitioner() {
    use Ent::Deny as D;
    let (s, _jwks, prac) = setup(&[]).await;
    let fin = || Extra::OnlyTypes(vec!["Claim", "Coverage", "ExplanationOfBenefit", "ClaimResponse", "Account", "Invoice"]);
    let cells = vec![
        Cell::get("read Claim/clA", "/Claim/clA").allow(&[200]).with(fin()),
        Cell::get("read Claim/clB", "/Claim/clB").allow(&[200]).with(fin()),
        Cell::get("vread Claim/clB/_history/1", "/Claim/clB/_history/1").allow(&[200]).with(fin()),
        Cell::get("search Claim", "/Claim").allow(&[200]).with(fin()).contains(&["Claim/clA", "Claim/clB"]),
        Cell::get("search Coverage", "/Coverage").allow(&[200]).with(fin()),
        Cell::get("search Claim _include=Claim:patient (no Patient)", "/Claim?_include=Claim:patient").allow(&[200]).with(fin()),
        Cell::get("chain Claim?patient.name=x", "/Claim?patient.name=x").deny(),
        Cell::get("read Patient/A", "/Patient/A").deny(),
        Cell::get("vread Patient/A/_history/1", "/Patient/A/_history/1").deny(),
        Cell::get("search Patient", "/Patient").deny(),
        Cell::get("read Observation/oA", "/Observation/oA").deny(),
        Cell::get("compartment Patient/A/Claim (no Patient content)", "/Patient/A/Claim").status(&[200, 403]).with(fin()),
        Cell::get("history Claim/clA", "/Claim/clA/_history").deny(),
        Cell::get("type history Claim", "/Claim/_history").deny(),
        Cell::get("system history", "/_history").deny(),
        Cell::new("create Claim", Method::POST, "/Claim").json({ let mut c = claim("x", "A"); c.as_object_mut().unwrap().remove("id"); c }).deny(),
        Cell::new("update Claim/clA", Method::PUT, "/Claim/clA").json(claim("clA", "A")).deny(),
        Cell::new("delete Claim/clA", Method::DELETE, "/Claim/clA").deny(),
        Cell::new("batch: GET Patient/A", Method::POST, "").json(bundle("batch", vec![e_get("Patient/A")])).entries(&[D]),
    ];
    let ctx = Ctx { s: &s, prac, policy: Policy::default(), guards: all_guards(), count_writes: true };
    let tok = token(json!({"cognito:groups": ["non-practitioner"]}));
    let failures = run_table(&ctx, "non-practitioner", Some(tok.as_str()), &cells).await;
    finish("non-practitioner", cells.len(), failures);
}

// ---------------------------------------------------------------------------------------
// 9. Another tenant (pool), 10. silo
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn matrix_9_other_tenant() {
    let (s, _jwks, prac) = setup(&[]).await;
    let root = s.root.clone();
    let mut forbidden: Vec<&str> = B_IDS.to_vec();
    forbidden.extend_from_slice(A_IDS);
    let cells = vec![
        Cell::get("read Patient/A", "/Patient/A").status(&[404]),
        Cell::get("read Observation/oB", "/Observation/oB").status(&[404]),
        Cell::get("vread Observation/oA-hist/_history/1", "/Observation/oA-hist/_history/1").status(&[404]),
        Cell::get("search Observation (empty)", "/Observation").allow(&[200]).with(Extra::TotalIsMatches),
        Cell::get("search Patient (empty)", "/Patient?_total=accurate").allow(&[200]).lacks(&["Patient/A", "Patient/B"]),
        Cell::get("search Patient?_summary=count", "/Patient?_summary=count").allow(&[200]),
        Cell::get("compartment Patient/A/Observation", "/Patient/A/Observation").status(&[200, 404]),
        Cell::get("system history", "/_history").allow(&[200]),
        Cell::get("system search", "/?_type=Observation,Patient").allow(&[200]),
        Cell::new("batch: GET Patient/A, Observation", Method::POST, "").json(bundle("batch", vec![e_get("Patient/A"), e_get("Observation")])).status(&[200]),
        Cell::get("tenant URL default: read Patient/A", format!("{root}/tenant/default/fhir/Patient/A")).deny(),
        Cell::get("tenant URL default: search Observation", format!("{root}/tenant/default/fhir/Observation")).deny(),
        Cell::get("tenant URL default: history", format!("{root}/tenant/default/fhir/_history")).deny(),
        Cell::new("tenant URL default: update Observation/oB", Method::PUT, format!("{root}/tenant/default/fhir/Observation/oB")).json(obs(Some("oB"), "Patient/B", "changed")).deny(),
        Cell::new("tenant URL default: delete Observation/oA", Method::DELETE, format!("{root}/tenant/default/fhir/Observation/oA")).deny(),
        Cell::new("tenant URL default: batch", Method::POST, format!("{root}/tenant/default/fhir")).json(bundle("batch", vec![e_get("Patient/A")])).deny(),
        Cell::get("tenant URL t2: read Patient/A", format!("{root}/tenant/t2/fhir/Patient/A")).status(&[404]),
        Cell::new("delete Observation/oA (own tenant has none)", Method::DELETE, "/Observation/oA").status(&[200, 204, 404]),
        Cell::new("conditional delete in own tenant", Method::DELETE, "/Observation?identifier=urn:test|Alphason-oA").status(&[200, 204, 404]),
    ];
    let policy = Policy { markers: vec![SECRET, A_MARK], forbidden, confined_to_a: false };
    let ctx = Ctx { s: &s, prac, policy, guards: all_guards(), count_writes: true };
    let tok = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t2"}));
    let failures = run_table(&ctx, "tenant t2", Some(tok.as_str()), &cells).await;
    finish("tenant t2", cells.len(), failures);
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_10_silo_tenants() {
    let (s, _jwks) = start(&[("HEARTH_TENANCY", "silo")]).await;
    let t1 = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t1"}));
    let t2 = token(json!({"cognito:groups": ["practitioner"], "custom:tenantId": "t2"}));
    let dflt = practitioner();
    // The same ids in both tenants, different content; one id only in each.
    for (tok, m, own) in [(&t1, "Tango-One", "o1"), (&t2, "Uniform-Two", "o2")] {
        seed_put(&s, tok, "/Patient/shared", json!({"resourceType": "Patient", "id": "shared", "name": [{"family": m}]})).await;
        seed_put(&s, tok, &format!("/Observation/{own}"), obs(Some(own), "Patient/shared", m)).await;
    }
    let mut failures = Vec::new();
    let mut n = 0;
    for (label, tok, theirs, own, other, other_tenant) in [
        ("silo t1", &t1, "Uniform-Two", "o1", "o2", "t2"),
        ("silo t2", &t2, "Tango-One", "o2", "o1", "t1"),
    ] {
        let root = s.root.clone();
        let cells = vec![
            Cell::get("read Patient/shared is its own", "/Patient/shared").allow(&[200]).contains(&["Patient/shared"]),
            Cell::get("read own Observation", format!("/Observation/{own}")).allow(&[200]),
            Cell::get("read the other tenant's Observation", format!("/Observation/{other}")).status(&[404]),
            Cell::get("search Observation", "/Observation").allow(&[200]).contains(&[format!("Observation/{own}").as_str()]).lacks(&[format!("Observation/{other}").as_str()]).with(Extra::TotalIsMatches),
            Cell::get("search Patient", "/Patient").allow(&[200]).with(Extra::TotalIsMatches),
            Cell::get("system history", "/_history").allow(&[200]),
            Cell::get("own tenant URL", format!("{root}/tenant/{}/fhir/Patient/shared", if own == "o1" { "t1" } else { "t2" })).allow(&[200]),
            Cell::get("the other tenant's URL", format!("{root}/tenant/{other_tenant}/fhir/Patient/shared")).deny(),
            Cell::get("the default tenant's URL", format!("{root}/tenant/default/fhir/Patient/shared")).deny(),
        ];
        n += cells.len();
        let policy = Policy { markers: vec![theirs], forbidden: vec![], confined_to_a: false };
        let ctx = Ctx { s: &s, prac: (*tok).clone(), policy, guards: vec![], count_writes: false };
        failures.extend(run_table(&ctx, label, Some(tok.as_str()), &cells).await);
    }
    // The default tenant (no tenant claim) sees neither.
    let cells = vec![
        Cell::get("read Patient/shared", "/Patient/shared").status(&[404]),
        Cell::get("search Observation", "/Observation").allow(&[200]).lacks(&["Observation/o1", "Observation/o2"]),
        Cell::get("system history", "/_history").allow(&[200]),
    ];
    n += cells.len();
    let policy = Policy { markers: vec!["Tango-One", "Uniform-Two"], forbidden: vec![], confined_to_a: false };
    let ctx = Ctx { s: &s, prac: dflt.clone(), policy, guards: vec![], count_writes: false };
    failures.extend(run_table(&ctx, "silo default", Some(dflt.as_str()), &cells).await);
    finish("silo", n, failures);
}

// ---------------------------------------------------------------------------------------
// Malformed claims: 401, never a default
// ---------------------------------------------------------------------------------------

fn raw_token(extra: &[(&str, Value)]) -> String {
    let mut c = claims(json!({}));
    for (k, v) in extra {
        c[*k] = v.clone();
    }
    sign_rs256(&c, "rsa1.pem", "rsa-1")
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_malformed_claims_are_401() {
    let (s, _jwks, prac) = setup(&[]).await;
    let g = || json!(["practitioner"]);
    let cases: Vec<(&str, String)> = vec![
        ("tenant is a number", raw_token(&[("cognito:groups", g()), ("custom:tenantId", json!(5))])),
        ("tenant is an array", raw_token(&[("cognito:groups", g()), ("custom:tenantId", json!(["t1"]))])),
        ("tenant is null", raw_token(&[("cognito:groups", g()), ("custom:tenantId", Value::Null)])),
        ("tenant is ..", raw_token(&[("cognito:groups", g()), ("custom:tenantId", json!(".."))])),
        ("tenant is .", raw_token(&[("cognito:groups", g()), ("custom:tenantId", json!("."))])),
        ("tenant is a/b", raw_token(&[("cognito:groups", g()), ("custom:tenantId", json!("a/b"))])),
        ("tenant longer than 64", raw_token(&[("cognito:groups", g()), ("custom:tenantId", json!("t".repeat(65)))])),
        ("fhirUser patient/A (lower case)", raw_token(&[("scope", json!("user/*.cruds")), ("fhirUser", json!("patient/A"))])),
        ("fhirUser Patient/A_x", raw_token(&[("scope", json!("user/*.cruds")), ("fhirUser", json!("Patient/A_x"))])),
        ("fhirUser is an array", raw_token(&[("scope", json!("user/*.cruds")), ("fhirUser", json!(["Patient/A"]))])),
        ("fhirUser is a number", raw_token(&[("scope", json!("user/*.cruds")), ("fhirUser", json!(5))])),
        ("v2 scope with an unknown parameter", raw_token(&[("scope", json!("user/Observation.rs?categroy=laboratory"))])),
    ];
    let cells: Vec<(String, Cell)> = cases.into_iter().map(|(name, tok)| (tok, Cell::get(format!("{name}: GET /Observation"), "/Observation").unauth())).collect();
    let policy = Policy { markers: vec![SECRET, A_MARK], forbidden: vec![], confined_to_a: false };
    let ctx = Ctx { s: &s, prac, policy, guards: vec![], count_writes: false };
    let mut failures = Vec::new();
    for (tok, cell) in &cells {
        failures.extend(run_table(&ctx, "malformed claims", Some(tok.as_str()), std::slice::from_ref(cell)).await);
    }
    finish("malformed claims", cells.len(), failures);
}
