//! A small FHIRPath evaluator over FHIR JSON (`serde_json::Value`) resources, written for
//! search-parameter extraction (all R4 SearchParameter expressions) and the general core of
//! the FHIRPath specification (see the HL7 test-suite runner in `fhirpath/tests_hl7.rs`).
//!
//! ```ignore
//! let expr = fhirpath::parse("Observation.subject.where(resolve() is Patient)")?; // once
//! for item in fhirpath::evaluate(&expr, &resource)? {
//!     match fhirpath::type_of(&item) { Some("Reference") => ..., _ => ... }
//! }
//! ```
//!
//! Element types come from the R4 definitions (`crate::fhir::definitions`), so nodes carry
//! their FHIR type (`HumanName`, `Reference`, `CodeableConcept`, `dateTime`, `Period`, ...;
//! choice elements by their suffix, `valueQuantity` -> `Quantity`; contained and Bundle
//! resources by `resourceType`); for elements the definitions do not know, types are
//! inferred from choice suffixes and `resourceType`.
//!
//! `resolve()` does not fetch anything: a local `#id` reference yields the contained
//! resource; any other reference yields `Item::Resolved` typed by the reference's resource
//! type (from `Type/id`, an absolute URL ending in `Type/id[/_history/v]`, or
//! `Reference.type`), which is what `where(resolve() is Patient)` needs.
//!
//! Decimals are exact (`Dec`: i128 mantissa + scale), so `1.0 = 1.00`; division is exact
//! long division rounded to 8 places; only `sqrt`/`exp`/`ln`/`log`/non-integer `power` go
//! through f64. Dates compare with precision (`@2012 < @2012-05` is empty) and time zones.
//! Quantities compare across common UCUM units (mass, length, time, volume).
//!
//! Not supported (error): `memberOf`, `conformsTo`, `subsumes`, `defineVariable`, `%vs-*`
//! and `%ext-*` constants; no static (semantic) type checking of paths.
use serde_json::Value;

use crate::fhir::definitions::{Definitions, TypeDef};

mod eval;
mod funcs;
mod funcs_bound;
mod funcs_more;
mod nav;
mod ops;
mod parser;
mod value;
#[cfg(test)]
mod tests_hl7;
#[cfg(test)]
mod tests_sp;

pub use parser::{Ast, TypeSpec};
pub use value::{Dec, Temporal};

/// A parsed expression: reusable, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Expr {
    ast: Ast,
    text: String,
}

impl Expr {
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// An element of the input resource, with its FHIR type where known.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub value: &'a Value,
    /// FHIR type name (`HumanName`, `dateTime`, `Patient`, `BackboneElement`, ...).
    pub type_name: Option<&'a str>,
    /// Definition and element path whose children describe this node's members.
    pub(crate) def: Option<(&'static TypeDef, &'static str)>,
    /// For a primitive: the object of its `_name` sibling (`id`, `extension`). A primitive
    /// that only has extensions appears with `value` = `Value::Null`.
    pub ext: Option<&'a Value>,
}

/// One item of a FHIRPath collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    Node(Node<'a>),
    Bool(bool),
    Int(i64),
    Decimal(Dec),
    Str(String),
    /// Partial date text, e.g. `2014-01` (no `@`).
    Date(String),
    DateTime(String),
    /// Time text without `T`, e.g. `12:00`.
    Time(String),
    Quantity { value: Dec, unit: String },
    /// What `resolve()` yields: the target known only by its type and reference text.
    Resolved { type_name: String, reference: String },
    /// What `type()` yields.
    TypeInfo { namespace: &'static str, name: String },
}

impl<'a> Item<'a> {
    pub fn node(&self) -> Option<&Node<'a>> {
        match self {
            Item::Node(n) => Some(n),
            _ => None,
        }
    }
}

/// The FHIR type of an item (`Coding`, `CodeableConcept`, `dateTime`, ...) or, for values
/// computed by the expression, the System type (`Boolean`, `String`, `Quantity`, ...).
pub fn type_of<'x>(item: &'x Item<'_>) -> Option<&'x str> {
    match item {
        Item::Node(n) => n.type_name,
        Item::Resolved { type_name, .. } => Some(type_name),
        other => Some(ops::system_type(other)),
    }
}

/// The string form of a single value, as `toString()` gives it (a FHIR primitive's JSON
/// text, a decimal with its precision, a quantity as `5.4 'mg'`); `None` for complex nodes.
pub fn item_text(item: &Item<'_>) -> Option<String> {
    funcs_more::to_string(item)
}

/// The FHIR definitions used for element types.
pub(crate) fn defs() -> &'static Definitions {
    Definitions::r4()
}

pub fn parse(text: &str) -> Result<Expr, String> {
    Ok(Expr { ast: parser::parse_ast(text)?, text: text.to_string() })
}

/// Evaluates against a resource (which is `%resource`, `%context` and the initial focus).
pub fn evaluate<'a>(expr: &Expr, resource: &'a Value) -> Result<Vec<Item<'a>>, String> {
    let root = nav::root_node(resource);
    let env = eval::Env::new(root);
    eval::eval(&expr.ast, std::slice::from_ref(&env.root), &env)
}

/// Evaluates with `context` (an item obtained from an earlier evaluation on `resource`, e.g. an
/// `Observation.component`) as the focus and `%context`; `%resource` is `resource`. Unlike
/// `evaluate(expr, node.value)`, the context keeps its FHIR type, so its children are typed
/// (this is how composite search parameter components should be evaluated).
pub fn evaluate_item<'a>(expr: &Expr, context: &Item<'a>, resource: &'a Value) -> Result<Vec<Item<'a>>, String> {
    let mut env = eval::Env::new(nav::root_node(resource));
    env.this = context.clone();
    env.context = context.clone();
    eval::eval(&expr.ast, std::slice::from_ref(context), &env)
}

/// Parses and evaluates in one step (convenience for tests and one-off use).
pub fn eval_str<'a>(text: &str, resource: &'a Value) -> Result<Vec<Item<'a>>, String> {
    evaluate(&parse(text)?, resource)
}
