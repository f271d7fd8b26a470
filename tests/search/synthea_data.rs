//! The Synthea data as loaded by `tests/search_synthea.rs`: reference rewriting for the upload
//! and plain accessors over the JSON for computing expected search results.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

/// One loaded resource (large parts not needed by the queries are dropped).
pub struct Res {
    pub ty: String,
    pub id: String,
    pub v: Value,
}

#[derive(Default)]
pub struct Data {
    pub by_type: BTreeMap<String, Vec<Res>>,
    index: HashMap<String, (String, usize)>,
    /// fullUrl uuid -> resource type
    type_of: HashMap<String, String>,
    pub unresolved: BTreeSet<String>,
}

/// Milliseconds since the epoch of an RFC 3339 date-time (panics on bad test input).
pub fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("bad instant {s}: {e}")).timestamp_millis()
}

/// The range [start, end] (ms, inclusive) of a FHIR date/dateTime/instant.
fn dt_range(s: &str) -> Option<(i64, i64)> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        let start = t.timestamp_millis();
        let has_fraction = s.get(19..20) == Some(".");
        return Some((start, if has_fraction { start } else { start + 999 }));
    }
    // date only (UTC)
    let full = match s.len() {
        4 => format!("{s}-01-01"),
        7 => format!("{s}-01"),
        _ => s.to_string(),
    };
    let start = chrono::NaiveDate::parse_from_str(&full, "%Y-%m-%d").ok()?;
    let end = match s.len() {
        4 => chrono::NaiveDate::from_ymd_opt(start.format("%Y").to_string().parse::<i32>().ok()? + 1, 1, 1)?,
        7 => start.checked_add_months(chrono::Months::new(1))?,
        _ => start.succ_opt()?,
    };
    let ms_of = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|x| x.and_utc().timestamp_millis());
    Some((ms_of(start)?, ms_of(end)? - 1))
}

/// Lower case without accents (enough for the Latin names in the data).
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c => c,
        })
        .collect()
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

impl Res {
    pub fn key(&self) -> String {
        format!("{}/{}", self.ty, self.id)
    }

    /// All values at a dotted path, through arrays.
    pub fn all_at(&self, path: &str) -> Vec<&Value> {
        let mut cur = vec![&self.v];
        for seg in path.split('.') {
            cur = cur.into_iter().flat_map(|v| as_list(&v[seg])).collect();
        }
        cur
    }

    /// The first string at a path (first element of arrays).
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        let mut cur = &self.v;
        for seg in path {
            cur = &cur[*seg];
            if let Value::Array(a) = cur {
                cur = a.first()?;
            }
        }
        cur.as_str()
    }

    pub fn refs_at(&self, path: &str) -> Vec<String> {
        self.all_at(path).into_iter().filter_map(|r| r["reference"].as_str().map(str::to_string)).collect()
    }

    pub fn ref_at(&self, path: &str) -> Option<String> {
        self.refs_at(path).into_iter().next()
    }

    /// The subject when it is a Patient.
    pub fn patient(&self) -> Option<String> {
        self.ref_at("subject").filter(|r| r.starts_with("Patient/"))
    }

    /// A coding `system|code` in the CodeableConcept(s) at `path`.
    pub fn has_code(&self, path: &str, system: &str, code: &str) -> bool {
        self.all_at(path)
            .into_iter()
            .flat_map(|cc| as_list(&cc["coding"]))
            .any(|c| c["system"].as_str() == Some(system) && c["code"].as_str() == Some(code))
    }

    /// `{prefix}DateTime`, `{prefix}Instant`, `{prefix}Period` or `{prefix}` (a Period) as a range.
    pub fn date_range(&self, prefix: &str) -> Option<(i64, i64)> {
        for suffix in ["DateTime", "Instant"] {
            if let Some(s) = self.v[format!("{prefix}{suffix}")].as_str() {
                return dt_range(s);
            }
        }
        let p = [format!("{prefix}Period"), prefix.to_string()].into_iter().map(|k| &self.v[k]).find(|p| p.is_object())?;
        let start = p["start"].as_str().and_then(dt_range).map(|r| r.0).unwrap_or(i64::MIN);
        let end = p["end"].as_str().and_then(dt_range).map(|r| r.1).unwrap_or(i64::MAX);
        Some((start, end))
    }

    /// `ge` with a search value of seconds precision `x` (R4: the range above `x` overlaps, or
    /// `x` contains the value).
    pub fn date_ge(&self, prefix: &str, x: i64) -> bool {
        self.date_range(prefix).is_some_and(|(s, e)| e > x + 999 || (s >= x && e <= x + 999))
    }

    /// `lt` with a search value `y` of seconds precision: the value starts before `y`.
    pub fn date_lt(&self, prefix: &str, y: i64) -> bool {
        self.date_range(prefix).is_some_and(|(s, _)| s < y)
    }

    /// The valueQuantity in `unit`: value and its number of decimals.
    pub fn quantity(&self, unit: &str) -> Option<(f64, i32)> {
        let q = &self.v["valueQuantity"];
        if q["code"].as_str() != Some(unit) {
            return None;
        }
        let text = q["value"].to_string();
        let decimals = text.split_once('.').map(|(_, f)| f.len() as i32).unwrap_or(0);
        Some((q["value"].as_f64()?, decimals))
    }

    pub fn families(&self) -> Vec<String> {
        self.all_at("name").into_iter().filter_map(|n| n["family"].as_str().map(str::to_string)).collect()
    }

    pub fn first_family(&self) -> Option<String> {
        self.families().into_iter().next()
    }

    /// family, given, prefix, suffix and text of every HumanName (the `name` parameter).
    pub fn name_parts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in self.all_at("name") {
            for k in ["family", "given", "prefix", "suffix", "text"] {
                out.extend(as_list(&n[k]).into_iter().filter_map(|s| s.as_str().map(str::to_string)));
            }
        }
        out
    }
}

/// Parts of resources no query looks at (dropped from the in-memory copy).
const DROP: &[&str] = &["text", "extension", "presentedForm", "content", "item", "contained", "diagnosis", "insurance", "total", "payment", "benefitBalance", "adjudication"];

impl Data {
    pub fn of(&self, ty: &str) -> Vec<&Res> {
        self.by_type.get(ty).map(|v| v.iter().collect()).unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Option<&Res> {
        let (ty, i) = self.index.get(key)?;
        self.by_type.get(ty)?.get(*i)
    }

    /// Rewrites a Bundle's references and returns `(Type/id, body)` to PUT for each entry.
    pub fn add_bundle(&mut self, bundle: Value, conditional: &mut HashMap<String, String>) -> Vec<(String, Vec<u8>)> {
        let Value::Object(mut b) = bundle else { panic!("a Bundle is not an object") };
        let Some(Value::Array(entries)) = b.remove("entry") else { panic!("Bundle without entries") };
        let mut items = Vec::new();
        for e in entries {
            let Value::Object(mut e) = e else { panic!("entry is not an object") };
            let full = e.get("fullUrl").and_then(Value::as_str).unwrap_or_default().to_string();
            let uuid = full.strip_prefix("urn:uuid:").unwrap_or_else(|| panic!("fullUrl {full} is not urn:uuid")).to_string();
            let resource = e.remove("resource").expect("entry.resource");
            let ty = resource["resourceType"].as_str().expect("resourceType").to_string();
            if matches!(ty.as_str(), "Organization" | "Practitioner" | "Location") {
                for ident in resource["identifier"].as_array().into_iter().flatten() {
                    if let (Some(s), Some(v)) = (ident["system"].as_str(), ident["value"].as_str()) {
                        conditional.insert(format!("{ty}?identifier={s}|{v}"), format!("{ty}/{uuid}"));
                    }
                }
            }
            self.type_of.insert(uuid.clone(), ty.clone());
            items.push((ty, uuid, resource));
        }
        let mut out = Vec::new();
        for (ty, uuid, mut resource) in items {
            resource["id"] = Value::String(uuid.clone());
            self.rewrite(&mut resource, conditional);
            out.push((format!("{ty}/{uuid}"), serde_json::to_vec(&resource).expect("serialize")));
            if let Value::Object(o) = &mut resource {
                for k in DROP {
                    o.remove(*k);
                }
            }
            let list = self.by_type.entry(ty.clone()).or_default();
            self.index.insert(format!("{ty}/{uuid}"), (ty.clone(), list.len()));
            list.push(Res { ty, id: uuid, v: resource });
        }
        out
    }

    fn rewrite(&mut self, v: &mut Value, conditional: &HashMap<String, String>) {
        match v {
            Value::Object(o) => {
                for (k, child) in o.iter_mut() {
                    if k == "reference" {
                        if let Value::String(s) = child {
                            if let Some(u) = s.strip_prefix("urn:uuid:") {
                                match self.type_of.get(u) {
                                    Some(t) => *s = format!("{t}/{u}"),
                                    None => {
                                        self.unresolved.insert(s.clone());
                                    }
                                }
                            } else if s.contains("?identifier=") {
                                match conditional.get(s.as_str()) {
                                    Some(r) => *s = r.clone(),
                                    None => {
                                        self.unresolved.insert(s.clone());
                                    }
                                }
                            }
                            continue;
                        }
                    }
                    self.rewrite(child, conditional);
                }
            }
            Value::Array(a) => {
                for x in a {
                    self.rewrite(x, conditional);
                }
            }
            _ => {}
        }
    }
}
