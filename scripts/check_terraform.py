#!/usr/bin/env python3
"""Static checks of infra/terraform/ for CI, where Terraform itself is not installed.

1. Structure (python-hcl2): every .tf file parses; in every module (a folder of .tf files)
   each `var.X` is declared, each `local.X` is defined, each `module.X.Y` names a module call
   of that folder and an output of the called module; every module call passes only inputs
   the module declares and all of its required ones; every variable and output has a
   description; every `#checkov:skip` carries a reason.
2. Contract with the application: the Lambda environments, the artifact paths, the DynamoDB
   key design and the API routes are the ones Hearth reads and expects (see README).
3. The optional Cognito pre-token-generation Lambda (modules/identity, pretoken.tf): behind
   enable_smart_pretoken (default false, threaded through examples/complete), packaged by
   archive_file from pretoken/pretoken.py only, wired into the user pool as V2_0, invokable
   by this user pool only, a role that may only write its log group, and an environment
   that is exactly what the handler reads, with the handler's defaults.
4. The Lambda's unit tests (unittest, pretoken/test_*.py), in a subprocess; each test counts
   as one passed, failed or skipped check.
5. checkov over infra/terraform (unless --no-checkov): no failed check, no parsing error.

Prints one line per check and closes with `terraform: N passed, M failed, K skipped`
(K = checks checkov skipped through inline, reasoned skips, plus skipped unit tests).
Exit status 1 on any failure.

Usage: python scripts/check_terraform.py [--no-checkov] [--root infra/terraform]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
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
        self.skipped = 0

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


def resources(m: Module, kind: str = "resource") -> dict[tuple[str, str], dict]:
    """{(type, name): body} of a module's resources (or data sources)."""
    out = {}
    for doc in m.docs.values():
        for entry in doc.get(kind, []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    out[(rtype, name)] = body
    return out


def text_of(node) -> str:
    return " ".join(strings(node))


def check_pretoken(root: Path, modules: dict[Path, Module], results: Results) -> Path | None:
    """The optional pre-token-generation Lambda and its wiring. Returns the handler's folder."""
    identity = find_module(modules, root, "modules/identity")
    example = find_module(modules, root, "examples/complete")
    if identity is None or example is None:
        results.check("pre-token Lambda: modules/identity and examples/complete exist", ["missing"])
        return None
    res, data = resources(identity), resources(identity, "data")

    problems = []
    for m, where in [(identity, "modules/identity"), (example, "examples/complete")]:
        v = m.variables.get("enable_smart_pretoken")
        if v is None:
            problems.append(f"{where} does not declare enable_smart_pretoken")
        elif unwrap(v.get("default")) is not False or "bool" not in str(unwrap(v.get("type"))):
            problems.append(f"{where}: enable_smart_pretoken must be a bool defaulting to false")
    call = example.calls.get("identity", {})
    if unwrap(call.get("enable_smart_pretoken")) != "${var.enable_smart_pretoken}":
        problems.append("examples/complete does not pass var.enable_smart_pretoken to module.identity")
    if unwrap(call.get("logs_kms_key_arn")) != "${module.data.logs_kms_key_arn}":
        problems.append("examples/complete does not give module.identity the logs key")
    results.check("pre-token Lambda: off by default, switched by enable_smart_pretoken through examples/complete", problems)

    names = [("data", "archive_file"), ("resource", "aws_cloudwatch_log_group"), ("resource", "aws_iam_role"),
             ("data", "aws_iam_policy_document"), ("resource", "aws_iam_role_policy"),
             ("resource", "aws_lambda_function"), ("resource", "aws_lambda_permission")]
    problems = []
    for kind, rtype in names:
        body = (data if kind == "data" else res).get((rtype, "pretoken"))
        if body is None:
            problems.append(f"no {kind} {rtype}.pretoken")
        elif "var.enable_smart_pretoken" not in str(unwrap(body.get("count"))):
            problems.append(f"{rtype}.pretoken is not counted by var.enable_smart_pretoken")
    results.check("pre-token Lambda: archive, log group, role, policy, function and permission exist only when enabled", problems)
    if problems:
        return None

    archive = data[("archive_file", "pretoken")]
    fn = res[("aws_lambda_function", "pretoken")]
    problems = []
    src = str(unwrap(archive.get("source_file")))
    handler_file = identity.path / src.replace("${path.module}/", "") if src.startswith("${path.module}/") else None
    if unwrap(archive.get("type")) != "zip" or "source_dir" in archive or handler_file is None:
        problems.append("archive_file must zip one source_file under ${path.module} (the tests stay out of the zip)")
    elif not handler_file.is_file():
        problems.append(f"{src}: no such file")
    module_name, _, function = str(unwrap(fn.get("handler"))).partition(".")
    if handler_file is not None and handler_file.is_file():
        code = handler_file.read_text()
        if handler_file.stem != module_name or not re.search(rf"^def {re.escape(function)}\(event", code, re.M):
            problems.append(f"handler {unwrap(fn.get('handler'))!r} is not a function of {handler_file.name}")
    if unwrap(fn.get("runtime")) != "python3.12":
        problems.append(f"runtime {unwrap(fn.get('runtime'))!r}, expected python3.12")
    if "data.archive_file.pretoken" not in str(unwrap(fn.get("filename"))) or "output_base64sha256" not in str(unwrap(fn.get("source_code_hash"))):
        problems.append("filename / source_code_hash must come from data.archive_file.pretoken")
    if "vpc_config" in fn:
        problems.append("the function needs no VPC (and its role has no ENI permissions)")
    results.check("pre-token Lambda: python3.12, handler defined in the zipped file, code hash from archive_file", problems)

    pool = res.get(("aws_cognito_user_pool", "this"), {})
    problems = []
    configs = [d["lambda_config"] for d in pool.get("dynamic", []) if "lambda_config" in d]
    ptg = [p for c in configs for content in c.get("content", []) for p in content.get("pre_token_generation_config", [])]
    if len(ptg) != 1:
        problems.append("aws_cognito_user_pool.this has no (or several) lambda_config.pre_token_generation_config")
    else:
        if unwrap(ptg[0].get("lambda_version")) != "V2_0":
            problems.append(f"lambda_version {unwrap(ptg[0].get('lambda_version'))!r}, expected V2_0 (access-token customisation)")
        arn = str(unwrap(ptg[0].get("lambda_arn")))
        resolved = arn + " " + " ".join(text_of(identity.locals.get(n)) for n in REF_LOCAL.findall(arn))
        if "aws_lambda_function.pretoken" not in resolved or "var.enable_smart_pretoken" not in resolved:
            problems.append("lambda_arn does not resolve to aws_lambda_function.pretoken when enable_smart_pretoken")
        if "var.enable_smart_pretoken" not in text_of(configs[0].get("for_each")):
            problems.append("lambda_config is not switched on by enable_smart_pretoken")
    pre = text_of(pool.get("lifecycle"))
    if "user_pool_tier" not in pre or "ESSENTIALS" not in pre:
        problems.append("no precondition requiring user_pool_tier ESSENTIALS or PLUS for V2_0")
    if unwrap(pool.get("user_pool_tier")) != "${var.user_pool_tier}":
        problems.append("user_pool_tier is not set from var.user_pool_tier")
    writable = text_of(identity.locals.get("user_attributes_writable"))
    if "custom:" in writable or "attribute" in writable:
        problems.append(f"users may write custom attributes ({writable}): they would pick their own patient or tenant")
    results.check("pre-token Lambda: user pool trigger V2_0 (Essentials/Plus precondition), FHIR-id attributes not user-writable", problems)

    perm = res[("aws_lambda_permission", "pretoken")]
    want = {"action": "lambda:InvokeFunction", "principal": "cognito-idp.amazonaws.com", "source_arn": "${aws_cognito_user_pool.this.arn}"}
    problems = [f"{k} = {unwrap(perm.get(k))!r}, expected {v!r}" for k, v in want.items() if unwrap(perm.get(k)) != v]
    if "aws_lambda_function.pretoken" not in str(unwrap(perm.get("function_name"))):
        problems.append("function_name is not aws_lambda_function.pretoken")
    results.check("pre-token Lambda: only this user pool may invoke it (cognito-idp, source_arn)", problems)

    problems = []
    doc = data[("aws_iam_policy_document", "pretoken")]
    for st in doc.get("statement", []):
        actions = [a for a in strings(st.get("actions"))]
        problems += [f"action {a} is not a CloudWatch Logs write" for a in actions if a not in ("logs:CreateLogStream", "logs:PutLogEvents")]
        if any(r != "${aws_cloudwatch_log_group.pretoken[0].arn}:*" for r in strings(st.get("resources"))):
            problems.append(f"resources {list(strings(st.get('resources')))}: only its own log group")
        if "not_actions" in st or "not_resources" in st or unwrap(st.get("effect", "Allow")) != "Allow":
            problems.append("only plain Allow statements")
    role_policies = [b for (t, _), b in res.items() if t in ("aws_iam_role_policy", "aws_iam_role_policy_attachment") and "aws_iam_role.pretoken" in text_of(b.get("role"))]
    if len(role_policies) != 1 or "data.aws_iam_policy_document.pretoken[0]" not in text_of(role_policies[0].get("policy")):
        problems.append("the role must have exactly one policy, data.aws_iam_policy_document.pretoken")
    lg = res[("aws_cloudwatch_log_group", "pretoken")]
    if unwrap(lg.get("kms_key_id")) != "${var.logs_kms_key_arn}":
        problems.append("its log group is not encrypted with the logs key")
    results.check("pre-token Lambda: least privilege, its role may only write its own (KMS-encrypted) log group", problems)

    problems = []
    env = unwrap(identity.locals.get("pretoken_environment")) or {}
    if str(unwrap(unwrap(fn.get("environment", [{}])).get("variables"))) != "${local.pretoken_environment}":
        problems.append("the function's environment is not local.pretoken_environment")
    code = handler_file.read_text() if handler_file and handler_file.is_file() else ""
    reads = dict(re.findall(r'env\.get\("(PRETOKEN_[A-Z_]+)"(?:, "([^"]*)")?\)', code))
    if set(env) != set(reads):
        problems.append(f"environment {sorted(env)} != variables the handler reads {sorted(reads)}")
    defaults = {"PRETOKEN_PATIENT_ATTRIBUTE": "patient_attribute", "PRETOKEN_PRACTITIONER_ATTRIBUTE": "practitioner_attribute"}
    for key, var in defaults.items():
        got = unwrap(identity.variables.get(var, {}).get("default"))
        if reads.get(key) != got:
            problems.append(f"var.{var} defaults to {got!r}, the handler to {reads.get(key)!r}")
    tenant_claim = COMPUTE_DEFAULTS["tenant_claim"]
    if reads.get("PRETOKEN_TENANT_ATTRIBUTE") != tenant_claim or tenant_claim not in str(env.get("PRETOKEN_TENANT_ATTRIBUTE")):
        problems.append(f"the tenant is not copied as {tenant_claim} (HEARTH_TENANT_CLAIM)")
    handler_defaults = None
    for node in ast.walk(ast.parse(code or "pass")):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DEFAULT_GROUP_SCOPES" for t in node.targets):
            handler_defaults = ast.literal_eval(node.value)
    tf_defaults = unwrap(identity.variables.get("smart_group_scopes", {}).get("default"))
    tf_defaults = {k: unwrap(v) if isinstance(unwrap(v), list) else [unwrap(v)] for k, v in (tf_defaults or {}).items() if not k.startswith("__")}
    if handler_defaults != tf_defaults:
        problems.append(f"var.smart_group_scopes defaults to {tf_defaults}, the handler to {handler_defaults}")
    if "var.smart_group_scopes" not in str(env.get("PRETOKEN_GROUP_SCOPES")):
        problems.append("PRETOKEN_GROUP_SCOPES does not come from var.smart_group_scopes")
    results.check("pre-token Lambda: environment is exactly the PRETOKEN_* settings the handler reads, with its defaults", problems)
    return handler_file.parent if handler_file else None


def run_unit_tests(folder: Path, results: Results) -> None:
    """python -m unittest discover in a subprocess; every test counts as a check."""
    cmd = [sys.executable, "-m", "unittest", "discover", "-s", str(folder), "-p", "test_*.py", "-v"]
    print(f"==> {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    out = proc.stderr + proc.stdout
    ran = re.search(r"^Ran (\d+) tests?", out, re.M)
    counts = {k: int(v) for k, v in re.findall(r"(failures|errors|skipped|unexpected successes)=(\d+)", out.split("\nRan ")[-1])}
    if not ran or int(ran.group(1)) == 0:
        results.check(f"unit tests in {folder.name}/", [f"no test ran (exit {proc.returncode}): {out.strip()[-2000:]}"])
        return
    failed = counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpected successes", 0)
    if proc.returncode != 0 and failed == 0:
        failed = 1
    skipped = counts.get("skipped", 0)
    for line in out.splitlines():
        if line.endswith((" ... ok", " ... FAIL", " ... ERROR")) or " ... skipped" in line:
            print(f"     {line}")
    if failed:
        print(out[out.find("=" * 70):] if "=" * 70 in out else out[-3000:])
    ok = int(ran.group(1)) - failed - skipped
    print(f"{'ok  ' if not failed else 'FAIL'} unit tests in {folder.name}/ (Python {sys.version.split()[0]}): "
          f"{ok} passed, {failed} failed, {skipped} skipped")
    results.passed += ok
    results.failed += failed
    results.skipped += skipped


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
    tests = check_pretoken(root, modules, results)
    if tests is not None:
        run_unit_tests(tests, results)

    passed, failed, skipped = results.passed, results.failed, results.skipped
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
