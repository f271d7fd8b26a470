"""ICD-10-CM subset for $ingest-document: every code of the tabular list outside chapters
19-20 and U (injuries and external causes need a 7th character a problem list does not
give) with its description and match keys.

A match key is the sorted set of the words of a term (lower case, letters and digits),
without "nos" and "unspecified". Terms are the description and the inclusion terms, each
also without its parenthesised nonessential modifiers (ICD-10-CM convention: words in
parentheses do not change the code), up to 4 groups in every combination. A key naming
codes on one line of descent codes the most specific of them; a key naming codes on
different branches is ambiguous and dropped. src/ingest/terminology.rs builds the same key
from a document's text.

Output icd10cm.tsv.gz (gzip; read it with zcat): code<TAB>description<TAB>key|key|...,
sorted by code.
"""
import gzip, io, itertools, os, re
import xml.etree.ElementTree as ET

SKIP_CHAPTERS = ("S", "T", "V", "W", "X", "Y", "U")
DROP = {"nos", "unspecified"}


def key(text):
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return " ".join(sorted({w for w in words if w not in DROP}))


def variants(term):
    """The term with every combination of its parenthesised modifiers kept or left out."""
    groups = re.findall(r"\([^()]*\)", term)
    if not groups:
        return [term]
    out = []
    if len(groups) <= 4:
        choices = itertools.product([True, False], repeat=len(groups))
    else:
        n = len(groups)
        choices = [tuple([True] * n), tuple([False] * n)] + [tuple(i == j for j in range(n)) for i in range(n)]
    for keep in choices:
        t, it = term, iter(keep)
        t = re.sub(r"\([^()]*\)", lambda m: m.group(0)[1:-1] if next(it) else " ", t)
        out.append(t)
    return out


def tabular_xml():
    path = os.environ.get("ICD10CM_XML")
    if path:
        return path
    import importlib.util
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("ICD-10-CM: pip install simple-icd-10-cm==1.5.0 (or set ICD10CM_XML)")
    data = os.path.join(list(spec.submodule_search_locations)[0], "data")
    found = sorted(f for f in os.listdir(data) if f.startswith("icd10cm-tabular") or f.startswith("icd10c-tabular"))
    if not found:
        raise SystemExit(f"ICD-10-CM: no tabular XML in {data}")
    return os.path.join(data, found[-1])


def build_icd10cm(out_dir):
    path = tabular_xml()
    root = ET.parse(path).getroot()
    desc, keys = {}, {}
    for d in root.iter("diag"):
        code, text = d.findtext("name"), d.findtext("desc")
        if not code or not text or code.startswith(SKIP_CHAPTERS):
            continue
        desc[code] = " ".join(text.split())
        terms = [text] + [n.text for tag in ("inclusionTerm", "includes") for e in d.findall(tag) for n in e.findall("note") if n.text]
        for t in terms:
            for v in variants(t):
                k = key(v)
                if k:
                    keys.setdefault(k, set()).add(code)
    per_code = {}
    for k, codes in keys.items():
        flat = sorted(codes, key=lambda c: len(c.replace(".", "")))
        deepest = flat[-1].replace(".", "")
        if all(deepest.startswith(c.replace(".", "")) for c in flat):
            per_code.setdefault(flat[-1], []).append(k)
    version = root.findtext("version") or "?"
    # mtime 0: the same input gives the same bytes
    with gzip.GzipFile(os.path.join(out_dir, "icd10cm.tsv.gz"), "wb", mtime=0) as gz, io.TextIOWrapper(gz, encoding="utf-8") as fh:
        fh.write(f"# ICD-10-CM {version} subset from the CMS tabular list {os.path.basename(path)} (ingest/terminology/icd10cm.py)\n")
        for c in sorted(desc):
            fh.write(f"{c}\t{desc[c]}\t{'|'.join(sorted(per_code.get(c, [])))}\n")
    return len(desc)
