//! The declarative field blueprint (`ingest/blueprint.json`): sections and their headings,
//! scalar fields (label cues, normaliser, validation, FHIR target) and list sections.
use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;

/// The blueprint shipped with Hearth.
pub const DEFAULT: &str = include_str!("../../ingest/blueprint.json");

#[derive(Debug, Deserialize)]
pub struct Blueprint {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub ignore: Vec<String>,
    pub sections: Vec<SectionDef>,
    pub fields: Vec<FieldDef>,
    pub lists: Vec<ListDef>,
    #[serde(default)]
    pub units: HashMap<String, String>,
    #[serde(skip)]
    pub ignore_re: Vec<Regex>,
    #[serde(skip)]
    pub validate_re: HashMap<String, Regex>,
    #[serde(skip)]
    pub pattern_re: HashMap<String, Regex>,
}

#[derive(Debug, Deserialize)]
pub struct SectionDef {
    pub kind: String,
    pub headings: Vec<String>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct FieldDef {
    pub key: String,
    pub section: String,
    #[serde(default)]
    pub cues: Vec<String>,
    /// A whole-line pattern (for cue-less fields such as the document title).
    pub pattern: Option<String>,
    pub normaliser: String,
    pub validate: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
    pub range: Option<[f64; 2]>,
    pub loinc: Option<String>,
    pub unit: Option<String>,
    pub target: String,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ListDef {
    pub kind: String,
    pub section: String,
    pub target: String,
    pub terminology: String,
    pub columns: Vec<ColumnDef>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub cues: Vec<String>,
    #[serde(default)]
    pub prefixes: Vec<String>,
    pub normaliser: String,
    #[serde(default)]
    pub values: Vec<String>,
}

impl Blueprint {
    pub fn parse(text: &str) -> Result<Blueprint, String> {
        let mut b: Blueprint = serde_json::from_str(text).map_err(|e| format!("blueprint: {e}"))?;
        for p in &b.ignore {
            b.ignore_re.push(Regex::new(&format!("(?i){p}")).map_err(|e| format!("blueprint ignore {p}: {e}"))?);
        }
        for f in &b.fields {
            if let Some(v) = &f.validate {
                b.validate_re.insert(f.key.clone(), Regex::new(v).map_err(|e| format!("blueprint {}: {e}", f.key))?);
            }
            if let Some(p) = &f.pattern {
                b.pattern_re.insert(f.key.clone(), Regex::new(&format!("(?i){p}")).map_err(|e| format!("blueprint {}: {e}", f.key))?);
            }
        }
        Ok(b)
    }

    /// The shipped blueprint, parsed once.
    pub fn shipped() -> &'static Blueprint {
        static B: std::sync::OnceLock<Blueprint> = std::sync::OnceLock::new();
        B.get_or_init(|| match Blueprint::parse(DEFAULT) {
            Ok(b) => b,
            // The shipped file is checked by a unit test; an empty blueprint extracts nothing.
            Err(e) => {
                tracing::error!(error = %e, "the shipped ingest blueprint is invalid");
                Blueprint { name: "invalid".into(), version: "0".into(), ignore: vec![], sections: vec![], fields: vec![], lists: vec![], units: HashMap::new(), ignore_re: vec![], validate_re: HashMap::new(), pattern_re: HashMap::new() }
            }
        })
    }

    pub fn list_for_section(&self, section: &str) -> Option<&ListDef> {
        self.lists.iter().find(|l| l.section == section)
    }

    /// UCUM code for a unit as printed.
    pub fn ucum(&self, unit: &str) -> Option<&str> {
        self.units.get(&unit.trim().to_lowercase()).map(String::as_str)
    }
}

/// The form used to compare labels and headings with cues: lower case, letters, digits
/// and `#` only (OCR often loses or adds spaces and specks: "StartDate", "Sex:.").
pub fn cue_form(s: &str) -> String {
    s.to_lowercase().chars().filter(|c| c.is_alphanumeric() || *c == '#').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_blueprint_parses_and_has_50_fields() {
        let b = Blueprint::parse(DEFAULT).expect("shipped blueprint");
        let n = b.fields.len() + b.lists.iter().map(|l| l.columns.len()).sum::<usize>();
        assert!(n >= 50, "only {n} fields");
        for f in &b.fields {
            assert!(f.pattern.is_some() || !f.cues.is_empty(), "{} has no cue", f.key);
            assert!(f.section == "header" || b.sections.iter().any(|s| s.kind == f.section), "{}: unknown section", f.key);
        }
        for l in &b.lists {
            for t in l.terminology.split_whitespace() {
                assert!(["loinc", "snomed", "cvx", "rxnorm", "icd10cm"].contains(&t), "{}: unknown terminology {t}", l.kind);
            }
        }
    }
}
