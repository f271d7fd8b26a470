//! Acceptance test: every resource in the official R4 package (examples and definitions)
//! must be accepted, except the genuinely invalid ones listed in
//! `definitions/r4/KNOWN_INVALID_EXAMPLES.md`.
//!
//! Needs the package: `scripts/fetch-r4-package.sh` (or a copy at /tmp/fhirpkg/package).
use super::validate_resource;
use crate::fhir::definitions::Definitions;
use std::collections::BTreeMap;
use std::path::PathBuf;

const KNOWN_INVALID: &str = include_str!("../../../definitions/r4/KNOWN_INVALID_EXAMPLES.md");

fn package_dir() -> PathBuf {
    let cached = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/hl7.fhir.r4.examples/package");
    let candidates = [cached, PathBuf::from("/tmp/fhirpkg/package")];
    for c in &candidates {
        if c.join("StructureDefinition-Patient.json").exists() {
            return c.clone();
        }
    }
    panic!("R4 package not found: run scripts/fetch-r4-package.sh");
}

/// File names listed in the first column of the table (`| \`File.json\` | ...`).
fn known_invalid() -> Vec<String> {
    let mut out: Vec<String> = KNOWN_INVALID
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

#[test]
fn official_package_resources_validate() {
    let defs = Definitions::r4();
    let dir = package_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let (mut examples, mut definitional) = ((0, 0), (0, 0));
    let mut rejected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut validating = std::time::Duration::ZERO;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        if json.get("resourceType").is_none() {
            continue; // package.json, .index.json
        }
        let is_def = [
            "StructureDefinition-", "SearchParameter-", "ValueSet-", "CodeSystem-", "ConceptMap-",
            "OperationDefinition-", "CompartmentDefinition-", "NamingSystem-", "CapabilityStatement-",
            "ImplementationGuide-",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        let start = std::time::Instant::now();
        let issues = validate_resource(defs, &json);
        validating += start.elapsed();
        for w in issues.iter().filter(|i| !i.is_error()) {
            eprintln!("WARNING {name}: {} {}", w.expression, w.diagnostics);
        }
        let errors: Vec<String> = issues
            .into_iter()
            .filter(|i| i.is_error())
            .map(|i| format!("{} [{}] {}", i.expression, i.code, i.diagnostics))
            .collect();
        let counter = if is_def { &mut definitional } else { &mut examples };
        if errors.is_empty() {
            counter.0 += 1;
        } else {
            counter.1 += 1;
            rejected.insert(name, errors);
        }
    }
    let total = examples.0 + examples.1 + definitional.0 + definitional.1;
    eprintln!(
        "examples: {} accepted, {} rejected; definitions: {} accepted, {} rejected; \
         validation {:?} in total, {:?} per resource",
        examples.0, examples.1, definitional.0, definitional.1, validating,
        validating / total.max(1) as u32
    );
    for (name, errors) in &rejected {
        for e in errors {
            eprintln!("REJECTED {name}: {e}");
        }
    }
    let got: Vec<String> = rejected.keys().cloned().collect();
    assert_eq!(got, known_invalid(), "rejected set differs from KNOWN_INVALID_EXAMPLES.md");
}
