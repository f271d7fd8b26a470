//! Structural validation of FHIR R4 JSON resources, driven entirely by the definitions in
//! [`crate::fhir::definitions`]: no per-resource-type code.
//!
//! Checks: resourceType, unknown/empty elements, JSON shapes (array vs single), cardinality,
//! choice types, primitive formats (regexes + calendar validity), the `_name` primitive
//! extension form, nested datatypes/backbone elements/content references, contained and
//! nested resources, Extension shape (ext-1) and required ValueSet bindings.
//! FHIRPath invariants other than ext-1 are not evaluated.
use crate::fhir::definitions::{Definitions, ElementDef, Kind, TypeDef};
use crate::fhir::outcome::Issue;
use serde_json::{Map, Value};

mod codes;
mod primitive;
mod reference;
#[cfg(test)]
mod examples_test;
#[cfg(test)]
mod tests;

/// Maximum nesting of JSON objects inside one resource (including nested resources).
const MAX_DEPTH: usize = 64;

/// Validate one resource; returns every issue found (errors and warnings).
pub fn validate_resource(defs: &Definitions, resource: &Value) -> Vec<Issue> {
    let mut v = Validator { defs, issues: Vec::new() };
    v.resource(resource, "", 0, false);
    v.issues
}

struct Validator<'d> {
    defs: &'d Definitions,
    issues: Vec<Issue>,
}

/// What a JSON property maps to once its element definition is resolved.
enum Target<'d> {
    /// Children defined inline in `td` below `path` (BackboneElement, contentReference).
    Inline(&'d TypeDef, &'d str),
    Complex(&'d TypeDef),
    Primitive(&'d TypeDef),
    Resource,
}

/// One element found in a JSON object: its value and/or its `_name` primitive extension.
struct Found<'v> {
    key: &'v str,
    elem: usize,
    ty: usize,
    value: Option<&'v Value>,
    ext: Option<&'v Value>,
}

impl<'d> Validator<'d> {
    fn error(&mut self, code: &'static str, expr: &str, msg: impl Into<String>) {
        self.issues.push(Issue::error(code, msg).at(expr));
    }

    fn resource(&mut self, value: &Value, prefix: &str, depth: usize, contained: bool) {
        let here = if prefix.is_empty() { "Resource" } else { prefix };
        let Some(obj) = value.as_object() else {
            self.error("structure", here, "A resource must be a JSON object");
            return;
        };
        let rt = match obj.get("resourceType") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                self.error("structure", here, "resourceType must be a string");
                return;
            }
            None => {
                self.error("required", here, "Missing resourceType");
                return;
            }
        };
        let defs = self.defs;
        let td = match defs.type_def(rt) {
            Some(td) if defs.is_resource_type(rt) => td,
            _ => {
                self.error("invalid", here, format!("Unknown resource type '{rt}'"));
                return;
            }
        };
        let expr = if prefix.is_empty() { rt.to_string() } else { format!("{prefix}.ofType({rt})") };
        if contained && obj.contains_key("contained") {
            self.error(
                "invalid",
                &format!("{expr}.contained"),
                "A contained resource must not contain other resources (dom-2)",
            );
        }
        self.object(td, &td.name, obj, &expr, depth + 1, true, false);
    }

    /// Validate a JSON object against the children of `path` in `td`.
    #[allow(clippy::too_many_arguments)]
    fn object(
        &mut self,
        td: &'d TypeDef,
        path: &str,
        obj: &Map<String, Value>,
        expr: &str,
        depth: usize,
        resource_root: bool,
        primitive_ext: bool,
    ) {
        if depth > MAX_DEPTH {
            self.error("structure", expr, format!("Elements nested deeper than {MAX_DEPTH} levels"));
            return;
        }
        if obj.is_empty() {
            self.error("structure", expr, "Empty objects are not allowed in FHIR JSON");
            return;
        }
        let Some(children) = td.children_of(path) else {
            self.error("invalid", expr, format!("No definition for element '{path}'"));
            return;
        };
        let mut found: Vec<Found> = Vec::with_capacity(obj.len());
        for (key, val) in obj {
            if resource_root && key == "resourceType" {
                continue;
            }
            let (name, is_ext) = match key.strip_prefix('_') {
                Some(n) => (n, true),
                None => (key.as_str(), false),
            };
            let hit = children.keys.get(name).copied();
            let Some((elem, ty)) = hit.filter(|_| !(primitive_ext && name == "value")) else {
                self.error("structure", &format!("{expr}.{key}"), format!("Unknown element '{key}'"));
                continue;
            };
            if let Some(f) = found.iter_mut().find(|f| f.key == name) {
                if is_ext {
                    f.ext = Some(val);
                } else {
                    f.value = Some(val);
                }
            } else {
                found.push(Found {
                    key: name,
                    elem,
                    ty,
                    value: (!is_ext).then_some(val),
                    ext: is_ext.then_some(val),
                });
            }
        }
        // cardinality: required elements and at most one variant of a choice
        for &ei in &children.elements {
            let e = &td.elements[ei];
            let n = found.iter().filter(|f| f.elem == ei).count();
            if n == 0 && e.min > 0 && !(primitive_ext && e.name == "value") {
                let shown = if e.is_choice { format!("{}[x]", e.name) } else { e.name.clone() };
                self.error(
                    "required",
                    &format!("{expr}.{}", e.name),
                    format!("Missing required element '{shown}' (min {})", e.min),
                );
            }
            if n > 1 {
                self.error(
                    "structure",
                    &format!("{expr}.{}", e.name),
                    format!("Only one of the choice types '{}[x]' may be present", e.name),
                );
            }
            if n > 0 && e.max == Some(0) {
                self.error("structure", &format!("{expr}.{}", e.name), "Element is not allowed (max 0)");
            }
        }
        for f in &found {
            self.element(td, f, expr, depth);
        }
        if td.name == "Extension" && path == "Extension" {
            self.ext_1(obj, expr);
        }
    }

    /// ext-1: an extension has either a value[x] or nested extensions, not both.
    fn ext_1(&mut self, obj: &Map<String, Value>, expr: &str) {
        let has_value = obj.keys().any(|k| k.starts_with("value") || k.starts_with("_value"));
        let has_ext = obj.contains_key("extension");
        if has_value == has_ext {
            self.error(
                "invalid",
                expr,
                "Extension must have either extensions or value[x], not both (ext-1)",
            );
        }
    }

    fn target(&mut self, td: &'d TypeDef, e: &'d ElementDef, ty: usize, expr: &str) -> Option<Target<'d>> {
        if let Some(cr) = &e.content_reference {
            return Some(Target::Inline(td, cr.as_str()));
        }
        let tname = e.types.get(ty).map(String::as_str).unwrap_or("");
        if (tname == "BackboneElement" || tname == "Element") && td.has_children(&e.path) {
            return Some(Target::Inline(td, e.path.as_str()));
        }
        match self.defs.type_def(tname) {
            Some(t) if t.kind == Kind::Primitive => Some(Target::Primitive(t)),
            Some(t) if t.kind == Kind::Resource => Some(Target::Resource),
            Some(t) => Some(Target::Complex(t)),
            None => {
                self.error("invalid", expr, format!("No definition for type '{tname}'"));
                None
            }
        }
    }

    fn element(&mut self, td: &'d TypeDef, f: &Found, parent: &str, depth: usize) {
        let e = &td.elements[f.elem];
        let expr = format!("{parent}.{}", f.key);
        let Some(target) = self.target(td, e, f.ty, &expr) else { return };
        if let Target::Primitive(ptd) = target {
            self.primitive_element(e, ptd, f, &expr, depth);
            return;
        }
        if f.ext.is_some() {
            self.error(
                "structure",
                &format!("{parent}._{}", f.key),
                format!("'_{}' is only allowed for primitive elements", f.key),
            );
        }
        let Some(value) = f.value else { return };
        if e.is_single() {
            if value.is_array() {
                self.error("structure", &expr, format!("'{}' must be a single value, not an array", f.key));
                return;
            }
            self.complex_item(e, &target, value, &expr, f.key, depth);
        } else {
            let Some(items) = value.as_array() else {
                self.error("structure", &expr, format!("'{}' must be an array", f.key));
                return;
            };
            if items.is_empty() {
                self.error("structure", &expr, "Empty arrays are not allowed in FHIR JSON");
            }
            self.check_max(e, items.len(), &expr);
            for (i, item) in items.iter().enumerate() {
                self.complex_item(e, &target, item, &format!("{expr}[{i}]"), f.key, depth);
            }
        }
    }

    fn complex_item(&mut self, e: &ElementDef, target: &Target<'d>, v: &Value, expr: &str, key: &str, depth: usize) {
        if let Target::Resource = target {
            self.resource(v, expr, depth, key == "contained");
            return;
        }
        let Some(obj) = v.as_object() else {
            let what = if v.is_null() { "null" } else { "a non-object value" };
            self.error("structure", expr, format!("'{key}' must be a JSON object, found {what}"));
            return;
        };
        match target {
            Target::Inline(td, path) => self.object(td, path, obj, expr, depth + 1, false, false),
            Target::Complex(ctd) => {
                self.object(ctd, &ctd.name, obj, expr, depth + 1, false, false);
                if let Some(url) = &e.binding {
                    codes::check_complex(self, &ctd.name, url, obj, expr);
                }
                if ctd.name == "Reference" {
                    reference::check_target(self, e, obj, expr);
                }
            }
            Target::Primitive(_) | Target::Resource => {}
        }
    }

    fn primitive_element(&mut self, e: &ElementDef, ptd: &'d TypeDef, f: &Found, expr: &str, depth: usize) {
        let ext_expr = expr;
        if e.is_single() {
            if let Some(v) = f.value {
                if v.is_array() {
                    self.error("structure", expr, format!("'{}' must be a single value, not an array", f.key));
                } else {
                    self.primitive_value(e, ptd, v, expr);
                }
            }
            if let Some(x) = f.ext {
                self.primitive_ext(ptd, x, ext_expr, f.key, depth);
            }
            return;
        }
        let values = match f.value {
            Some(Value::Array(a)) => Some(a),
            Some(_) => {
                self.error("structure", expr, format!("'{}' must be an array", f.key));
                return;
            }
            None => None,
        };
        let exts = match f.ext {
            Some(Value::Array(a)) => Some(a),
            Some(_) => {
                self.error("structure", expr, format!("'_{}' must be an array", f.key));
                return;
            }
            None => None,
        };
        if let (Some(vs), Some(xs)) = (values, exts) {
            if vs.len() != xs.len() {
                self.error(
                    "structure",
                    expr,
                    format!("'{0}' and '_{0}' arrays must have the same length", f.key),
                );
                return;
            }
        }
        let len = values.map_or(0, Vec::len).max(exts.map_or(0, Vec::len));
        if len == 0 {
            self.error("structure", expr, "Empty arrays are not allowed in FHIR JSON");
        }
        self.check_max(e, len, expr);
        for i in 0..len {
            let item_expr = format!("{expr}[{i}]");
            let v = values.and_then(|a| a.get(i)).filter(|v| !v.is_null());
            let x = exts.and_then(|a| a.get(i)).filter(|v| !v.is_null());
            if v.is_none() && x.is_none() {
                self.error("structure", &item_expr, "Null array entry without a value or extension");
            }
            if let Some(v) = v {
                self.primitive_value(e, ptd, v, &item_expr);
            }
            if let Some(x) = x {
                self.primitive_ext(ptd, x, &item_expr, f.key, depth);
            }
        }
    }

    fn check_max(&mut self, e: &ElementDef, len: usize, expr: &str) {
        if let Some(max) = e.max {
            if len > max as usize {
                self.error("structure", expr, format!("At most {max} values allowed, found {len}"));
            }
        }
    }

    fn primitive_value(&mut self, e: &ElementDef, ptd: &TypeDef, v: &Value, expr: &str) {
        if let Err((code, msg)) = primitive::check(ptd, v) {
            self.error(code, expr, msg);
            return;
        }
        if let (Some(url), Value::String(s)) = (&e.binding, v) {
            codes::check_code(self, url, s, expr);
        }
    }

    fn primitive_ext(&mut self, ptd: &'d TypeDef, x: &Value, expr: &str, key: &str, depth: usize) {
        match x.as_object() {
            Some(obj) => self.object(ptd, &ptd.name, obj, expr, depth + 1, false, true),
            None => self.error("structure", expr, format!("'_{key}' must be a JSON object")),
        }
    }
}
