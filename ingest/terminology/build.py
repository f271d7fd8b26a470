#!/usr/bin/env python3
"""Builds the terminology subsets shipped with Hearth's $ingest-document from the official
FHIR R4 examples package (hl7.fhir.r4.examples@4.0.1, fetched by scripts/fetch-r4-package.sh
into .cache/). Every code/display pair in these TSVs appears in that package (CodeSystem,
ValueSet expansions, example resources). Nothing comes from the test corpus.

Usage: python3 ingest/terminology/build.py [.cache/hl7.fhir.r4.examples/package]
Writes ingest/terminology/{loinc,snomed,cvx,rxnorm}.tsv: code<TAB>display, sorted by code.

ICD-10-CM (public domain, CDC/CMS) comes from the CMS tabular list XML shipped by the PyPI
package simple-icd-10-cm (`pip install simple-icd-10-cm==1.5.0`; or set ICD10CM_XML to a
tabular XML file): see icd10cm.py.
"""
import glob, json, os, re, sys

from icd10cm import build_icd10cm

SYSTEMS = {
    "http://loinc.org": "loinc",
    "http://snomed.info/sct": "snomed",
    "http://hl7.org/fhir/sid/cvx": "cvx",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
}
# SNOMED: only concepts a clinical document names as a condition, procedure, allergy
# substance or finding (the semantic tag says which); keeps the file small.
SNOMED_TAGS = re.compile(r"\((disorder|finding|procedure|substance|situation|regime/therapy)\)\s*$")


def walk(v, out):
    if isinstance(v, dict):
        s = v.get("system")
        code, disp = v.get("code"), v.get("display")
        if isinstance(s, str) and s in SYSTEMS and isinstance(code, str) and isinstance(disp, str):
            disp = " ".join(disp.split())
            if disp and "\t" not in code:
                out[SYSTEMS[s]].setdefault(code, disp)
        # CodeSystem.concept has no system on each concept
        for x in v.values():
            walk(x, out)
    elif isinstance(v, list):
        for x in v:
            walk(x, out)


def main():
    pkg = sys.argv[1] if len(sys.argv) > 1 else ".cache/hl7.fhir.r4.examples/package"
    out = {k: {} for k in SYSTEMS.values()}
    for f in sorted(glob.glob(os.path.join(pkg, "*.json"))):
        try:
            with open(f, encoding="utf-8") as fh:
                walk(json.load(fh), out)
        except (ValueError, UnicodeDecodeError):
            continue
    here = os.path.dirname(os.path.abspath(__file__))
    for name, codes in out.items():
        if name == "snomed":
            codes = {c: d for c, d in codes.items() if SNOMED_TAGS.search(d)}
        if name == "loinc":
            codes = {c: d for c, d in codes.items() if not c.startswith("LA") and not c.startswith("LP")}
        with open(os.path.join(here, f"{name}.tsv"), "w", encoding="utf-8") as fh:
            fh.write(f"# {name} subset from hl7.fhir.r4.examples@4.0.1 (ingest/terminology/build.py)\n")
            for c in sorted(codes):
                fh.write(f"{c}\t{codes[c]}\n")
        print(name, len(codes))
    print("icd10cm", build_icd10cm(here))


if __name__ == "__main__":
    main()
