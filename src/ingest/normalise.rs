//! Normalisers: printed text -> canonical value, with how sure the parse is.
use super::blueprint::Blueprint;

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// A normalised value: canonical text and parse confidence in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Norm {
    pub value: String,
    pub confidence: f32,
    /// A second value (the diastolic of a blood pressure).
    pub second: Option<String>,
    /// A unit printed with a quantity.
    pub unit: Option<String>,
}

impl Norm {
    fn new(value: impl Into<String>, confidence: f32) -> Norm {
        Norm { value: value.into(), confidence, second: None, unit: None }
    }
}

pub fn normalise(kind: &str, raw: &str, values: &[String], bp: &Blueprint) -> Option<Norm> {
    // specks and rules OCR reads at the edges of a value ("_ Hematocrit", "2019-11-07.")
    let raw = raw
        .trim()
        .trim_start_matches(|c: char| !(c.is_alphanumeric() || "([<>#+-$%".contains(c)) || c == '-' && !kind.starts_with("quantity") && kind != "number")
        .trim_end_matches(|c: char| !(c.is_alphanumeric() || ")]}%/.".contains(c)))
        .trim();
    if raw.is_empty() {
        return None;
    }
    match kind {
        "date" => date(raw).or_else(|| {
            // a date with OCR debris around it ("2020-03-13__—resolved")
            static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
            let re = RE.get_or_init(|| regex::Regex::new(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}|[A-Za-z]{3,9}\.? ?\d{1,2}, ?\d{4}").ok());
            let m = re.as_ref()?.find(raw)?;
            date(m.as_str()).map(|mut n| {
                n.confidence *= 0.85;
                n
            })
        }),
        "gender" => gender(raw),
        "phone" => phone(raw),
        "number" => number(raw).map(|(n, _)| Norm::new(n, 1.0)),
        "quantity" => quantity(raw, bp),
        "bp" => blood_pressure(raw),
        "enum" => {
            let l = raw.trim_end_matches('.').to_lowercase();
            if values.iter().any(|v| *v == l) {
                return Some(Norm::new(l, 1.0));
            }
            // one OCR slip in a longer value ("resoived"), when only one value is that close
            let near: Vec<&String> = values.iter().filter(|v| v.len() >= 5 && super::blueprint::edit_distance(v, &l) == 1).collect();
            match near.as_slice() {
                [v] => Some(Norm::new(v.as_str(), 0.75)),
                _ => Some(Norm::new(l, 0.4)),
            }
        }
        "range" => range(raw),
        "person" | "text" => Some(Norm::new(raw.split_whitespace().collect::<Vec<_>>().join(" "), 1.0)),
        // OCR puts spaces into identifiers and addresses ("chi.cormier@ example.com")
        "identifier" | "email" => Some(Norm::new(raw.split_whitespace().collect::<String>(), 1.0)),
        _ => Some(Norm::new(raw, 0.5)),
    }
}

fn ymd(y: i32, m: u32, d: u32) -> Option<String> {
    chrono::NaiveDate::from_ymd_opt(y, m, d).map(|dt| dt.format("%Y-%m-%d").to_string())
}

/// ISO, US (MM/DD/YYYY), `Mon D, YYYY`, `D Mon YYYY`.
pub fn date(raw: &str) -> Option<Norm> {
    let s = raw.trim().trim_end_matches('.');
    // OCR drops spaces: "Jan19,2016" -> "Jan 19, 2016"
    let mut spaced = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if let Some(p) = prev {
            if (p.is_alphabetic() && c.is_ascii_digit()) || (p == ',' && c != ' ') {
                spaced.push(' ');
            }
        }
        spaced.push(c);
        prev = Some(c);
    }
    let s = spaced.as_str();
    let digits: Vec<&str> = s.split(|c: char| c == '-' || c == '/' || c == '.').collect();
    if digits.len() == 3 && digits.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) {
        let n: Vec<u32> = digits.iter().filter_map(|p| p.parse().ok()).collect();
        if n.len() != 3 {
            return None;
        }
        if digits[0].len() == 4 {
            return ymd(n[0] as i32, n[1], n[2]).map(|v| Norm::new(v, 1.0));
        }
        if digits[2].len() == 4 {
            // US order; when both could be a month the reading is less certain.
            let conf = if n[0] <= 12 && n[1] <= 12 && n[0] != n[1] { 0.93 } else { 0.99 };
            return ymd(n[2] as i32, n[0], n[1]).or_else(|| ymd(n[2] as i32, n[1], n[0])).map(|v| Norm::new(v, conf));
        }
        return None;
    }
    let words: Vec<String> = s.replace(',', " ").split_whitespace().map(|w| w.to_lowercase()).collect();
    if words.len() == 3 {
        let month = |w: &str| MONTHS.iter().position(|m| w.starts_with(m)).map(|i| i as u32 + 1);
        let (m, d, y) = if let Some(m) = month(&words[0]) {
            (m, words[1].trim_end_matches(|c: char| c.is_alphabetic()).parse().ok()?, words[2].parse().ok()?)
        } else {
            (month(&words[1])?, words[0].parse().ok()?, words[2].parse().ok()?)
        };
        return ymd(y, m, d).map(|v| Norm::new(v, 0.99));
    }
    None
}

fn gender(raw: &str) -> Option<Norm> {
    let l = raw.to_lowercase();
    let g = match l.as_str() {
        "male" | "m" => "male",
        "female" | "f" => "female",
        "other" | "x" | "non-binary" => "other",
        "unknown" | "u" => "unknown",
        _ => return Some(Norm::new(l, 0.3)),
    };
    Some(Norm::new(g, if l.len() == 1 { 0.95 } else { 1.0 }))
}

fn phone(raw: &str) -> Option<Norm> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let ok = raw.chars().all(|c| c.is_ascii_digit() || " -().+".contains(c));
    let conf = if ok && (10..=15).contains(&digits.len()) { 1.0 } else { 0.4 };
    Some(Norm::new(raw.trim(), conf))
}

/// A leading number and whatever follows it.
pub fn number(raw: &str) -> Option<(String, String)> {
    let s = raw.trim();
    let end = s.char_indices().find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '<' || *c == '>')))).map(|(i, _)| i).unwrap_or(s.len());
    let n = s[..end].trim_start_matches(['<', '>']);
    let v: f64 = n.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    Some((canonical_number(v), s[end..].trim().to_string()))
}

pub fn canonical_number(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    let mut t = format!("{r}");
    if t.contains('.') {
        t = t.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    t
}

fn quantity(raw: &str, bp: &Blueprint) -> Option<Norm> {
    let (n, unit) = number(raw)?;
    let mut norm = Norm::new(n, 1.0);
    if !unit.is_empty() {
        // an unknown unit lowers confidence (it may be a different measurement)
        if bp.ucum(&unit).is_none() {
            norm.confidence = 0.7;
        }
        norm.unit = Some(unit);
    }
    Some(norm)
}

fn blood_pressure(raw: &str) -> Option<Norm> {
    let (sys, rest) = raw.split_once('/')?;
    let (s, _) = number(sys)?;
    let (d, unit) = number(rest)?;
    let mut n = Norm::new(s, 1.0);
    n.second = Some(d);
    if !unit.is_empty() {
        n.unit = Some(unit);
    }
    Some(n)
}

fn range(raw: &str) -> Option<Norm> {
    let (lo, hi) = raw.split_once('-')?;
    let (l, _) = number(lo)?;
    let (h, _) = number(hi)?;
    let mut n = Norm::new(format!("{l}-{h}"), 1.0);
    n.second = Some(h);
    n.value = format!("{l}-{n_h}", n_h = n.second.clone().unwrap_or_default());
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_usual_formats() {
        assert_eq!(date("2019-03-01").map(|n| n.value), Some("2019-03-01".into()));
        assert_eq!(date("03/01/2019").map(|n| n.value), Some("2019-03-01".into()));
        assert_eq!(date("Mar 1, 2019").map(|n| n.value), Some("2019-03-01".into()));
        assert_eq!(date("1 March 2019").map(|n| n.value), Some("2019-03-01".into()));
        assert_eq!(date("2019-02-30"), None);
        assert_eq!(date("hello"), None);
    }

    #[test]
    fn enum_values_allow_one_slip() {
        let bp = Blueprint::shipped();
        let values: Vec<String> = ["active", "resolved", "inactive"].iter().map(|s| s.to_string()).collect();
        assert_eq!(normalise("enum", "resoived", &values, bp).map(|n| (n.value, n.confidence)), Some(("resolved".into(), 0.75)));
        assert_eq!(normalise("enum", "Active.", &values, bp).map(|n| n.value), Some("active".into()));
        assert_eq!(normalise("enum", "zzz", &values, bp).map(|n| n.confidence), Some(0.4));
    }

    #[test]
    fn numbers_and_pressures() {
        assert_eq!(number("36.60 Cel"), Some(("36.6".into(), "Cel".into())));
        let b = blood_pressure("120/80 mmHg").expect("bp");
        assert_eq!((b.value.as_str(), b.second.as_deref()), ("120", Some("80")));
    }
}
