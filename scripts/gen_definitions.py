#!/usr/bin/env python3
"""Generate Hearth's compact FHIR R4 definitions from the official package.

Usage:
    scripts/fetch-r4-package.sh                # once: downloads hl7.fhir.r4.examples@4.0.1
    python3 scripts/gen_definitions.py [PACKAGE_DIR] [OUT_DIR]

PACKAGE_DIR defaults to .cache/hl7.fhir.r4.examples/package, OUT_DIR to definitions/r4
(both relative to the repository root). Python 3 standard library only. The output is
deterministic (sorted, minified JSON): re-running on the same package gives the same bytes.

Writes:
  structure.json          resource types + reduced snapshots of base types/resources
  valuesets.json          expansions of every ValueSet used by a required binding
  search-parameters.json  all SearchParameters, reduced (the 3 package examples carry
                          "example": true so a search engine can skip them)
  compartments.json       the 5 spec CompartmentDefinitions, reduced
"""
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def load_all(pkg, prefix):
    out = []
    for f in sorted(glob.glob(os.path.join(pkg, prefix + "-*.json"))):
        with open(f, encoding="utf-8") as fh:
            out.append(json.load(fh))
    return out


def strip_version(url):
    return url.split("|", 1)[0]


def ext_value(obj, url):
    for e in obj.get("extension", []):
        if e.get("url") == url:
            for k, v in e.items():
                if k.startswith("value"):
                    return v
    return None


def type_code(t):
    """FHIR type name of an ElementDefinition.type (System.* codes mapped via extension)."""
    code = t.get("code", "")
    if code.startswith("http://hl7.org/fhirpath/System."):
        return ext_value(t, FHIR_TYPE_EXT) or code
    return code


def json_kind(sd):
    """JSON representation of a primitive type: bool, int, num or str."""
    for e in sd["snapshot"]["element"]:
        if e["path"] == sd["type"] + ".value":
            code = e["type"][0]["code"]
            return {"http://hl7.org/fhirpath/System.Boolean": "bool",
                    "http://hl7.org/fhirpath/System.Integer": "int",
                    "http://hl7.org/fhirpath/System.Decimal": "num"}.get(code, "str")
    return "str"


def primitive_regex(sd):
    for e in sd["snapshot"]["element"]:
        if e["path"] == sd["type"] + ".value":
            for t in e.get("type", []):
                r = ext_value(t, REGEX_EXT)
                if r:
                    return r
    return None


def reduce_element(sd, e, required_vs):
    out = {"p": e["path"], "min": e.get("min", 0), "max": e.get("max", "*")}
    types = []
    for t in e.get("type", []):
        code = type_code(t)
        # Resource.id is of type id (the R4 snapshot only says System.String / string)
        if sd["kind"] == "resource" and e["path"].count(".") == 1 and e["path"].endswith(".id"):
            code = "id"
        if code not in types:
            types.append(code)
        if code == "Reference" and t.get("targetProfile"):
            out["tp"] = sorted({p[len(SD_PREFIX):] if p.startswith(SD_PREFIX) else p
                                for p in t["targetProfile"]})
    if types:
        out["t"] = types
    if e.get("contentReference"):
        out["cr"] = e["contentReference"].lstrip("#")
    b = e.get("binding")
    if b and b.get("strength") == "required" and b.get("valueSet"):
        url = strip_version(b["valueSet"])
        out["b"] = url
        required_vs.add(url)
    if e.get("isSummary"):
        out["s"] = True
    return out


def gen_structure(pkg):
    types = {}
    required_vs = set()
    for sd in load_all(pkg, "StructureDefinition"):
        if sd.get("derivation") == "constraint":
            continue
        if sd.get("kind") not in ("primitive-type", "complex-type", "resource"):
            continue
        base = sd.get("baseDefinition")
        t = {
            "name": sd["name"],
            "kind": sd["kind"],
            "abstract": bool(sd.get("abstract", False)),
            "base": base[len(SD_PREFIX):] if base and base.startswith(SD_PREFIX) else base,
            "elements": [reduce_element(sd, e, required_vs) for e in sd["snapshot"]["element"]],
        }
        if sd["kind"] == "primitive-type":
            # unsignedInt/positiveInt declare System.String values in R4 but are JSON numbers
            t["json"] = "int" if t["base"] == "integer" else json_kind(sd)
            r = primitive_regex(sd)
            if r:
                t["regex"] = r
        types[sd["type"]] = t
    resource_types = sorted(n for n, t in types.items() if t["kind"] == "resource" and not t["abstract"])
    return {"resourceTypes": resource_types, "types": types}, required_vs


# ---------------------------------------------------------------- value sets

class NotEnumerable(Exception):
    pass


def flatten_concepts(concepts, parent=None, out=None):
    """[(code, parent_code)] for a (possibly nested) concept list, in document order."""
    if out is None:
        out = []
    for c in concepts or []:
        out.append((c["code"], parent))
        for p in c.get("property", []):
            if p.get("code") in ("subsumedBy", "parent") and "valueCode" in p:
                out.append((c["code"], p["valueCode"]))
        flatten_concepts(c.get("concept"), c["code"], out)
    return out


def descendants(cs, root, include_self):
    pairs = flatten_concepts(cs.get("concept"))
    children = {}
    for code, parent in pairs:
        if parent is not None:
            children.setdefault(parent, set()).add(code)
    result = {root} if include_self else set()
    stack = [root]
    seen = set()
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        for ch in children.get(c, ()):
            result.add(ch)
            stack.append(ch)
    return result


def expand_include(inc, codesystems, valuesets, stack):
    """Set of (system, code) for one compose.include / exclude entry."""
    result = None
    system = inc.get("system")
    if system:
        cs = codesystems.get(system)
        if inc.get("concept"):
            codes = {(system, c["code"]) for c in inc["concept"]}
        else:
            if cs is None:
                raise NotEnumerable("code system %s not in package" % system)
            if cs.get("content") not in ("complete", None):
                raise NotEnumerable("code system %s content=%s" % (system, cs.get("content")))
            all_codes = {c for c, _ in flatten_concepts(cs.get("concept"))}
            if not inc.get("filter"):
                codes = {(system, c) for c in all_codes}
            else:
                selected = set(all_codes)
                for f in inc["filter"]:
                    op, prop, value = f.get("op"), f.get("property"), f.get("value")
                    if prop == "concept" and op == "is-a":
                        selected &= descendants(cs, value, True)
                    elif prop == "concept" and op == "descendent-of":
                        selected &= descendants(cs, value, False)
                    elif prop == "concept" and op == "is-not-a":
                        selected -= descendants(cs, value, True)
                    else:
                        raise NotEnumerable("unsupported filter %s %s on %s" % (prop, op, system))
                codes = {(system, c) for c in selected}
        result = codes
    for vs_url in inc.get("valueSet", []):
        sub = expand_valueset(strip_version(vs_url), codesystems, valuesets, stack)
        result = sub if result is None else (result & sub)
    if result is None:
        raise NotEnumerable("empty include")
    return result


def expand_valueset(url, codesystems, valuesets, stack=()):
    if url in stack:
        raise NotEnumerable("cyclic value set %s" % url)
    vs = valuesets.get(url)
    if vs is None:
        raise NotEnumerable("value set %s not in package" % url)
    compose = vs.get("compose")
    if not compose:
        raise NotEnumerable("value set %s has no compose" % url)
    stack = stack + (url,)
    codes = set()
    for inc in compose.get("include", []):
        codes |= expand_include(inc, codesystems, valuesets, stack)
    for exc in compose.get("exclude", []):
        codes -= expand_include(exc, codesystems, valuesets, stack)
    return codes


def gen_valuesets(pkg, urls):
    codesystems = {cs["url"]: cs for cs in load_all(pkg, "CodeSystem") if "url" in cs}
    valuesets = {vs["url"]: vs for vs in load_all(pkg, "ValueSet") if "url" in vs}
    out = {}
    for url in sorted(urls):
        try:
            codes = expand_valueset(url, codesystems, valuesets)
            by_system = {}
            for system, code in codes:
                by_system.setdefault(system, []).append(code)
            out[url] = {"codes": {s: sorted(c) for s, c in sorted(by_system.items())}}
        except NotEnumerable as e:
            out[url] = {"notEnumerable": str(e)}
    return out


# ---------------------------------------------------------------- search + compartments

def gen_search_parameters(pkg):
    out = []
    for sp in load_all(pkg, "SearchParameter"):
        r = {"url": sp["url"], "code": sp["code"], "base": sp.get("base", []), "type": sp["type"]}
        for k in ("expression", "target", "modifier", "comparator", "multipleOr",
                  "multipleAnd", "chain"):
            if k in sp:
                r[k] = sp[k]
        if sp["id"].startswith("example"):
            r["example"] = True  # illustrative examples in the package, not part of the spec
        if "component" in sp:
            r["component"] = [{"definition": c.get("definition"), "expression": c.get("expression")}
                              for c in sp["component"]]
        out.append(r)
    out.sort(key=lambda r: r["url"])
    return out


def gen_compartments(pkg):
    out = []
    for cd in load_all(pkg, "CompartmentDefinition"):
        if cd["id"] == "example":
            continue  # an illustrative example, not one of the 5 spec compartments
        out.append({"code": cd["code"], "url": cd["url"],
                    "resource": [{"code": r["code"], "param": r.get("param", [])}
                                 for r in sorted(cd.get("resource", []), key=lambda r: r["code"])]})
    out.sort(key=lambda c: c["code"])
    return out


def write(path, data):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        fh.write("\n")


def main():
    pkg = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".cache/hl7.fhir.r4.examples/package")
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "definitions/r4")
    if not os.path.exists(os.path.join(pkg, "StructureDefinition-Patient.json")):
        sys.exit("package not found at %s (run scripts/fetch-r4-package.sh)" % pkg)
    os.makedirs(out_dir, exist_ok=True)
    structure, required_vs = gen_structure(pkg)
    write(os.path.join(out_dir, "structure.json"), structure)
    write(os.path.join(out_dir, "valuesets.json"), gen_valuesets(pkg, required_vs))
    write(os.path.join(out_dir, "search-parameters.json"), gen_search_parameters(pkg))
    write(os.path.join(out_dir, "compartments.json"), gen_compartments(pkg))
    for f in sorted(os.listdir(out_dir)):
        print("%-26s %8d bytes" % (f, os.path.getsize(os.path.join(out_dir, f))))


if __name__ == "__main__":
    main()
