//! The interactions that access rules name (the FHIR RESTful interaction codes, as in
//! FHIR Works on AWS), and which one an HTTP request is.
use axum::http::Method;

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
    /// `$validate`, `$reindex`, ... and `metadata`-like reads are not operations.
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

/// What a request does: the interaction, the resource type (None at system level) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub interaction: Interaction,
    pub resource_type: Option<String>,
    pub id: Option<String>,
}

/// Classifies a request by its path segments after the FHIR base. `is_type` tells resource
/// types; `is_compartment` compartment types. The answer for paths the router rejects does
/// not matter (they fail with 404/405 after authentication).
pub fn classify(method: &Method, s: &[&str], is_type: &dyn Fn(&str) -> bool) -> Target {
    use Interaction as I;
    let t = |i: I, rt: Option<&str>, id: Option<&str>| Target { interaction: i, resource_type: rt.map(str::to_string), id: id.map(str::to_string) };
    let m = method.clone();
    match (s, m) {
        (["metadata"], Method::GET) | ([".well-known", "smart-configuration"], Method::GET) => t(I::Capabilities, None, None),
        ([], Method::GET) | (["_search"], Method::POST) => t(I::SearchSystem, None, None),
        ([], Method::POST) => t(I::Transaction, None, None),
        (["_history"], Method::GET) => t(I::HistorySystem, None, None),
        ([op], _) | ([op, _], _) if op.starts_with('$') => t(I::Operation, None, None),
        ([ty], Method::GET) | ([ty, "_search"], Method::POST) => t(I::SearchType, Some(ty), None),
        ([ty], Method::POST) => t(I::Create, Some(ty), None),
        ([ty], Method::PUT) => t(I::Update, Some(ty), None),
        ([ty], Method::DELETE) => t(I::Delete, Some(ty), None),
        ([ty], Method::PATCH) => t(I::Patch, Some(ty), None),
        ([ty, "_history"], Method::GET) => t(I::HistoryType, Some(ty), None),
        ([ty, op], _) if op.starts_with('$') => t(I::Operation, Some(ty), None),
        ([ty, id], Method::GET) => t(I::Read, Some(ty), Some(id)),
        ([ty, id], Method::PUT) => t(I::Update, Some(ty), Some(id)),
        ([ty, id], Method::DELETE) => t(I::Delete, Some(ty), Some(id)),
        ([ty, id], Method::PATCH) => t(I::Patch, Some(ty), Some(id)),
        ([ty, id, "_history"], Method::GET) => t(I::HistoryInstance, Some(ty), Some(id)),
        ([ty, id, "_history", _], Method::GET) => t(I::Vread, Some(ty), Some(id)),
        ([ty, _id, op], _) if op.starts_with('$') => t(I::Operation, Some(ty), None),
        ([_c, _id, member], Method::GET) if is_type(member) => t(I::SearchType, Some(member), None),
        _ => t(I::Read, s.first().copied(), s.get(1).copied()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let is_type = |t: &str| t.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let c = |m: Method, p: &str| {
            let s: Vec<&str> = p.split('/').filter(|x| !x.is_empty()).collect();
            classify(&m, &s, &is_type).interaction
        };
        assert_eq!(c(Method::GET, "Patient/1"), Interaction::Read);
        assert_eq!(c(Method::GET, "Patient/1/_history/2"), Interaction::Vread);
        assert_eq!(c(Method::GET, "Patient/1/Observation"), Interaction::SearchType);
        assert_eq!(c(Method::POST, ""), Interaction::Transaction);
        assert_eq!(c(Method::POST, "Patient/$validate"), Interaction::Operation);
        assert_eq!(c(Method::GET, "metadata"), Interaction::Capabilities);
        assert_eq!(c(Method::GET, "$ingest-status/123"), Interaction::Operation);
    }
}
