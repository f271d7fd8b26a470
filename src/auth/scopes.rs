//! SMART on FHIR scopes, v1 (`patient/*.read`, `user/Observation.write`) and v2
//! (`patient/Observation.rs`, `user/*.cruds`, `patient/Observation.rs?category=laboratory`).
use super::interaction::Interaction;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Patient,
    User,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub context: Context,
    /// `None`: every type (`*`).
    pub resource_type: Option<String>,
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub search: bool,
    /// v2 query filter (`?category=laboratory`): parameters the resource must match.
    pub query: Vec<(String, String)>,
}

impl Scope {
    /// Parses one scope; `None` for scopes that are not SMART resource scopes
    /// (`openid`, `launch`, `fhirUser`, ...) or are malformed.
    pub fn parse(text: &str) -> Option<Scope> {
        let (ctx, rest) = text.split_once('/')?;
        let context = match ctx {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return None,
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()),
            None => (rest, Vec::new()),
        };
        let (ty, perms) = rest.rsplit_once('.')?;
        let resource_type = match ty {
            "*" => None,
            t if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric()) => Some(t.to_string()),
            _ => return None,
        };
        let mut s = Scope { context, resource_type, create: false, read: false, update: false, delete: false, search: false, query };
        match perms {
            "read" => {
                s.read = true;
                s.search = true;
            }
            "write" => {
                s.create = true;
                s.update = true;
                s.delete = true;
            }
            "*" => {
                s.create = true;
                s.read = true;
                s.update = true;
                s.delete = true;
                s.search = true;
            }
            p => {
                // v2: a subset of c r u d s in this order.
                let mut last = 0;
                for ch in p.chars() {
                    let pos = "cruds".find(ch)? + 1;
                    if pos <= last {
                        return None;
                    }
                    last = pos;
                    match ch {
                        'c' => s.create = true,
                        'r' => s.read = true,
                        'u' => s.update = true,
                        'd' => s.delete = true,
                        _ => s.search = true,
                    }
                }
                if last == 0 {
                    return None;
                }
            }
        }
        Some(s)
    }

    /// Whether this scope grants `interaction` on `resource_type` (None: system level).
    pub fn grants(&self, interaction: Interaction, resource_type: Option<&str>) -> bool {
        let type_ok = match (&self.resource_type, resource_type) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => matches!(interaction, Interaction::Transaction | Interaction::Batch),
        };
        if !type_ok {
            return false;
        }
        use Interaction as I;
        match interaction {
            I::Read | I::Vread | I::HistoryInstance => self.read,
            I::SearchType | I::SearchSystem | I::HistoryType | I::HistorySystem => self.search,
            I::Create => self.create,
            I::Update | I::Patch => self.update,
            I::Delete => self.delete,
            // Entries are checked one by one.
            I::Transaction | I::Batch => true,
            // $validate and the like: with the right to create the type.
            I::Operation => self.create,
            I::Capabilities => true,
        }
    }
}

/// The SMART resource scopes in a space-separated `scope` claim. Other scopes (`openid`,
/// `launch/patient`, ...) are left out; one that looks like a resource scope but does not
/// parse is an error, never a scope silently dropped or widened.
pub fn parse_all(scopes: &str) -> Result<Vec<Scope>, String> {
    let mut out = Vec::new();
    for text in scopes.split_whitespace() {
        let looks_like = ["patient/", "user/", "system/"].iter().any(|p| text.starts_with(p));
        match Scope::parse(text) {
            Some(s) => out.push(s),
            None if looks_like => return Err(format!("the scope '{}' is malformed", text.chars().take(80).collect::<String>())),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2() {
        let s = Scope::parse("patient/*.read").unwrap();
        assert!(s.grants(Interaction::Read, Some("Observation")) && !s.grants(Interaction::Create, Some("Observation")));
        let s = Scope::parse("user/Observation.write").unwrap();
        assert!(s.grants(Interaction::Update, Some("Observation")) && !s.grants(Interaction::Read, Some("Observation")));
        let s = Scope::parse("patient/Observation.rs?category=laboratory").unwrap();
        assert_eq!(s.query, vec![("category".to_string(), "laboratory".to_string())]);
        assert!(s.grants(Interaction::SearchType, Some("Observation")) && !s.grants(Interaction::Read, Some("Patient")));
        let s = Scope::parse("system/*.cruds").unwrap();
        assert!(s.grants(Interaction::Delete, Some("Patient")));
        assert!(Scope::parse("patient/Observation.sr").is_none());
        assert!(Scope::parse("openid").is_none());
        assert!(Scope::parse("user/*.x").is_none());
    }
}
