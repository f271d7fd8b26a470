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
    /// `headings` in cue form.
    #[serde(skip)]
    pub heading_forms: Vec<String>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct FieldDef {
    pub key: String,
    pub section: String,
    #[serde(default)]
    pub cues: Vec<String>,
    /// `cues` in cue form.
    #[serde(skip)]
    pub cue_forms: Vec<String>,
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
    /// `cues` in cue form.
    #[serde(skip)]
    pub cue_forms: Vec<String>,
    #[serde(default)]
    pub prefixes: Vec<String>,
    pub normaliser: String,
    #[serde(default)]
    pub values: Vec<String>,
}

impl Blueprint {
    pub fn parse(text: &str) -> Result<Blueprint, String> {
        let mut b: Blueprint = serde_json::from_str(text).map_err(|e| format!("blueprint: {e}"))?;
        let forms = |v: &[String]| v.iter().map(|c| cue_form(c)).collect::<Vec<_>>();
        for s in &mut b.sections {
            s.heading_forms = forms(&s.headings);
        }
        for f in &mut b.fields {
            f.cue_forms = forms(&f.cues);
        }
        for c in b.lists.iter_mut().flat_map(|l| l.columns.iter_mut()) {
            c.cue_forms = forms(&c.cues);
        }
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

/// Levenshtein distance of two short strings (characters).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The one of `candidates` (cue forms, with a payload) that `form` names: an exact match,
/// else the only one a single OCR slip away ("probiem") when both have 5+ characters.
/// Returns the payload and the match quality (1.0 exact, 0.9 one slip).
pub fn find_cue<'a, T: Copy>(form: &str, candidates: impl Iterator<Item = (&'a str, T)> + Clone) -> Option<(T, f32)> {
    if let Some((_, t)) = candidates.clone().find(|(c, _)| *c == form) {
        return Some((t, 1.0));
    }
    let n = form.chars().count();
    if n < 5 || n > 40 {
        return None;
    }
    let mut near = candidates.filter(|(c, _)| {
        let m = c.chars().count();
        m >= 5 && m.abs_diff(n) <= 1 && edit_distance(c, form) == 1
    });
    match (near.next(), near.next()) {
        (Some((_, t)), None) => Some((t, 0.9)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_allow_one_slip_in_long_words_only() {
        let cues = [("problem", 0usize), ("onset", 1), ("status", 2), ("height", 3), ("weight", 4)];
        assert_eq!(find_cue("probiem", cues.iter().copied()), Some((0, 0.9)));
        assert_eq!(find_cue("onset", cues.iter().copied()), Some((1, 1.0)));
        assert_eq!(find_cue("stat", cues.iter().copied()), None);
        // one slip from two cues: neither
        assert_eq!(find_cue("heights", [("height", 0), ("heighty", 1)].iter().copied()), None);
        assert_eq!(find_cue("weigbt", cues.iter().copied()), Some((4, 0.9)));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

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
