//! What a request does, as one typed value: the single routing table. A top-level HTTP
//! request and a Bundle entry are both parsed here; authorization decides on the value and
//! dispatch runs it, so the two can never disagree.
use axum::http::Method;

use crate::error::{FhirError, Result};

/// The interactions that access rules name (the FHIR RESTful interaction codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interaction {
    Read,
    Vread,
    Update,
    Patch,
    Delete,
    HistoryInstance,
    HistoryType,
    HistorySystem,
    Create,
    SearchType,
    SearchSystem,
    Transaction,
    Batch,
    Operation,
    /// `metadata` and `.well-known/smart-configuration`: public.
    Capabilities,
}

pub const ALL: [Interaction; 14] = [
    Interaction::Read,
    Interaction::Vread,
    Interaction::Update,
    Interaction::Patch,
    Interaction::Delete,
    Interaction::HistoryInstance,
    Interaction::HistoryType,
    Interaction::HistorySystem,
    Interaction::Create,
    Interaction::SearchType,
    Interaction::SearchSystem,
    Interaction::Transaction,
    Interaction::Batch,
    Interaction::Operation,
];

impl Interaction {
    pub fn code(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "vread",
            Interaction::Update => "update",
            Interaction::Patch => "patch",
            Interaction::Delete => "delete",
            Interaction::HistoryInstance => "history-instance",
            Interaction::HistoryType => "history-type",
            Interaction::HistorySystem => "history-system",
            Interaction::Create => "create",
            Interaction::SearchType => "search-type",
            Interaction::SearchSystem => "search-system",
            Interaction::Transaction => "transaction",
            Interaction::Batch => "batch",
            Interaction::Operation => "operation",
            Interaction::Capabilities => "capabilities",
        }
    }

    pub fn parse(code: &str) -> Option<Interaction> {
        ALL.iter().copied().find(|i| i.code() == code)
    }

    pub fn is_write(self) -> bool {
        matches!(self, Interaction::Create | Interaction::Update | Interaction::Patch | Interaction::Delete)
    }
}

/// The kind of a request, with what only that kind carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Capabilities,
    SmartConfiguration,
    /// `GET [base]?...` or `POST [base]/_search`.
    SearchSystem,
    /// `POST [base]`: a batch or transaction Bundle (which one, the body says).
    Bundle,
    HistorySystem,
    HistoryType,
    HistoryInstance,
    /// `GET [type]?...` or `POST [type]/_search`.
    SearchType,
    /// `GET [compartment]/[id]/[type]`: `resource_type` is the member type.
    SearchCompartment { compartment: String, id: String },
    Create,
    Read,
    Vread { version: String },
    Update,
    Patch,
    Delete,
    /// `PUT`, `PATCH`, `DELETE` on `[type]?criteria`.
    ConditionalUpdate,
    ConditionalPatch,
    ConditionalDelete,
    /// `$name` at system, type (`resource_type`) or instance (`resource_type` and `id`) level.
    Operation { name: String },
}

/// One request: its kind, the resource type and id it addresses, and whether it was a
/// `HEAD` (answered like a `GET`, without a body) or a `POST .../_search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub resource_type: Option<String>,
    pub id: Option<String>,
    pub head: bool,
    pub post_search: bool,
}

impl Target {
    /// The interaction the access rules are asked about.
    pub fn interaction(&self) -> Interaction {
        use Interaction as I;
        match &self.kind {
            Kind::Capabilities | Kind::SmartConfiguration => I::Capabilities,
            Kind::Operation { name } if name == "versions" => I::Capabilities,
            Kind::SearchSystem => I::SearchSystem,
            Kind::Bundle => I::Transaction,
            Kind::HistorySystem => I::HistorySystem,
            Kind::HistoryType => I::HistoryType,
            Kind::HistoryInstance => I::HistoryInstance,
            Kind::SearchType | Kind::SearchCompartment { .. } => I::SearchType,
            Kind::Create => I::Create,
            Kind::Read => I::Read,
            Kind::Vread { .. } => I::Vread,
            Kind::Update | Kind::ConditionalUpdate => I::Update,
            Kind::Patch | Kind::ConditionalPatch => I::Patch,
            Kind::Delete | Kind::ConditionalDelete => I::Delete,
            Kind::Operation { .. } => I::Operation,
        }
    }

    /// Whether the request picks its resource by search criteria.
    pub fn is_conditional(&self) -> bool {
        matches!(self.kind, Kind::ConditionalUpdate | Kind::ConditionalPatch | Kind::ConditionalDelete)
    }

    /// Whether it only reads (never changes stored data).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self.kind,
            Kind::Capabilities
                | Kind::SmartConfiguration
                | Kind::SearchSystem
                | Kind::HistorySystem
                | Kind::HistoryType
                | Kind::HistoryInstance
                | Kind::SearchType
                | Kind::SearchCompartment { .. }
                | Kind::Read
                | Kind::Vread { .. }
        )
    }

    pub fn operation(&self) -> Option<&str> {
        match &self.kind {
            Kind::Operation { name } => Some(name),
            _ => None,
        }
    }
}

/// What the parser needs to know of the FHIR definitions.
pub struct Names<'a> {
    pub is_type: &'a dyn Fn(&str) -> bool,
    pub is_compartment: &'a dyn Fn(&str) -> bool,
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Parses a request from its method and percent-decoded path segments after the FHIR base.
/// Unknown paths are 404, known paths with another method 405, unknown methods 405.
pub fn parse(method: &Method, s: &[&str], names: &Names<'_>) -> Result<Target> {
    let head = method == Method::HEAD;
    let m = if head { Method::GET } else { method.clone() };
    if !matches!(m, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return Err(FhirError::MethodNotAllowed(format!("the method {} is not supported", short(method.as_str()))));
    }
    let t = |kind: Kind, rt: Option<&str>, id: Option<&str>| {
        Ok(Target { kind, resource_type: rt.map(str::to_string), id: id.map(str::to_string), head, post_search: false })
    };
    let search = |kind: Kind, rt: Option<&str>| Ok(Target { kind, resource_type: rt.map(str::to_string), id: None, head, post_search: true });
    let op = |name: &str| Kind::Operation { name: name.trim_start_matches('$').to_string() };
    let is_type = |x: &str| (names.is_type)(x);
    let wrong_method = || Err(FhirError::MethodNotAllowed(format!("{} is not supported on /{}", method, short(&s.join("/")))));
    match (s, &m) {
        ([], &Method::GET) => t(Kind::SearchSystem, None, None),
        ([], &Method::POST) => t(Kind::Bundle, None, None),
        (["_search"], &Method::POST) => search(Kind::SearchSystem, None),
        (["metadata"], &Method::GET) => t(Kind::Capabilities, None, None),
        ([".well-known", "smart-configuration"], &Method::GET) => t(Kind::SmartConfiguration, None, None),
        (["_history"], &Method::GET) => t(Kind::HistorySystem, None, None),
        ([name], &Method::GET | &Method::POST) if name.starts_with('$') => t(op(name), None, None),
        ([name, arg], &Method::GET | &Method::POST | &Method::DELETE) if name.starts_with('$') => t(op(name), None, Some(arg)),
        ([ty, ..], _) if !is_type(ty) => {
            if ty.starts_with('$') || ty.starts_with('_') || matches!(*ty, "metadata" | ".well-known") {
                wrong_method()
            } else {
                Err(FhirError::NotFound(format!("unknown resource type '{}'", short(ty))))
            }
        }
        ([ty], &Method::GET) => t(Kind::SearchType, Some(ty), None),
        ([ty], &Method::POST) => t(Kind::Create, Some(ty), None),
        ([ty], &Method::PUT) => t(Kind::ConditionalUpdate, Some(ty), None),
        ([ty], &Method::PATCH) => t(Kind::ConditionalPatch, Some(ty), None),
        ([ty], &Method::DELETE) => t(Kind::ConditionalDelete, Some(ty), None),
        ([ty, "_search"], &Method::POST) => search(Kind::SearchType, Some(ty)),
        ([ty, "_history"], &Method::GET) => t(Kind::HistoryType, Some(ty), None),
        ([ty, name], &Method::GET | &Method::POST) if name.starts_with('$') => t(op(name), Some(ty), None),
        ([_, "_search" | "_history"], _) => wrong_method(),
        ([_, name], _) if name.starts_with('$') => wrong_method(),
        ([ty, id], &Method::GET) => t(Kind::Read, Some(ty), Some(id)),
        ([ty, id], &Method::PUT) => t(Kind::Update, Some(ty), Some(id)),
        ([ty, id], &Method::PATCH) => t(Kind::Patch, Some(ty), Some(id)),
        ([ty, id], &Method::DELETE) => t(Kind::Delete, Some(ty), Some(id)),
        ([ty, id, "_history"], &Method::GET) => t(Kind::HistoryInstance, Some(ty), Some(id)),
        ([ty, id, "_history", vid], &Method::GET) => t(Kind::Vread { version: vid.to_string() }, Some(ty), Some(id)),
        ([ty, id, name], &Method::GET | &Method::POST) if name.starts_with('$') => t(op(name), Some(ty), Some(id)),
        ([c, id, member], &Method::GET) if (names.is_compartment)(c) && is_type(member) => {
            t(Kind::SearchCompartment { compartment: c.to_string(), id: id.to_string() }, Some(member), None)
        }
        ([_, _, "_history"] | [_, _, "_history", _], _) => wrong_method(),
        ([_, _, name], _) if name.starts_with('$') => wrong_method(),
        _ => Err(FhirError::NotFound(format!("no FHIR endpoint at /{}", short(&s.join("/"))))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(m: Method, path: &str) -> Result<Target> {
        let is_type = |t: &str| matches!(t, "Patient" | "Observation" | "Binary");
        let is_compartment = |t: &str| t == "Patient";
        let s: Vec<&str> = path.split('/').filter(|x| !x.is_empty()).collect();
        parse(&m, &s, &Names { is_type: &is_type, is_compartment: &is_compartment })
    }

    fn kind(m: Method, path: &str) -> Kind {
        p(m, path).expect(path).kind
    }

    #[test]
    fn parses_paths() {
        assert_eq!(kind(Method::GET, "Patient/1"), Kind::Read);
        assert_eq!(kind(Method::GET, "Patient/1/_history/2"), Kind::Vread { version: "2".into() });
        assert_eq!(kind(Method::GET, "Patient/1/Observation"), Kind::SearchCompartment { compartment: "Patient".into(), id: "1".into() });
        assert_eq!(kind(Method::POST, ""), Kind::Bundle);
        assert_eq!(kind(Method::POST, "Patient/$validate"), Kind::Operation { name: "validate".into() });
        assert_eq!(kind(Method::GET, "metadata"), Kind::Capabilities);
        assert_eq!(kind(Method::GET, "$ingest-status/123"), Kind::Operation { name: "ingest-status".into() });
        assert_eq!(kind(Method::PUT, "Patient"), Kind::ConditionalUpdate);
        assert_eq!(kind(Method::PUT, "Patient/1"), Kind::Update);
    }

    #[test]
    fn head_is_a_get_of_the_same_thing() {
        let h = p(Method::HEAD, "Observation").expect("head");
        assert_eq!(h.kind, Kind::SearchType);
        assert!(h.head);
        assert_eq!(p(Method::HEAD, "Observation/1").expect("head").kind, Kind::Read);
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert_eq!(p(Method::OPTIONS, "Patient").unwrap_err().status(), 405);
        assert_eq!(p(Method::from_bytes(b"FOO").expect("method"), "Patient").unwrap_err().status(), 405);
        assert_eq!(p(Method::GET, "Nope/1").unwrap_err().status(), 404);
        assert_eq!(p(Method::DELETE, "Patient/1/_history").unwrap_err().status(), 405);
        assert_eq!(p(Method::PUT, "metadata").unwrap_err().status(), 405);
        assert_eq!(p(Method::GET, "Patient/1/Nope").unwrap_err().status(), 404);
        assert_eq!(p(Method::GET, "Patient/1/_history/2/x").unwrap_err().status(), 404);
    }
}
