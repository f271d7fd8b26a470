#!/usr/bin/env python3
"""Renders clinical documents (text-layer PDFs) with known ground truth from Synthea patient
Bundles, for evaluating $ingest-document.

Usage: python3 ingest/corpus/generate.py SYNTHEA_DIR OUT_DIR [COUNT]
For each patient: OUT_DIR/NNN-<layout>.pdf and OUT_DIR/NNN-<layout>.truth.json. The truth
holds exactly what was rendered, normalised (dates YYYY-MM-DD, numbers as text).
Three layouts (clinic note, visit summary, discharge summary) differ in headings, labels,
date formats, two-column label pairs and table vs. one-line-per-item lists.
Fields Synthea does not have (emergency contact, insurance member id and group, discharge
disposition, alcohol use, family history, assessment) are drawn from fixed lists with a
generator seeded by the source file name; insurance payers come from the patient's claims
and medication dose/frequency from the MedicationRequest dosage (route from the form).
"""
import bz2, hashlib, json, os, random, re, sys
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pdfwriter import Pdf, PAGE_H, text_width  # noqa: E402

MARITAL = {"M": "Married", "S": "Never Married", "D": "Divorced", "W": "Widowed"}
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
# Reference ranges printed for a few common labs (generator-side knowledge; the truth holds
# whatever is printed).
RANGES = {
    "Hemoglobin [Mass/volume] in Blood": (12.0, 17.5),
    "Hematocrit [Volume Fraction] of Blood by Automated count": (36.0, 50.0),
    "Glucose": (70.0, 99.0),
    "Sodium": (135.0, 145.0),
    "Potassium": (3.5, 5.1),
    "Creatinine": (0.6, 1.3),
    "Total Cholesterol": (0.0, 200.0),
    "Platelets [#/volume] in Blood by Automated count": (150.0, 450.0),
}


RELATIONS = ["Spouse", "Daughter", "Son", "Sister", "Brother", "Mother", "Father"]
GIVEN = ["Maria", "James", "Linda", "Robert", "Susan", "Michael", "Karen", "David", "Nancy", "Paul"]
DISPOSITIONS = ["Home", "Home with home health services", "Skilled nursing facility", "Rehabilitation facility"]
ALCOHOL = ["None", "Occasional", "1-2 drinks per week", "Former drinker", "3-4 drinks per week"]
FAMILY = [("Mother", "Hypertension"), ("Father", "Type 2 diabetes mellitus"), ("Mother", "Breast cancer"),
          ("Father", "Coronary heart disease"), ("Sister", "Asthma"), ("Brother", "Hyperlipidemia"),
          ("Maternal grandmother", "Stroke"), ("Paternal grandfather", "Colon cancer")]
ROUTES = [("oral", "oral"), ("tablet", "oral"), ("capsule", "oral"), ("inhal", "inhalation"), ("transdermal", "transdermal"),
          ("injection", "injection"), ("injectable", "injection"), ("nasal", "nasal"), ("topical", "topical"), ("prefilled syringe", "injection")]
PER = {"d": "day", "wk": "week", "h": "hour", "mo": "month"}


def seeded(name):
    return random.Random(int(hashlib.sha256(name.encode()).hexdigest()[:12], 16))


def dosage(m):
    """(dose, route, frequency) printed for a MedicationRequest."""
    name = m.get("medicationCodeableConcept", {}).get("text", "").lower()
    route = next((r for k, r in ROUTES if k in name), "")
    di = (m.get("dosageInstruction") or [{}])[0]
    dq = ((di.get("doseAndRate") or [{}])[0]).get("doseQuantity", {}).get("value")
    dose = num(dq) if dq is not None else ""
    rep = di.get("timing", {}).get("repeat", {})
    freq = ""
    if rep.get("frequency") and rep.get("periodUnit") in PER:
        period = num(rep.get("period", 1))
        unit = PER[rep["periodUnit"]]
        freq = f"{rep['frequency']} times per {unit}" if period == "1" else f"{rep['frequency']} times every {period} {unit}s"
        freq = freq.replace("1 times per", "once per")
    return dose, route, freq


def clean_name(s):
    return re.sub(r"\d+", "", s or "").strip()


def d(s):
    return (s or "")[:10]


def fmt_date(iso, layout):
    y, m, dd = iso.split("-")
    if layout == "summary":
        return f"{m}/{dd}/{y}"
    if layout == "discharge":
        return f"{MONTHS[int(m) - 1]} {int(dd)}, {y}"
    return iso


def num(v):
    v = round(float(v), 1)
    return str(int(v)) if v == int(v) else f"{v:.1f}"


def load(path):
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def extract(bundle):
    res = [e["resource"] for e in bundle.get("entry", [])]
    by = {}
    for r in res:
        by.setdefault(r["resourceType"], []).append(r)
    p = by["Patient"][0]
    name = p["name"][0]
    full = clean_name(" ".join(name.get("given", []) + [name.get("family", "")]))
    mrn = next((i["value"] for i in p.get("identifier", []) if i.get("type", {}).get("coding", [{}])[0].get("code") == "MR"), "")
    addr = p.get("address", [{}])[0]
    address = f"{', '.join(addr.get('line', []))}, {addr.get('city', '')}, {addr.get('state', '')} {addr.get('postalCode', '')}".strip()
    phone = next((t["value"] for t in p.get("telecom", []) if t.get("system") == "phone"), "")
    given = clean_name(name.get("given", [""])[0]).lower()
    family = re.sub(r"[^a-z]", "", clean_name(name.get("family", "")).lower())
    marital = MARITAL.get(p.get("maritalStatus", {}).get("coding", [{}])[0].get("code", ""), "")
    lang = p.get("communication", [{}])[0].get("language", {}).get("text", "")
    fields = {
        "patient.name": full,
        "patient.birthDate": p.get("birthDate", ""),
        "patient.gender": p.get("gender", "").capitalize(),
        "patient.mrn": mrn[:8].upper(),
        "patient.address": address,
        "patient.phone": phone,
        "patient.email": f"{given}.{family}@example.com",
        "patient.maritalStatus": marital,
        "patient.language": lang,
    }
    obs = by.get("Observation", [])
    # the visit: the latest encounter with vital signs
    encs = sorted(by.get("Encounter", []), key=lambda e: e["period"]["start"])
    vit_enc = {o.get("encounter", {}).get("reference", "").split(":")[-1] for o in obs if o.get("category", [{}])[0].get("coding", [{}])[0].get("code") == "vital-signs"}
    cand = [e for e in encs if e["id"] in vit_enc] or encs
    enc = cand[-1]
    part = (enc.get("participant") or [{}])[0].get("individual", {})
    npi = part.get("reference", "").split("|")[-1] if "us-npi" in part.get("reference", "") else ""
    fields.update({
        "encounter.date": d(enc["period"]["start"]),
        "encounter.type": re.sub(r"\s*\([^)]*\)$", "", enc.get("type", [{}])[0].get("text", "")),
        "encounter.facility": enc.get("serviceProvider", {}).get("display", ""),
        "encounter.attending": clean_name(part.get("display", "")),
        "encounter.npi": npi,
        "encounter.reason": re.sub(r"\s*\([^)]*\)$", "", (enc.get("reasonCode") or [{}])[0].get("coding", [{}])[0].get("display", "")),
        "encounter.dischargeDate": d(enc["period"].get("end", "")),
    })
    eref = enc["id"]
    vit = {}
    labs = []
    for o in obs:
        if o.get("encounter", {}).get("reference", "").split(":")[-1] != eref:
            continue
        cat = o.get("category", [{}])[0].get("coding", [{}])[0].get("code")
        disp = o["code"]["coding"][0]["display"]
        code = o["code"]["coding"][0]["code"]
        vq = o.get("valueQuantity")
        if cat == "vital-signs":
            key = {"8302-2": "height", "29463-7": "weight", "39156-5": "bmi", "8867-4": "heartRate", "9279-1": "respRate",
                   "8310-5": "temperature", "72514-3": "pain", "2708-6": "spo2", "59408-5": "spo2"}.get(code)
            if key and vq:
                vit[key] = num(vq["value"])
            if code == "85354-9":
                for c in o.get("component", []):
                    cc = c["code"]["coding"][0]["code"]
                    if cc == "8480-6":
                        vit["systolic"] = num(c["valueQuantity"]["value"])
                    if cc == "8462-4":
                        vit["diastolic"] = num(c["valueQuantity"]["value"])
        elif cat == "laboratory" and vq and len(labs) < 14:
            rng = RANGES.get(disp)
            v = float(vq["value"])
            flag = ""
            if rng:
                flag = "H" if v > rng[1] else ("L" if v < rng[0] else "")
            labs.append({"name": disp, "value": num(v), "unit": vq.get("unit", ""),
                         "range": f"{num(rng[0])}-{num(rng[1])}" if rng else "", "flag": flag, "date": d(o.get("effectiveDateTime", ""))})
    for k, v in vit.items():
        fields["vitals." + k] = v
    smoke = [o for o in obs if o["code"]["coding"][0]["code"] == "72166-2" and "valueCodeableConcept" in o]
    if smoke:
        fields["social.smoking"] = re.sub(r"\s*\([^)]*\)$", "", smoke[-1]["valueCodeableConcept"].get("text", ""))
    fields["plan.followUp"] = "Return in 3 months" if len(encs) % 2 else "Return in 1 year"
    rng = seeded(p.get("id", full))
    rel = rng.choice(RELATIONS)
    fields["patient.emergencyContact"] = f"{rng.choice(GIVEN)} {clean_name(name.get('family', ''))} ({rel}) 555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    payers = [c.get("insurance", [{}])[0].get("coverage", {}).get("display", "") for c in by.get("Claim", [])]
    payers = [x for x in payers if x and x != "NO_INSURANCE"]
    if payers:
        fields["coverage.payer"] = payers[-1]
        fields["coverage.memberId"] = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ23456789") for _ in range(3)) + str(rng.randint(100000000, 999999999))
        fields["coverage.group"] = f"G{rng.randint(10000, 99999)}"
    fields["encounter.disposition"] = rng.choice(DISPOSITIONS)
    fields["social.alcohol"] = rng.choice(ALCOHOL)
    reason = fields.get("encounter.reason") or fields.get("encounter.type") or "Routine visit"
    fields["plan.assessment"] = f"{reason}, stable"

    def uniq(items, limit):
        seen, out = set(), []
        for it in reversed(items):
            if it["name"].lower() in seen or not it["name"]:
                continue
            seen.add(it["name"].lower())
            out.append(it)
        return list(reversed(out[:limit]))

    strip = lambda s: re.sub(r"\s*\((disorder|finding|procedure|situation)\)$", "", s or "")
    conds = uniq([{"name": strip(c["code"].get("text")), "onset": d(c.get("onsetDateTime", "")),
                   "status": c.get("clinicalStatus", {}).get("coding", [{}])[0].get("code", "")}
                  for c in sorted(by.get("Condition", []), key=lambda c: c.get("onsetDateTime", ""))], 12)
    meds = uniq([dict(zip(["dose", "route", "frequency"], dosage(m)), name=m.get("medicationCodeableConcept", {}).get("text", ""),
                      start=d(m.get("authoredOn", "")), status=m.get("status", ""))
                 for m in sorted(by.get("MedicationRequest", []), key=lambda m: m.get("authoredOn", ""))], 10)
    meds = [{k: v for k, v in m.items() if v} for m in meds]
    allergies = uniq([{"name": strip(a["code"].get("text")),
                       "reaction": strip(((a.get("reaction") or [{}])[0].get("manifestation") or [{}])[0].get("text", "")),
                       "severity": (a.get("reaction") or [{}])[0].get("severity", "")} for a in by.get("AllergyIntolerance", [])], 8)
    imms = uniq([{"name": i["vaccineCode"].get("text", ""), "date": d(i.get("occurrenceDateTime", ""))}
                 for i in sorted(by.get("Immunization", []), key=lambda i: i.get("occurrenceDateTime", ""))], 10)
    procs = uniq([{"name": strip(p["code"].get("text")), "date": d(p.get("performedPeriod", {}).get("start", p.get("performedDateTime", "")))}
                  for p in sorted(by.get("Procedure", []), key=lambda p: p.get("performedPeriod", {}).get("start", ""))], 10)
    family = [{"relationship": r, "name": c} for r, c in rng.sample(FAMILY, rng.randint(1, 3))]
    items = {"condition": conds, "medication": meds, "allergy": allergies, "lab": labs, "immunization": imms, "procedure": procs,
             "familyHistory": family}
    return {k: v for k, v in fields.items() if v}, items


class Writer:
    """Lays lines out top to bottom, page by page, with a footer."""

    def __init__(self, pdf, header):
        self.pdf, self.header, self.y = pdf, header, 0
        self.new_page()

    def new_page(self):
        self.pdf.new_page()
        self.y = PAGE_H - 50
        if len(self.pdf.pages) > 1:
            self.pdf.text(50, self.y, self.header, 8)
            self.y -= 20

    def need(self, h):
        if self.y - h < 60:
            self.new_page()

    def heading(self, text):
        self.need(40)
        self.y -= 8
        self.pdf.text(50, self.y, text, 12, bold=True)
        self.pdf.line(50, self.y - 3, 562, self.y - 3)
        self.y -= 18

    def row(self, cells, size=10, bold=False):
        self.need(size + 4)
        for x, t in cells:
            if t:
                self.pdf.text(x, self.y, t, size, bold)
        self.y -= size + 4

    def table(self, headers, rows):
        size = 9
        while size > 6:
            widths = [max([text_width(h, size, True)] + [text_width(r[i], size) for r in rows]) + 14 for i, h in enumerate(headers)]
            if sum(widths) <= 512:
                break
            size -= 1
        xs, x = [], 50
        for w in widths:
            xs.append(x)
            x += w
        self.row(list(zip(xs, headers)), size, bold=True)
        for r in rows:
            self.row(list(zip(xs, r)), size)


def fits(headers, rows, size):
    """Whether a table fits the 512 pt text width at font `size`."""
    return sum(max([text_width(h, size, True)] + [text_width(r[i], size) for r in rows]) + 14 for i, h in enumerate(headers)) <= 512


LAYOUTS = ["clinic", "summary", "discharge"]
HEAD = {
    "clinic": ["PATIENT INFORMATION", "ENCOUNTER", "VITAL SIGNS", "PROBLEM LIST", "MEDICATIONS", "ALLERGIES",
               "LABORATORY RESULTS", "IMMUNIZATIONS", "PROCEDURES", "SOCIAL HISTORY", "ASSESSMENT AND PLAN", "FAMILY HISTORY"],
    "summary": ["Demographics", "Visit Information", "Vitals", "Diagnoses", "Current Medications", "Allergies and Adverse Reactions",
                "Lab Results", "Immunization History", "Procedure History", "Social History", "Plan", "Family History"],
    "discharge": ["Patient", "Admission Details", "Vital Signs", "Active Problems", "Medication List", "Allergies",
                  "Laboratory Data", "Immunizations", "Procedures Performed", "Social History", "Assessment / Plan", "Family History"],
}
LABELS = {
    "clinic": {"patient.name": "Name", "patient.birthDate": "Date of Birth", "patient.gender": "Sex", "patient.mrn": "MRN",
               "patient.address": "Address", "patient.phone": "Phone", "patient.email": "Email", "patient.maritalStatus": "Marital Status",
               "patient.language": "Preferred Language", "encounter.date": "Visit Date", "encounter.type": "Visit Type",
               "encounter.facility": "Facility", "encounter.attending": "Attending", "encounter.npi": "NPI",
               "encounter.reason": "Reason for Visit", "encounter.dischargeDate": "Discharge Date", "social.smoking": "Smoking Status",
               "plan.followUp": "Follow-up", "patient.emergencyContact": "Emergency Contact", "coverage.payer": "Insurance",
               "coverage.memberId": "Member ID", "coverage.group": "Group Number", "encounter.disposition": "Disposition",
               "social.alcohol": "Alcohol Use", "plan.assessment": "Assessment"},
    "summary": {"patient.name": "Patient", "patient.birthDate": "DOB", "patient.gender": "Gender", "patient.mrn": "Medical Record #",
                "patient.address": "Home Address", "patient.phone": "Tel", "patient.email": "E-mail", "patient.maritalStatus": "Marital",
                "patient.language": "Language", "encounter.date": "Date of Service", "encounter.type": "Encounter Type",
                "encounter.facility": "Location", "encounter.attending": "Provider", "encounter.npi": "Provider NPI",
                "encounter.reason": "Chief Complaint", "encounter.dischargeDate": "End Date", "social.smoking": "Tobacco Use",
                "plan.followUp": "Follow Up", "patient.emergencyContact": "Next of Kin", "coverage.payer": "Payer",
                "coverage.memberId": "Subscriber ID", "coverage.group": "Group #", "encounter.disposition": "Discharged To",
                "social.alcohol": "Alcohol", "plan.assessment": "Impression"},
    "discharge": {"patient.name": "Patient Name", "patient.birthDate": "Birth Date", "patient.gender": "Sex", "patient.mrn": "Medical Record Number",
                  "patient.address": "Address", "patient.phone": "Phone Number", "patient.email": "Email Address", "patient.maritalStatus": "Marital Status",
                  "patient.language": "Primary Language", "encounter.date": "Admission Date", "encounter.type": "Admission Type",
                  "encounter.facility": "Hospital", "encounter.attending": "Attending Physician", "encounter.npi": "NPI",
                  "encounter.reason": "Reason for Admission", "encounter.dischargeDate": "Discharge Date", "social.smoking": "Smoking Status",
                  "plan.followUp": "Follow-up", "patient.emergencyContact": "Emergency Contact", "coverage.payer": "Insurance Payer",
                  "coverage.memberId": "Member ID", "coverage.group": "Group Number", "encounter.disposition": "Discharge Disposition",
                  "social.alcohol": "Alcohol Use", "plan.assessment": "Assessment"},
}
VITAL_LABELS = [("height", "Height", "cm"), ("weight", "Weight", "kg"), ("bmi", "BMI", "kg/m2"), ("bp", "Blood Pressure", "mmHg"),
                ("heartRate", "Heart Rate", "/min"), ("respRate", "Respiratory Rate", "/min"), ("temperature", "Temperature", "Cel"),
                ("spo2", "SpO2", "%"), ("pain", "Pain Score", "/10")]
DATE_FIELDS = {"patient.birthDate", "encounter.date", "encounter.dischargeDate"}
DOC_TYPE = {"clinic": "Clinic Visit Note", "summary": "Visit Summary", "discharge": "Discharge Summary"}


def render(fields, items, layout):
    fields = dict(fields)
    fields["document.type"] = DOC_TYPE[layout]
    fields["document.date"] = fields.get("encounter.dischargeDate") or fields["encounter.date"]
    fields["document.author"] = fields.get("encounter.attending", "")
    show = lambda k: fmt_date(fields[k], layout) if k in DATE_FIELDS else fields[k]
    pdf = Pdf()
    w = Writer(pdf, f"{fields['patient.name']} - MRN {fields.get('patient.mrn', '')} (continued)")
    facility = fields.get("encounter.facility", "")
    w.row([(50, facility.upper())], 14, bold=True)
    w.row([(50, fields["document.type"])], 16, bold=True)
    w.row([(50, f"Document Date: {fmt_date(fields['document.date'], layout)}"), (330, f"Author: {fields['document.author']}")], 10)
    H, L = HEAD[layout], LABELS[layout]

    def pairs(keys):
        keys = [k for k in keys if fields.get(k)]
        if layout == "summary":
            # two pairs per line; a pair too wide for its column gets a line of its own
            texts = [f"{L[k]}: {show(k)}" for k in keys]
            i = 0
            while i < len(texts):
                if i + 1 < len(texts) and text_width(texts[i], 10) < 250 and text_width(texts[i + 1], 10) < 250:
                    w.row([(50, texts[i]), (312, texts[i + 1])])
                    i += 2
                else:
                    w.row([(50, texts[i])])
                    i += 1
        else:
            for k in keys:
                w.row([(50, f"{L[k]}:"), (200, show(k))] if layout == "discharge" else [(50, f"{L[k]}: {show(k)}")])

    w.heading(H[0])
    pairs(["patient.name", "patient.birthDate", "patient.gender", "patient.mrn", "patient.address", "patient.phone",
           "patient.email", "patient.maritalStatus", "patient.language", "patient.emergencyContact", "coverage.payer",
           "coverage.memberId", "coverage.group"])
    w.heading(H[1])
    if layout != "discharge":
        fields.pop("encounter.disposition", None)
    pairs(["encounter.date", "encounter.type", "encounter.facility", "encounter.attending", "encounter.npi", "encounter.reason",
           "encounter.dischargeDate", "encounter.disposition"])
    vit = [(k, lab, unit) for k, lab, unit in VITAL_LABELS if (fields.get("vitals.systolic") if k == "bp" else fields.get("vitals." + k))]
    if vit:
        w.heading(H[2])
        val = lambda k: f"{fields['vitals.systolic']}/{fields['vitals.diastolic']}" if k == "bp" else fields["vitals." + k]
        if layout == "discharge":
            w.table(["Measurement", "Value", "Unit"], [[lab, val(k), unit] for k, lab, unit in vit])
        elif layout == "summary":
            for i in range(0, len(vit), 2):
                w.row([(50 + 262 * j, f"{lab}: {val(k)} {unit}") for j, (k, lab, unit) in enumerate(vit[i:i + 2])])
        else:
            for k, lab, unit in vit:
                w.row([(50, f"{lab}: {val(k)} {unit}")])

    def listing(title, kind, headers, cols, inline, optional=()):
        optional = list(optional)
        rows = items[kind]
        if not rows:
            return
        w.heading(title)
        fmt = lambda c, v: fmt_date(v, layout) if c in ("onset", "start", "date") and v else v
        if layout == "summary" and inline:
            for it in rows:
                parts = [it["name"]] + [inline[c].format(fmt(c, it[c])) for c in cols[1:] if it.get(c)]
                w.row([(50, "- " + "; ".join(parts))], 9)
            return
        table = lambda: [[fmt(c, it.get(c, "")) for c in cols] for it in rows]
        # optional columns are left out (of the page and the truth) when the table would not fit
        while optional and not fits(headers, table(), 7):
            drop = cols.index(optional.pop())
            for it in rows:
                it.pop(cols[drop], None)
            headers, cols = headers[:drop] + headers[drop + 1:], cols[:drop] + cols[drop + 1:]
        w.table(headers, table())

    listing(H[3], "condition", ["Problem", "Onset", "Status"], ["name", "onset", "status"], {"onset": "onset {}", "status": "{}"})
    listing(H[4], "medication", ["Medication", "Dose", "Route", "Frequency", "Start Date", "Status"], ["name", "dose", "route", "frequency", "start", "status"],
            {"dose": "dose {}", "route": "route {}", "frequency": "frequency {}", "start": "started {}", "status": "{}"},
            ["dose", "route", "frequency"])
    listing(H[5], "allergy", ["Allergen", "Reaction", "Severity"], ["name", "reaction", "severity"], {"reaction": "reaction: {}", "severity": "severity: {}"})
    listing(H[6], "lab", ["Test", "Result", "Units", "Reference Range", "Flag", "Date"], ["name", "value", "unit", "range", "flag", "date"], None)
    listing(H[7], "immunization", ["Vaccine", "Date Given"], ["name", "date"], {"date": "given {}"})
    listing(H[8], "procedure", ["Procedure", "Date"], ["name", "date"], {"date": "performed {}"})
    if fields.get("social.smoking") or fields.get("social.alcohol"):
        w.heading(H[9])
        pairs(["social.smoking", "social.alcohol"])
    listing(H[11], "familyHistory", ["Relationship", "Condition"], ["relationship", "name"], None)
    w.heading(H[10])
    w.row([(50, "Patient seen and examined. Continue current management.")])
    pairs(["plan.assessment", "plan.followUp"])
    n = len(pdf.pages)
    for i, page in enumerate(pdf.pages):
        pdf.pages[i].append(b"BT /F1 8 Tf 1 0 0 1 280 30 Tm (Page %d of %d) Tj ET\n" % (i + 1, n))
    return pdf.tobytes(fields["document.type"]), fields


def main():
    src, out = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 24
    os.makedirs(out, exist_ok=True)
    files = sorted(f for f in os.listdir(src) if f.endswith(".json.bz2") and "Information" not in f)
    n = 0
    for f in files:
        if n >= count:
            break
        try:
            fields, items = extract(load(os.path.join(src, f)))
        except (KeyError, IndexError, ValueError):
            continue
        layout = LAYOUTS[n % len(LAYOUTS)]
        data, fields = render(fields, items, layout)
        stem = os.path.join(out, f"{n:03d}-{layout}")
        with open(stem + ".pdf", "wb") as fh:
            fh.write(data)
        with open(stem + ".truth.json", "w", encoding="utf-8") as fh:
            json.dump({"source": f, "layout": layout, "fields": fields, "items": items}, fh, indent=1, ensure_ascii=False)
        n += 1
    print(f"wrote {n} documents to {out}")


if __name__ == "__main__":
    main()
