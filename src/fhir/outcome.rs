//! OperationOutcome issues: the one shape every error and validation finding takes.
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// One OperationOutcome.issue. `code` is from the R4 IssueType value set
/// (e.g. "invalid", "structure", "required", "value", "code-invalid", "not-found").
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    pub code: &'static str,
    pub diagnostics: String,
    /// FHIRPath location, e.g. `Patient.name[0].given[1]`; empty when unknown.
    pub expression: String,
}

impl Issue {
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Issue { severity: Severity::Error, code, diagnostics: diagnostics.into(), expression: String::new() }
    }

    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression = expression.into();
        self
    }

    pub fn is_error(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Fatal)
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("severity".into(), json!(self.severity.as_str()));
        m.insert("code".into(), json!(self.code));
        if !self.diagnostics.is_empty() {
            m.insert("diagnostics".into(), json!(self.diagnostics));
        }
        if !self.expression.is_empty() {
            m.insert("expression".into(), json!([self.expression]));
        }
        Value::Object(m)
    }
}

pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = if issues.is_empty() {
        vec![json!({"severity": "information", "code": "informational", "diagnostics": "All OK"})]
    } else {
        issues.iter().map(Issue::to_json).collect()
    };
    json!({"resourceType": "OperationOutcome", "issue": issues})
}
