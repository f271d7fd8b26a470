#!/usr/bin/env python3
"""Sanity-check every *.truth.json against the schema and (loosely) against its .txt.
Prints warnings; exit code 1 on schema errors. Loose text checks are heuristics only."""
import json, re, sys, pathlib

ROOT = pathlib.Path(__file__).resolve().parent
TOP = ["patient", "encounterDate", "conditions", "negated", "familyHistory", "medications",
       "allergies", "vitals", "labs", "immunizations", "procedures"]
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ONSET = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
VT = {"systolic", "diastolic", "heart-rate", "resp-rate", "temperature", "spo2", "weight", "height", "bmi"}
errors = 0

def err(f, m):
    global errors
    errors += 1
    print(f"ERROR {f}: {m}")

def num_in_text(v, text):
    s = ("%g" % v)
    return re.search(r"(?<![\d.])" + re.escape(s) + r"(?![\d])", text) or (s + ".0") in text

for fam in ["discharge", "soap", "transcript", "intake_lab"]:
    for tf in sorted((ROOT / fam).glob("*.truth.json")):
        name = f"{fam}/{tf.name}"
        t = json.loads(tf.read_text())
        text = (tf.parent / tf.name.replace(".truth.json", ".txt")).read_text()
        low = text.lower()
        if list(t.keys()) != TOP:
            err(name, f"top-level keys {list(t.keys())}")
        p = t["patient"]
        if set(p) != {"family", "given", "birthDate", "gender", "mrn"}: err(name, "patient keys")
        if not DATE.match(p["birthDate"]): err(name, "birthDate")
        if p["gender"] not in ("male", "female", "other", "unknown", None): err(name, "gender")
        if p["family"].lower() not in low: err(name, "family name not in text")
        for g in p["given"]:
            if g.lower() not in low: err(name, f"given {g} not in text")
        if p["mrn"] and fam != "transcript" and p["mrn"].lower() not in low: err(name, "mrn not in text")
        if t["encounterDate"] is not None and not DATE.match(t["encounterDate"]): err(name, "encounterDate")
        for c in t["conditions"]:
            if set(c) != {"text", "status", "onset"} or c["status"] not in ("active", "resolved", "history"): err(name, f"condition {c}")
            if c["onset"] and not ONSET.match(c["onset"]): err(name, f"onset {c}")
        for fh in t["familyHistory"]:
            if set(fh) != {"relation", "text"}: err(name, f"fh {fh}")
        for m in t["medications"]:
            if set(m) != {"text", "ingredient", "strength", "dose", "route", "frequency", "status"} or m["status"] not in ("active", "stopped", "completed"):
                err(name, f"med {m}")
        for a in t["allergies"]:
            if set(a) != {"substance", "reaction"}: err(name, f"allergy {a}")
            elif a["substance"].split(" (")[0].lower() not in low: print(f"warn {name}: allergy substance {a['substance']!r} not verbatim")
        for v in t["vitals"]:
            if set(v) != {"type", "value", "unit"} or v["type"] not in VT or not isinstance(v["value"], (int, float)): err(name, f"vital {v}")
            elif fam != "transcript" and not num_in_text(v["value"], text): print(f"warn {name}: vital value {v} not verbatim")
        for l in t["labs"]:
            if set(l) != {"test", "value", "unit", "flag"} or l["flag"] not in ("H", "L", "N", None): err(name, f"lab {l}")
            elif fam != "transcript" and isinstance(l["value"], (int, float)) and not num_in_text(l["value"], text): print(f"warn {name}: lab value {l} not verbatim")
        for i in t["immunizations"]:
            if set(i) != {"vaccine", "date"} or (i["date"] and not DATE.match(i["date"])): err(name, f"imm {i}")
        for pr in t["procedures"]:
            if set(pr) != {"text", "date"} or (pr["date"] and not DATE.match(pr["date"])): err(name, f"proc {pr}")
print("errors:", errors)
sys.exit(1 if errors else 0)
