#!/usr/bin/env python3
"""Static checks of infra/terraform/ for CI, where Terraform itself is not installed.

1. Structure (python-hcl2): every .tf file parses; in every module (a folder of .tf files)
   each `var.X` is declared, each `local.X` is defined, each `module.X.Y` names a module call
   of that folder and an output of the called module; every module call passes only inputs
   the module declares and all of its required ones; every variable and output has a
   description; every `#checkov:skip` carries a reason.
2. Contract with the application: the Lambda environments, the artifact paths, the DynamoDB
   key design and the API routes are the ones Hearth reads and expects (see README).
3. checkov over infra/terraform (unless --no-checkov): no failed check, no parsing error.

Prints one line per check and closes with `terraform: N passed, M failed, K skipped`
(K = checks checkov skipped through inline, reasoned skips). Exit status 1 on any failure.

Usage: python scripts/check_terraform.py [--no-checkov] [--root infra/terraform]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import hcl2

META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}
REF_VAR = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
REF_LOCAL = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")
REF_MODULE = re.compile(r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")

FHIR_ENV = {
    "HEARTH_BACKEND": "aws",
    "HEARTH_BASE_PATH": None,
    "HEARTH_DYNAMODB_TABLE": None,
    "HEARTH_S3_BUCKET": None,
    "HEARTH_S3_KMS_KEY_ID": None,
    "HEARTH_OPENSEARCH_URL": None,
    "HEARTH_OPENSEARCH_SIGV4": "1",
    "HEARTH_AUTH": "jwt",
    "HEARTH_JWT_ISSUER": None,
    "HEARTH_JWKS_URL": None,
    "HEARTH_JWT_AUDIENCE": None,
    "HEARTH_GROUPS_CLAIM": None,
    "HEARTH_TENANT_CLAIM": None,
    "HEARTH_PRESIGN_ABOVE_BYTES": None,
    "HEARTH_LOG": None,
}
STREAMER_ENV = {"HEARTH_BACKEND", "HEARTH_OPENSEARCH_URL", "HEARTH_OPENSEARCH_SIGV4", "HEARTH_DYNAMODB_TABLE", "HEARTH_S3_BUCKET", "HEARTH_LOG"}
# compute-module variables behind the environment, with the defaults the app expects
COMPUTE_DEFAULTS = {
    "base_path": "/fhir",
    "groups_claim": "cognito:groups",
    "tenant_claim": "custom:tenantId",
    "log_level": "info",
}
ROUTES = [
    "ANY ${local.base}",
    "ANY ${local.base}/{proxy+}",
    "ANY /tenant/{id}${local.base}/{proxy+}",
]


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, problems: list[str]) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"     - {p}")
        else:
            self.passed += 1
            print(f"ok   {name}")


def unwrap(v):
    """python-hcl2 wraps attribute values in one-element lists; take the value out."""
    while isinstance(v, list) and len(v) == 1:
        v = v[0]
    return v


def strings(node, skip_keys=("description",)):
    """Every string inside a parsed value (expressions come out as "${...}" strings)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            if k in skip_keys or k.startswith("__"):
                continue
            yield k
            yield from strings(v, skip_keys)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, skip_keys)


def blocks(doc: dict, kind: str):
    """(name, body) for each top-level block of one kind with one label."""
    for entry in doc.get(kind, []):
        for name, body in entry.items():
            yield name, body


class Module:
    def __init__(self, path: Path, docs: dict[Path, dict]):
        self.path = path
        self.docs = docs
        self.variables: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}
        self.locals: dict[str, object] = {}
        self.calls: dict[str, dict] = {}
        for doc in docs.values():
            self.variables.update(dict(blocks(doc, "variable")))
            self.outputs.update(dict(blocks(doc, "output")))
            self.calls.update(dict(blocks(doc, "module")))
            for entry in doc.get("locals", []):
                self.locals.update({k: v for k, v in entry.items() if not k.startswith("__")})

    def expressions(self):
        for doc in self.docs.values():
            for s in strings(doc):
                if "${" in s:
                    yield s


def load_modules(root: Path, results: Results) -> dict[Path, Module]:
    by_dir: dict[Path, dict[Path, dict]] = {}
    problems = []
    files = sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)
    for f in files:
        try:
            with f.open() as fh:
                by_dir.setdefault(f.parent.resolve(), {})[f] = hcl2.load(fh)
        except Exception as e:  # noqa: BLE001 - report every unparsable file
            problems.append(f"{f.relative_to(root)}: {type(e).__name__}: {e}")
    results.check(f"parse: {len(files)} .tf files with python-hcl2", problems or ([] if files else ["no .tf files"]))
    return {d: Module(d, docs) for d, docs in by_dir.items()}


def check_structure(root: Path, modules: dict[Path, Module], results: Results) -> None:
    for d, m in sorted(modules.items()):
        rel = d.relative_to(root.resolve())
        exprs = list(m.expressions())

        used_vars = {v for s in exprs for v in REF_VAR.findall(s)}
        results.check(f"{rel}: every var.X is declared",
                      [f"var.{v} is not declared" for v in sorted(used_vars - m.variables.keys())])

        used_locals = {v for s in exprs for v in REF_LOCAL.findall(s)}
        results.check(f"{rel}: every local.X is defined",
                      [f"local.{v} is not defined" for v in sorted(used_locals - m.locals.keys())])

        unused = sorted(m.variables.keys() - used_vars)
        results.check(f"{rel}: every declared variable is used", [f"var.{v} is never used" for v in unused])

        undocumented = [f"variable {n}" for n, b in m.variables.items() if not unwrap(b.get("description"))]
        undocumented += [f"output {n}" for n, b in m.outputs.items() if not unwrap(b.get("description"))]
        results.check(f"{rel}: every variable and output has a description", [f"{u} has no description" for u in undocumented])

        for call, body in sorted(m.calls.items()):
            problems = []
            source = unwrap(body.get("source"))
            target = modules.get((d / str(source)).resolve()) if isinstance(source, str) else None
            if target is None:
                results.check(f"{rel}: module.{call} source", [f"source {source!r} is not a local module folder with .tf files"])
                continue
            passed = {k for k in body if not k.startswith("__") and k not in META_ARGS}
            problems += [f"passes {k}, which {source} does not declare" for k in sorted(passed - target.variables.keys())]
            required = {n for n, b in target.variables.items() if "default" not in b}
            problems += [f"misses required input {k}" for k in sorted(required - passed)]
            results.check(f"{rel}: module.{call} inputs match {source}", problems)

        problems = []
        for s in exprs:
            for call, out in REF_MODULE.findall(s):
                if call not in m.calls:
                    problems.append(f"module.{call}.{out}: no module call named {call}")
                    continue
                target = modules.get((d / str(unwrap(m.calls[call].get("source")))).resolve())
                if target is not None and out not in target.outputs:
                    problems.append(f"module.{call}.{out}: {unwrap(m.calls[call].get('source'))} has no output {out}")
        results.check(f"{rel}: every module.X.Y names an existing output", sorted(set(problems)))

    problems = []
    for f in sorted(root.rglob("*.tf")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            mt = SKIP.search(line)
            if mt and len((mt.group(2) or "").strip()) < 15:
                problems.append(f"{f.relative_to(root)}:{n}: {mt.group(1)} skipped without a reason")
    results.check("every #checkov:skip gives a reason", problems)


def find_module(modules: dict[Path, Module], root: Path, rel: str) -> Module | None:
    return modules.get((root / rel).resolve())


def check_contract(root: Path, modules: dict[Path, Module], results: Results) -> None:
    compute = find_module(modules, root, "modules/compute")
    data = find_module(modules, root, "modules/data")
    api = find_module(modules, root, "modules/api")
    example = find_module(modules, root, "examples/complete")
    missing = [n for n, m in [("modules/compute", compute), ("modules/data", data), ("modules/api", api),
                              ("examples/complete", example)] if m is None]
    results.check("modules compute, data, api and examples/complete exist", missing)
    if missing:
        return

    env = unwrap(compute.locals.get("fhir_environment")) or {}
    problems = [f"missing {k}" for k in FHIR_ENV if k not in env]
    problems += [f"unexpected {k}" for k in env if k not in FHIR_ENV]
    problems += [f"{k} = {env.get(k)!r}, expected {v!r}" for k, v in FHIR_ENV.items() if v and env.get(k) != v]
    results.check("FHIR Lambda environment is exactly the HEARTH_* settings the server reads", problems)

    senv = unwrap(compute.locals.get("streamer_environment")) or {}
    results.check("streamer Lambda environment is exactly HEARTH_BACKEND, _OPENSEARCH_URL, _OPENSEARCH_SIGV4, _DYNAMODB_TABLE, _S3_BUCKET, _LOG",
                  [f"keys {sorted(senv)} != {sorted(STREAMER_ENV)}"] if set(senv) != STREAMER_ENV else [])

    problems = []
    for var, want in COMPUTE_DEFAULTS.items():
        got = unwrap(compute.variables.get(var, {}).get("default"))
        if got != want:
            problems.append(f"var.{var} defaults to {got!r}, expected {want!r}")
    results.check("compute defaults: base path /fhir, cognito:groups, custom:tenantId, log info", problems)

    problems = []
    for var, artifact in [("fhir_lambda_zip", "target/lambda/hearth-lambda/bootstrap.zip"),
                          ("streamer_lambda_zip", "target/lambda/hearth-streamer/bootstrap.zip")]:
        got = str(unwrap(example.variables.get(var, {}).get("default")))
        if not got.endswith(artifact):
            problems.append(f"var.{var} defaults to {got!r}, expected a path ending in {artifact}")
    results.check("example artifact paths are the cargo lambda outputs", problems)

    table = None
    for doc in data.docs.values():
        for entry in doc.get("resource", []):
            for rtype, named in entry.items():
                if rtype == "aws_dynamodb_table":
                    table = next(iter(named.values()))
    problems = []
    if table is None:
        problems.append("no aws_dynamodb_table in modules/data")
    else:
        expect = {"hash_key": "pk", "range_key": "sk", "stream_view_type": "NEW_AND_OLD_IMAGES", "stream_enabled": True}
        problems += [f"{k} = {unwrap(table.get(k))!r}, expected {v!r}" for k, v in expect.items() if unwrap(table.get(k)) != v]
        gsis = {unwrap(g.get("name")): (unwrap(g.get("hash_key")), unwrap(g.get("range_key")))
                for g in table.get("global_secondary_index", [])}
        for name, keys in {"by_type": ("tenant_type", "last_updated"), "by_tenant": ("tenant", "last_updated")}.items():
            if gsis.get(name) != keys:
                problems.append(f"GSI {name} is {gsis.get(name)}, expected {keys}")
        ttl = [unwrap(t.get("attribute_name")) for t in table.get("ttl", [])]
        if ttl != ["expires_at"]:
            problems.append(f"TTL attribute {ttl}, expected ['expires_at']")
        attrs = {unwrap(a.get("name")): unwrap(a.get("type")) for a in table.get("attribute", [])}
        if any(t != "S" for t in attrs.values()) or set(attrs) != {"pk", "sk", "tenant_type", "tenant", "last_updated"}:
            problems.append(f"attributes {attrs}: expected pk, sk, tenant_type, tenant, last_updated, all S")
    results.check("DynamoDB table follows the store's key design", problems)

    routes = {unwrap(r) for r in unwrap(api.locals.get("protected_routes")) or []} if api.locals.get("protected_routes") else set()
    routes_text = " ".join(str(s) for s in strings(api.locals.get("protected_routes")))
    results.check("API routes: ANY /fhir, /fhir/{proxy+}, /tenant/{id}/fhir/{proxy+} behind the JWT authorizer",
                  [f"route {r!r} missing" for r in ROUTES if r not in routes_text] + ([] if routes or routes_text else ["no routes"]))


def run_checkov(root: Path) -> tuple[int, int, int, list[str]]:
    exe = Path(sys.executable).parent / "checkov"
    cmd = [str(exe) if exe.exists() else (shutil.which("checkov") or "checkov"),
           "-d", str(root), "--framework", "terraform", "--compact", "--skip-download", "-o", "json"]
    print(f"==> {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return 0, 1, 0, [f"checkov did not produce a report (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"]
    reports = report if isinstance(report, list) else [report]
    passed = failed = skipped = 0
    problems = []
    for r in reports:
        s = r.get("summary", {})
        passed += s.get("passed", 0)
        failed += s.get("failed", 0)
        skipped += s.get("skipped", 0)
        if s.get("parsing_errors"):
            failed += s["parsing_errors"]
            problems.append(f"{s['parsing_errors']} file(s) checkov could not parse")
        for c in r.get("results", {}).get("failed_checks", []):
            problems.append(f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})")
        for c in r.get("results", {}).get("skipped_checks", []):
            print(f"skip {c['check_id']} {c['resource']}: {c['check_result'].get('suppress_comment', '')}")
    return passed, failed, skipped, problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent / "infra" / "terraform"))
    ap.add_argument("--no-checkov", action="store_true", help="structure and contract checks only")
    args = ap.parse_args()
    root = Path(args.root)
    started = time.monotonic()

    results = Results()
    modules = load_modules(root, results)
    check_structure(root, modules, results)
    check_contract(root, modules, results)

    passed, failed, skipped = results.passed, results.failed, 0
    if not args.no_checkov:
        c_passed, c_failed, skipped, problems = run_checkov(root)
        for p in problems:
            print(f"FAIL checkov {p}")
        print(f"checkov: {c_passed} checks passed, {c_failed} failed, {skipped} skipped (inline, with reasons)")
        passed += c_passed
        failed += c_failed + (1 if problems and not c_failed else 0)

    print(f"({time.monotonic() - started:.1f}s)")
    print(f"terraform: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
