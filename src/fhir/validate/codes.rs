//! Required ValueSet bindings: `code` values, Coding and CodeableConcept.
//! Value sets that cannot be enumerated from the package are never used to reject.
use super::Validator;
use serde_json::{Map, Value};

/// A `code` (or other string primitive) bound to a required value set.
pub(super) fn check_code(v: &mut Validator, url: &str, code: &str, expr: &str) {
    let Some(vs) = v.defs.value_set(url) else { return };
    if vs.is_enumerable() && !vs.contains_code(code) {
        v.error(
            "code-invalid",
            expr,
            format!("The code '{code}' is not in the required value set {url}"),
        );
    }
}

/// A Coding or CodeableConcept bound to a required value set: a coding whose system is one
/// of the value set's systems must carry a code from the set. Other codings are tolerated.
pub(super) fn check_complex(v: &mut Validator, type_name: &str, url: &str, obj: &Map<String, Value>, expr: &str) {
    match type_name {
        "Coding" => check_coding(v, url, obj, expr),
        "CodeableConcept" => {
            if let Some(Value::Array(codings)) = obj.get("coding") {
                for (i, c) in codings.iter().enumerate() {
                    if let Some(c) = c.as_object() {
                        check_coding(v, url, c, &format!("{expr}.coding[{i}]"));
                    }
                }
            }
        }
        _ => {}
    }
}

fn check_coding(v: &mut Validator, url: &str, obj: &Map<String, Value>, expr: &str) {
    let (Some(Value::String(system)), Some(Value::String(code))) = (obj.get("system"), obj.get("code")) else {
        return;
    };
    let Some(vs) = v.defs.value_set(url) else { return };
    if vs.contains(system, code) == Some(false) {
        v.error(
            "code-invalid",
            &format!("{expr}.code"),
            format!("The code '{system}#{code}' is not in the required value set {url}"),
        );
    }
}
