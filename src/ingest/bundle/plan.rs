//! The assessment and plan of a document: a ClinicalImpression (assessment) and a CarePlan
//! (plan and follow-up), each tied to the encounter.
use serde_json::{json, Value};

use super::{Builder, Field};

pub(super) fn assessment_and_plan(b: &mut Builder, subject: &Value, enc: Option<&Value>, when: Option<&str>) {
    if let Some(a) = b.get("plan.assessment", "ClinicalImpression.summary") {
        let (id, q) = b.ingest_id("assessment");
        let mut r = json!({"resourceType": "ClinicalImpression", "identifier": id, "status": "completed", "subject": subject, "summary": a.value});
        if let Some(e) = enc {
            r["encounter"] = e.clone();
        }
        if let Some(w) = when {
            r["effectiveDateTime"] = json!(w);
        }
        b.add(r, &[("ClinicalImpression.summary", &a)], Some(q), true);
    }
    let plan = b.get("plan.plan", "CarePlan.description");
    let follow = b.get("plan.followUp", "CarePlan.activity");
    if plan.is_none() && follow.is_none() {
        return;
    }
    let (id, q) = b.ingest_id("plan");
    let mut r = json!({"resourceType": "CarePlan", "identifier": id, "status": "active", "intent": "plan", "subject": subject});
    let mut used: Vec<(&str, &Field)> = Vec::new();
    if let Some(p) = &plan {
        r["description"] = json!(p.value);
        used.push(("CarePlan.description", p));
    }
    if let Some(f) = &follow {
        r["activity"] = json!([{"detail": {"status": "scheduled", "description": f.value}}]);
        used.push(("CarePlan.activity.detail.description", f));
    }
    if let Some(e) = enc {
        r["encounter"] = e.clone();
    }
    b.add(r, &used, Some(q), true);
}
