#!/usr/bin/env python3
"""Side-by-side HTTP benchmark of Hearth, a peer FHIR server and an axum ceiling.

Started by bench/run.sh (which builds and installs what it needs); stdlib only. One server
runs at a time, each on a fresh data directory: start (time to the first successful
response, idle RSS), load the Synthea Bundles over REST (timed), then the same wrk scenarios
against each. Writes results.json and results.md under --out and prints the tables.
"""
import argparse
import atexit
import bz2
import datetime
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PROCS = []  # every process this script started; stopped on exit, whatever happens


def stop_all():
    for p in PROCS:
        stop_proc(p)


def stop_proc(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


atexit.register(stop_all)
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda *_: sys.exit(130))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


PRIORITY = {"nice": 0}


def raise_priority(nice):
    """The processes this script starts (servers, wrk) run ahead of other jobs on the machine.
    Each runs in a session of its own; with the kernel's autogroups CPU is shared between
    sessions whatever the processes' nice values, so the nice value goes to the session's
    autogroup (root only)."""
    if not nice:
        return "default priority"
    if os.geteuid() != 0 or not os.path.exists("/proc/self/autogroup"):
        return "default priority (needs root and autogroups)"
    PRIORITY["nice"] = nice
    return f"servers and wrk at nice {nice}"


def prioritize(pid):
    n = PRIORITY["nice"]
    if not n:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, n)
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(n))
    except OSError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    """A keep-alive HTTP/1.1 connection to one server."""

    def __init__(self, port, timeout=900):
        self.port, self.timeout, self.c = port, timeout, None

    def req(self, method, path, body=None, headers=None):
        h = {"Accept": "application/fhir+json"}
        if body is not None:
            h["Content-Type"] = "application/fhir+json"
        h.update(headers or {})
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.c.request(method, path, body=body, headers=h)
                r = self.c.getresponse()
                return r.status, r.read()
            except (ConnectionError, http.client.HTTPException):
                self.c.close()
                self.c = None
                if attempt:
                    raise

    def json(self, method, path, body=None, headers=None):
        status, data = self.req(method, path, body, headers)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, {"raw": data[:300].decode("utf-8", "replace")}


class Server:
    def __init__(self, name, cmd, port, prefix, env=None, workdir=None):
        self.name, self.cmd, self.port, self.prefix = name, cmd, port, prefix
        self.env = dict(os.environ, **(env or {}))
        self.workdir = workdir
        self.proc = None
        self.logfile = os.path.join(workdir, "server.log") if workdir else os.devnull

    def start(self, timeout=180):
        """Starts the process; returns ms from spawn to the first 200 of GET [base]/metadata."""
        log_f = open(self.logfile, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.workdir, stdout=log_f, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        prioritize(self.proc.pid)
        PROCS.append(self.proc)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.logfile}:\n{tail(self.logfile)}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", self.prefix + "/metadata", headers={"Accept": "application/fhir+json"})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return (time.perf_counter() - t0) * 1000
            except OSError:
                pass
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{self.name} did not answer within {timeout} s; see {self.logfile}")
            time.sleep(0.001)

    def stop(self):
        if self.proc:
            stop_proc(self.proc)
            self.proc = None

    def rss_mb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None

    def cpu_seconds(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def wait_idle(self, limit=60):
        """Waits until the server has finished what a previous run left in flight (under 5% of
        a core for 0.3 s), so that one scenario's backlog does not slow the next."""
        t0, quiet = time.time(), 0
        last = self.cpu_seconds()
        while time.time() - t0 < limit and quiet < 3:
            time.sleep(0.1)
            now = self.cpu_seconds()
            quiet = quiet + 1 if now - last < 0.005 else 0
            last = now

    def path(self, p):
        """`p` relative to the FHIR base (`''` is the base itself)."""
        return (self.prefix + "/" + p.lstrip("/")) if p else (self.prefix or "/")


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------- data

def read_bundles(folder):
    """The Synthea Bundles, decompressed, shared resources first (README upload order)."""
    files = sorted(glob.glob(os.path.join(folder, "*.json*")))
    first = [f for f in files if "hospitalInformation" in f or "practitionerInformation" in f]
    rest = [f for f in files if f not in first]
    out = []
    for f in first + rest:
        raw = bz2.open(f).read() if f.endswith(".bz2") else open(f, "rb").read()
        doc = json.loads(raw)
        out.append({"file": os.path.basename(f), "body": raw, "entries": len(doc.get("entry", [])),
                    "first": f in first, "doc": doc if f == rest[0] else None})
    return out


def load(server, bundles, parallel, limit_s):
    """POSTs every Bundle to the base; returns the timing and the entry outcomes."""
    responses = []
    lock = threading.Lock()
    local = threading.local()
    t0 = time.perf_counter()
    stop = threading.Event()

    def post(b):
        if stop.is_set():
            return
        if time.perf_counter() - t0 > limit_s:
            stop.set()
            return
        if not hasattr(local, "conn"):
            local.conn = Conn(server.port)
        status, data = local.conn.req("POST", server.path(""), b["body"])
        with lock:
            responses.append((b, status, data))

    for b in (b for b in bundles if b["first"]):
        post(b)
    with ThreadPoolExecutor(parallel) as ex:
        list(ex.map(post, [b for b in bundles if not b["first"]]))
    secs = time.perf_counter() - t0
    ok = failed = 0
    errors = []
    for b, status, data in responses:
        try:
            doc = json.loads(data)
        except ValueError:
            doc = {}
        if status != 200 or doc.get("resourceType") != "Bundle":
            failed += b["entries"]
            errors.append(f"{b['file']}: HTTP {status} {data[:200]!r}")
            continue
        for e in doc.get("entry", []):
            s = str(e.get("response", {}).get("status", ""))
            if s[:1] == "2":
                ok += 1
            else:
                failed += 1
                if len(errors) < 5:
                    errors.append(f"{b['file']}: entry {s} {json.dumps(e.get('response', {}))[:200]}")
    sent = sum(b["entries"] for b, _, _ in responses)
    return {"seconds": secs, "bundles": len(responses), "bundles_total": len(bundles), "resources": sent,
            "ok": ok, "failed": failed, "per_s": sent / secs if secs else 0, "errors": errors[:5],
            "complete": len(responses) == len(bundles)}


def read_big_tx(folder):
    """The 25,000-entry transaction (one Bundle file in `folder`), decompressed; None if absent."""
    files = sorted(glob.glob(os.path.join(folder, "*.json*")))
    if not files:
        return None
    raw = bz2.open(files[0]).read() if files[0].endswith(".bz2") else open(files[0], "rb").read()
    return {"file": os.path.basename(files[0]), "body": raw, "doc": json.loads(raw)}


def targets_of(doc):
    """A transaction creating one resource per distinct conditional reference
    (`Type?identifier=system|value`) of `doc`, so that each resolves to exactly one match."""
    refs = set()

    def walk(v):
        if isinstance(v, dict):
            for k, c in v.items():
                if k == "reference" and isinstance(c, str) and "?identifier=" in c:
                    refs.add(c)
                else:
                    walk(c)
        elif isinstance(v, list):
            for c in v:
                walk(c)

    walk(doc)
    entries = []
    for r in sorted(refs):
        t, q = r.split("?identifier=", 1)
        system, value = q.split("|", 1)
        entries.append({"resource": {"resourceType": t, "identifier": [{"system": system, "value": value}]},
                        "request": {"method": "POST", "url": t}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def big_tx(server, big):
    """On a fresh server: creates what the big transaction refers to, then times the POST of the
    transaction itself (every entry must answer 2xx)."""
    server.start()
    try:
        c = Conn(server.port)
        status, data = c.req("POST", server.path(""), json.dumps(targets_of(big["doc"])))
        if status != 200:
            return {"error": f"set-up transaction: HTTP {status} {data[:200]!r}"}
        server.wait_idle()
        n = len(big["doc"].get("entry", []))
        t0 = time.perf_counter()
        status, data = c.req("POST", server.path(""), big["body"])
        secs = time.perf_counter() - t0
        out = {"entries": n, "seconds": secs, "status": status, "ok": 0}
        if status != 200:
            out["error"] = f"HTTP {status} {data[:300]!r}"
            return out
        doc = json.loads(data)
        out["ok"] = sum(1 for e in doc.get("entry", []) if str(e.get("response", {}).get("status", ""))[:1] == "2")
        if out["ok"] != n:
            out["error"] = f"{n - out['ok']} entries not 2xx"
        return out
    finally:
        server.stop()


# ---------------------------------------------------------------- scenarios

LOINC_WEIGHT = "http://loinc.org|29463-7"
SYNTHEA_ID = "https://github.com/synthetichealth/synthea"

NEW_PATIENT = {"resourceType": "Patient", "active": True, "name": [{"family": "Bench", "given": ["Load"]}],
               "gender": "female", "birthDate": "1980-02-29",
               "identifier": [{"system": "urn:hearth-bench", "value": "create"}]}


def small_transaction():
    pat = "urn:uuid:7f1b3a52-0000-4000-8000-000000000001"
    enc = "urn:uuid:7f1b3a52-0000-4000-8000-000000000002"
    obs = lambda code, value: {"resourceType": "Observation", "status": "final",
                               "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                               "subject": {"reference": pat}, "encounter": {"reference": enc},
                               "effectiveDateTime": "2024-05-01T10:00:00Z",
                               "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    entries = [
        {"fullUrl": pat, "resource": dict(NEW_PATIENT), "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": enc, "resource": {"resourceType": "Encounter", "status": "finished",
                                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                                      "subject": {"reference": pat},
                                      "period": {"start": "2024-05-01T10:00:00Z", "end": "2024-05-01T10:30:00Z"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": "urn:uuid:7f1b3a52-0000-4000-8000-000000000003", "resource": obs("29463-7", 71.5),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:7f1b3a52-0000-4000-8000-000000000004", "resource": obs("8302-2", 172),
         "request": {"method": "POST", "url": "Observation"}},
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


UPDATE_IDS = [f"bench-upd-{i}" for i in range(64)]


def update_body(i):
    return json.dumps(dict(NEW_PATIENT, id=i, active=False))


def scenarios(ctx):
    """(name, method, path relative to the base, body, kind). `ctx` holds ids found in the server."""
    fam = ctx["family"]
    return [
        ("read", "GET", f"Patient/{ctx['pid']}", None, "read"),
        ("vread", "GET", f"Patient/{ctx['pid']}/_history/{ctx['vid']}", None, "read"),
        ("search token _count=50", "GET", f"Observation?code={LOINC_WEIGHT}&_count=50", None, "search"),
        ("search date range", "GET", "Encounter?date=ge2019-01-01&date=lt2020-01-01&_count=50", None, "search"),
        ("search chained", "GET", f"Observation?patient.family={fam}&_count=50", None, "search"),
        ("search _include", "GET", f"Observation?code={LOINC_WEIGHT}&_include=Observation:patient&_count=50", None, "include"),
        ("search _summary=count", "GET", "Observation?category=vital-signs&_summary=count", None, "count"),
        ("create", "POST", "Patient", json.dumps(NEW_PATIENT), "write"),
        ("update", "PUT", "Patient/{id}", None, "update"),
        ("transaction (4 entries)", "POST", "", json.dumps(small_transaction()), "transaction"),
    ]


def discover(server, doc):
    """Finds, in this server, the patient of the first patient Bundle (ids are server-assigned)."""
    c = Conn(server.port)
    pat = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    ident = next(i["value"] for i in pat["identifier"] if i.get("system") == SYNTHEA_ID)
    status, b = c.json("GET", server.path(f"Patient?identifier={SYNTHEA_ID}|{ident}"))
    ents = [e for e in (b or {}).get("entry", []) if e.get("resource", {}).get("resourceType") == "Patient"]
    if status != 200 or not ents:
        raise RuntimeError(f"{server.name}: patient {ident} not found ({status}): {str(b)[:300]}")
    pid = ents[0]["resource"]["id"]
    status, p = c.json("GET", server.path(f"Patient/{pid}"))
    vid = p.get("meta", {}).get("versionId", "1")
    for i in UPDATE_IDS:  # the update scenario's resources (update-as-create)
        s, d = c.req("PUT", server.path(f"Patient/{i}"), update_body(i))
        if s not in (200, 201):
            log(f"  {server.name}: PUT Patient/{i} -> {s} {d[:200]!r}")
            break
    return {"pid": pid, "vid": vid, "family": pat["name"][0]["family"]}


def check(server, sc):
    """One request of the scenario, strict handling: (ok, note). A search must not drop a parameter."""
    name, method, path, body, kind = sc
    if kind == "update":
        path, body = path.replace("{id}", UPDATE_IDS[0]), update_body(UPDATE_IDS[0])
    c = Conn(server.port)
    status, doc = c.json(method, server.path(path), body, {"Prefer": "handling=strict"})
    doc = doc or {}
    if status >= 300:
        issue = (doc.get("issue") or [{}])[0]
        why = issue.get("diagnostics") or issue.get("details", {}).get("text") or doc.get("raw", "")
        return False, f"HTTP {status}: {str(why)[:120]}"
    note = ""
    if kind in ("search", "include", "count"):
        ents = doc.get("entry", [])
        outcome = [e for e in ents if e.get("search", {}).get("mode") == "outcome"
                   or e.get("resource", {}).get("resourceType") == "OperationOutcome"]
        if outcome:
            diag = outcome[0].get("resource", {}).get("issue", [{}])[0].get("diagnostics", "")
            return False, f"parameter ignored: {diag[:120]}"
        match = [e for e in ents if e.get("search", {}).get("mode", "match") == "match"]
        inc = [e for e in ents if e.get("search", {}).get("mode") == "include"]
        if kind == "count" and "total" not in doc:
            return False, "no total"
        if kind != "count" and not match:
            return False, "no matches"
        if kind == "include" and not inc:
            return False, "no included resources"
        note = f"{len(match)} matches" + (f" + {len(inc)} included" if kind == "include" else "") + \
               (f", total {doc['total']}" if "total" in doc else ", no total")
    return True, note


def lua_string(s):
    level = 0
    while ("]" + "=" * level + "]") in s:
        level += 1
    return "[" + "=" * level + "[" + s + "]" + "=" * level + "]"


DONE = r'''
done = function(summary, latency, requests)
  io.write(string.format("BENCHJSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d," ..
    "\"err_connect\":%d,\"err_read\":%d,\"err_write\":%d,\"err_status\":%d,\"err_timeout\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
'''


def lua_script(server, sc, folder):
    name, method, path, body, kind = sc
    lines = ['wrk.headers["Accept"] = "application/fhir+json"']
    if kind == "update":
        lines.append('wrk.headers["Content-Type"] = "application/fhir+json"')
        lines.append("local paths, bodies = {}, {}")
        for i in UPDATE_IDS:
            lines.append(f"table.insert(paths, {lua_string(server.path(path.replace('{id}', i)))})")
            lines.append(f"table.insert(bodies, {lua_string(update_body(i))})")
        lines.append("init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end")
        lines.append('request = function() local i = math.random(#paths); return wrk.format("PUT", paths[i], nil, bodies[i]) end')
    else:
        lines.append(f'wrk.method = "{method}"')
        lines.append(f"wrk.path = {lua_string(server.path(path))}")
        if body is not None:
            lines.append('wrk.headers["Content-Type"] = "application/fhir+json"')
            lines.append(f"wrk.body = {lua_string(body)}")
    fname = os.path.join(folder, f"{server.name}-{name.split()[0]}-{abs(hash(name)) % 10000}.lua")
    with open(fname, "w") as f:
        f.write("\n".join(lines) + "\n" + DONE)
    return fname


def wrk(server, script, conns, duration):
    threads = max(1, min(conns, 2))
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration}s", "--timeout", "10s", "-s", script,
           f"http://127.0.0.1:{server.port}"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    prioritize(p.pid)
    PROCS.append(p)
    out, _ = p.communicate(timeout=duration + 60)
    line = next((l for l in out.splitlines() if l.startswith("BENCHJSON ")), None)
    if not line:
        return {"error": out[-300:]}
    r = json.loads(line[len("BENCHJSON "):])
    secs = r["duration_us"] / 1e6
    errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    return {"rps": r["requests"] / secs, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "requests": r["requests"], "non2xx": r["err_status"], "socket_errors": errors}


def run_scenarios(server, ctx, conns, duration, folder, checks=True):
    results = {}
    for sc in scenarios(ctx):
        name = sc[0]
        ok, note = check(server, sc) if checks else (True, "")
        entry = {"supported": ok, "note": note, "runs": {}}
        results[name] = entry
        if not ok:
            log(f"  {server.name} {name}: not run ({note})")
            continue
        script = lua_script(server, sc, folder)
        for c in conns:
            server.wait_idle()
            r = wrk(server, script, c, duration)
            entry["runs"][str(c)] = r
            if "error" in r:
                log(f"  {server.name} {name} c={c}: wrk failed: {r['error']}")
            else:
                bad = f"  [{r['non2xx']} non-2xx, {r['socket_errors']} socket errors]" if r["non2xx"] or r["socket_errors"] else ""
                log(f"  {server.name:7} {name:26} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms{bad}")
    return results


# ---------------------------------------------------------------- servers

def hearth_server(binary, root, sync):
    d = os.path.join(root, "hearth")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    return Server("hearth", [os.path.abspath(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(d, "data")],
                  port, "/fhir", env={"HEARTH_SQLITE_SYNC": sync}, workdir=d)


def helios_server(binary, root, definitions):
    """Helios FHIR Server 0.2.x: default SQLite backend, R4, served at the root path. It reads
    the R4 SearchParameters from DATA_DIR/search-parameters-r4.json (a Bundle, as in its repo);
    without it only a minimal fallback set works, so they are written from Hearth's copy of
    the same official definitions."""
    d = os.path.join(root, "helios")
    data = os.path.join(d, "data")
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(definitions, "search-parameters.json")) as f:
        params = json.load(f)
    entries = [{"fullUrl": p["url"], "resource": dict(p, resourceType="SearchParameter", status="active",
                                                      name=p["code"], id=p["url"].rsplit("/", 1)[-1])} for p in params]
    with open(os.path.join(data, "search-parameters-r4.json"), "w") as f:
        json.dump({"resourceType": "Bundle", "type": "collection", "entry": entries}, f)
    with open(os.path.join(definitions, "compartments.json")) as f:
        comps = json.load(f)
    entries = [{"resource": dict(c, resourceType="CompartmentDefinition", id=c["code"].lower(), status="active",
                                 search=True, name=c["code"], url=f"http://hl7.org/fhir/CompartmentDefinition/{c['code'].lower()}")}
               for c in comps]
    with open(os.path.join(data, "compartment-definitions-r4.json"), "w") as f:
        json.dump({"resourceType": "Bundle", "type": "collection", "entry": entries}, f)
    port = free_port()
    env = {"HFS_BASE_URL": f"http://127.0.0.1:{port}", "HFS_REQUEST_TIMEOUT": "900", "HFS_UI_ENABLED": "false"}
    return Server("helios", [os.path.abspath(binary), "--host", "127.0.0.1", "--port", str(port),
                             "--database-url", os.path.join(d, "fhir.db"), "--data-dir", data],
                  port, "", env=env, workdir=d)


def ceiling_server(binary, root, body):
    d = os.path.join(root, "ceiling")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "patient.json")
    with open(path, "wb") as f:
        f.write(body)
    port = free_port()
    return Server("ceiling", [os.path.abspath(binary), f"127.0.0.1:{port}", path], port, "", workdir=d)


def measure_server(server, bundles, args, folder):
    out = {}
    log(f"== {server.name}: start (fresh data directory)")
    out["start_ms_empty"] = server.start()
    time.sleep(1.0)
    out["rss_mb_idle_empty"] = server.rss_mb()
    log(f"  start -> first response {out['start_ms_empty']:.0f} ms, idle RSS {out['rss_mb_idle_empty']:.1f} MB")
    log(f"== {server.name}: loading {sum(b['entries'] for b in bundles)} resources in {len(bundles)} Bundles")
    out["load"] = load(server, bundles, args.load_parallel, args.load_limit)
    ld = out["load"]
    log(f"  {ld['resources']} resources in {ld['seconds']:.1f} s = {ld['per_s']:.0f} resources/s "
        f"({ld['failed']} entries failed{'' if ld['complete'] else ', stopped at the time limit'})")
    for e in ld["errors"]:
        log(f"    {e}")
    ctx = discover(server, next(b["doc"] for b in bundles if b["doc"]))
    out["ctx"] = ctx
    time.sleep(1.0)
    out["rss_mb_idle_loaded"] = server.rss_mb()
    status, body = Conn(server.port).req("GET", server.path(f"Patient/{ctx['pid']}"))
    out["read_body"] = body
    log(f"== {server.name}: scenarios")
    out["scenarios"] = run_scenarios(server, ctx, args.conns, args.duration, folder)
    out["rss_mb_after_runs"] = server.rss_mb()
    server.stop()
    out["start_ms_loaded"] = server.start()
    log(f"  restart with the data: first response after {out['start_ms_loaded']:.0f} ms")
    server.stop()
    return out


# ---------------------------------------------------------------- report

def machine():
    info = {"cores": os.cpu_count()}
    with open("/proc/meminfo") as f:
        info["mem_gb"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = "?"
    info["load_avg"] = os.getloadavg()

    info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src"], capture_output=True, text=True).stdout.strip()
    info["src_dirty"] = bool(dirty)
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def fmt_rate(x):
    return f"{x:,.0f}" if x is not None else "–"


def cell(server_res, scenario, c):
    if server_res is None:
        return None, "not run"
    s = server_res["scenarios"].get(scenario)
    if not s["supported"]:
        return None, f"not supported ({s['note']})"
    r = s["runs"].get(str(c))
    if not r or "error" in r:
        return None, "wrk failed"
    return r, None


def report(res, args):
    m = res["machine"]
    hearth, peer, ceil = res["hearth"], res.get("helios"), res.get("ceiling")
    L = []
    L.append(f"Run {m['date']}, commit {m['commit']}{' (src modified)' if m['src_dirty'] else ''}; "
             f"{m['cores']} cores ({m['cpu']}), {m['mem_gb']} GB; load average at start "
             f"{m['load_avg'][0]:.2f}; {m['priority']}; {args.duration} s per run; wrk on the same cores.")
    if res.get("helios_error"):
        L.append("")
        L.append(f"The peer failed: {res['helios_error'][:300]}")
    L.append("")
    L.append("| scenario | conns | Hearth req/s | p50 ms | p99 ms | Helios req/s | p50 ms | p99 ms | ceiling req/s | Hearth/Helios | Hearth/ceiling |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in hearth["scenarios"]:
        for c in args.conns:
            h, hn = cell(hearth, sc, c)
            p, pn = cell(peer, sc, c)
            k, kn = cell(ceil, sc, c)
            def three(r, note):
                if r is None:
                    return [note, "", ""]
                flag = " ⚠" if r["non2xx"] or r["socket_errors"] else ""
                return [fmt_rate(r["rps"]) + flag, f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"]
            row = [sc, str(c)] + three(h, hn) + three(p, pn) + [fmt_rate(k["rps"]) if k else (kn or "")]
            row.append(f"{h['rps'] / p['rps']:.2f}x" if h and p else "–")
            row.append(f"{h['rps'] / k['rps']:.2f}" if h and k else "–")
            L.append("| " + " | ".join(row) + " |")
    if any("⚠" in l for l in L):
        L.append("")
        L.append("⚠: some answers were not 2xx or a connection failed (counts in results.json).")
    L.append("")
    L.append("What each search returned (first page, strict handling):")
    L.append("")
    L.append("| scenario | Hearth | Helios |")
    L.append("|---|---|---|")
    for sc, s in hearth["scenarios"].items():
        if sc.startswith("search"):
            ps = peer["scenarios"][sc]["note"] if peer else "not run"
            L.append(f"| {sc} | {s['note']} | {ps} |")
    L.append("")
    L.append("| server | Synthea load | resources/s | failed entries | start → first response, empty / loaded | idle RSS, empty / loaded / after runs |")
    L.append("|---|---|---:|---:|---|---|")
    for name, r in (("Hearth", hearth), ("Helios", peer)):
        if r is None:
            L.append(f"| {name} | not run | | | | |")
            continue
        ld = r["load"]
        part = "" if ld["complete"] else f" (stopped at {args.load_limit} s: {ld['bundles']}/{ld['bundles_total']} Bundles)"
        L.append(f"| {name} | {ld['resources']:,} resources in {ld['seconds']:.1f} s{part} | {ld['per_s']:,.0f} | {ld['failed']} | "
                 f"{r['start_ms_empty']:.0f} ms / {r['start_ms_loaded']:.0f} ms | "
                 f"{r['rss_mb_idle_empty']:.1f} / {r['rss_mb_idle_loaded']:.1f} / {r['rss_mb_after_runs']:.1f} MB |")
    L.append("")
    L.append("| Hearth step | measured | rate | failed entries | goal met |")
    L.append("|---|---|---:|---:|---|")
    L.append(big_tx_row(hearth.get("big_tx")))
    L.append("")
    L.extend(goals(res, args))
    return "\n".join(L)


def goals(res, args):
    hearth, peer, ceil = res["hearth"], res.get("helios"), res.get("ceiling")
    top = str(max(args.conns))
    G = ["| goal | measured | met |", "|---|---|---|"]

    def run(r, sc, c):
        if r is None:
            return None
        s = r["scenarios"][sc]
        return s["runs"].get(c) if s["supported"] else None

    def yes(b):
        return "yes" if b else ("no" if b is not None else "n/a")

    h, p, k = run(hearth, "read", top), run(peer, "read", top), run(ceil, "read", top)
    if h:
        G.append(f"| read by id, {top} conns: ≥2x peer | {h['rps'] / p['rps']:.2f}x |" + f" {yes(h['rps'] >= 2 * p['rps'])} |"
                 if p else f"| read by id, {top} conns: ≥2x peer | peer not run | n/a |")
        G.append(f"| read by id, {top} conns: ≥½ ceiling | {h['rps'] / k['rps']:.2f} |" + f" {yes(h['rps'] >= 0.5 * k['rps'])} |"
                 if k else "| read: ≥½ ceiling | ceiling not run | n/a |")
        G.append(f"| read by id, {top} conns: p99 ≤ 5 ms | {h['p99_ms']:.2f} ms | {yes(h['p99_ms'] <= 5)} |")
    ld = hearth["load"]
    G.append(f"| Synthea upload ≥ 20,000 resources/s | {ld['per_s']:,.0f}/s | {yes(ld['per_s'] >= 20000)} |")
    if peer:
        r = ld["per_s"] / peer["load"]["per_s"]
        G.append(f"| Synthea upload ≥ 3x peer | {r:.2f}x | {yes(r >= 3)} |")
    else:
        G.append("| Synthea upload ≥ 3x peer | peer not run | n/a |")
    b = hearth.get("big_tx")
    if b and "seconds" in b:
        ok = not b.get("error") and b["seconds"] <= 5
        G.append(f"| {b['entries']:,}-entry transaction ≤ 5 s | {b['seconds']:.2f} s{' (' + b['error'][:80] + ')' if b.get('error') else ''} | {yes(ok)} |")
    else:
        G.append(f"| 25,000-entry transaction ≤ 5 s | {'failed: ' + b.get('error', '')[:80] if b else 'not run'} | {yes(False) if b else 'n/a'} |")
    sc = "search token _count=50"
    h, p = run(hearth, sc, top), run(peer, sc, top)
    if h:
        G.append(f"| token search _count=50, {top} conns: ≥2x peer | " + (f"{h['rps'] / p['rps']:.2f}x | {yes(h['rps'] >= 2 * p['rps'])} |" if p else "peer not run | n/a |"))
        best = min(r["p50_ms"] for r in hearth["scenarios"][sc]["runs"].values() if "p50_ms" in r)
        G.append(f"| token search _count=50: p50 ≤ 5 ms | {h['p50_ms']:.2f} ms at {top} conns, {best:.2f} ms best | {yes(h['p50_ms'] <= 5)} |")
    G.append(f"| start → first response ≤ 50 ms | {hearth['start_ms_empty']:.0f} ms (empty), {hearth['start_ms_loaded']:.0f} ms (loaded) | {yes(max(hearth['start_ms_empty'], hearth['start_ms_loaded']) <= 50)} |")
    G.append(f"| idle RSS ≤ 30 MB | {hearth['rss_mb_idle_empty']:.1f} MB (empty), {hearth['rss_mb_idle_loaded']:.1f} MB (loaded) | {yes(hearth['rss_mb_idle_empty'] <= 30)} (empty) |")
    return G


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--ceiling", required=True)
    ap.add_argument("--peer", default="")
    ap.add_argument("--data", required=True)
    ap.add_argument("--definitions", default="definitions/r4")
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--conns", default="1 16 64")
    ap.add_argument("--hearth-sync", default="normal")
    ap.add_argument("--load-parallel", type=int, default=2)
    ap.add_argument("--load-limit", type=int, default=300, help="seconds after which no further Bundle is sent")
    ap.add_argument("--nice", type=int, default=0, help="priority of the benchmark's processes (e.g. -10; root only)")
    ap.add_argument("--only", default="", help="comma-separated servers to run (hearth,helios,ceiling)")
    ap.add_argument("--out", default="target/bench")
    ap.add_argument("--big-tx", default="", help="folder of the big transaction (default: big-tx beside --data)")
    ap.add_argument("--load-only", action="store_true", default=os.environ.get("BENCH_ONLY") == "load",
                    help="Hearth's Synthea load and big transaction only (also BENCH_ONLY=load)")
    args = ap.parse_args()
    args.big_tx = args.big_tx or os.path.join(os.path.dirname(os.path.abspath(args.data)), "big-tx")
    args.conns = [int(c) for c in args.conns.replace(",", " ").split()]
    only = set(filter(None, args.only.split(",")))
    os.makedirs(args.out, exist_ok=True)
    root = tempfile.mkdtemp(prefix="hearth-bench-")
    atexit.register(lambda: shutil.rmtree(root, ignore_errors=True))
    priority = raise_priority(args.nice)
    res = {"machine": dict(machine(), priority=priority), "settings": {"duration": args.duration, "conns": args.conns, "hearth_sync": args.hearth_sync,
                                              "load_parallel": args.load_parallel}}
    t0 = time.time()
    bundles = read_bundles(args.data)
    log(f"== {len(bundles)} Bundles, {sum(b['entries'] for b in bundles)} resources from {args.data}")
    big = read_big_tx(args.big_tx)
    if args.load_only:
        return load_only(args, res, bundles, big, root, t0)
    res["hearth"] = measure_server(hearth_server(args.hearth, root, args.hearth_sync), bundles, args, root)
    read_body = res["hearth"].pop("read_body")
    res["hearth"]["big_tx"] = run_big_tx(hearth_server(args.hearth, os.path.join(root, "big-tx"), args.hearth_sync), big)
    if args.peer and (not only or "helios" in only):
        try:
            res["helios"] = measure_server(helios_server(args.peer, root, args.definitions), bundles, args, root)
            res["helios"].pop("read_body", None)
        except Exception as e:  # the peer failing must not lose Hearth's numbers
            log(f"!! helios: {e}")
            res["helios_error"] = str(e)
    if not only or "ceiling" in only:
        log("== ceiling (fixed Patient body, the bytes Hearth answers to the read)")
        srv = ceiling_server(args.ceiling, root, read_body)
        srv.start()
        res["ceiling"] = {"scenarios": run_scenarios(srv, res["hearth"]["ctx"], args.conns, args.duration, root, checks=False)}
        srv.stop()
    res["seconds"] = time.time() - t0
    md = report(res, args)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    log(f"== done in {res['seconds']:.0f} s; {args.out}/results.md and results.json")


def run_big_tx(server, big):
    if big is None:
        return None
    log(f"== {server.name}: big transaction ({len(big['doc'].get('entry', []))} entries, {big['file']}) on a fresh data directory")
    r = big_tx(server, big)
    log(f"  {r.get('entries', 0)} entries in {r['seconds']:.2f} s" if "seconds" in r else "  not timed")
    if r.get("error"):
        log(f"  !! {r['error']}")
    return r


def load_only(args, res, bundles, big, root, t0):
    """Hearth's load and big transaction, each on a fresh data directory (no scenarios)."""
    server = hearth_server(args.hearth, root, args.hearth_sync)
    server.start()
    log(f"== hearth (pid {server.proc.pid}): loading {sum(b['entries'] for b in bundles)} resources in {len(bundles)} Bundles")
    ld = load(server, bundles, args.load_parallel, args.load_limit)
    cpu = server.cpu_seconds()
    server.stop()
    log(f"  {ld['resources']} resources in {ld['seconds']:.1f} s = {ld['per_s']:.0f} resources/s, "
        f"server CPU {cpu:.1f} s ({ld['failed']} entries failed{'' if ld['complete'] else ', stopped at the time limit'})")
    for e in ld["errors"]:
        log(f"    {e}")
    res["hearth"] = {"load": ld, "load_cpu_s": cpu,
                     "big_tx": run_big_tx(hearth_server(args.hearth, os.path.join(root, "big-tx"), args.hearth_sync), big)}
    res["seconds"] = time.time() - t0
    m = res["machine"]
    L = [f"Load only, {m['date']}, commit {m['commit']}{' (src modified)' if m['src_dirty'] else ''}; "
         f"load average at start {m['load_avg'][0]:.2f}; {m['priority']}.", ""]
    L.extend(load_rows(res, args))
    md = "\n".join(L)
    with open(os.path.join(args.out, "load.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, "load.md"), "w") as f:
        f.write(md + "\n")
    print(md)


def load_rows(res, args):
    """The Synthea load and the big transaction of Hearth."""
    h = res["hearth"]
    ld = h["load"]
    part = "" if ld["complete"] else f" (stopped at {args.load_limit} s: {ld['bundles']}/{ld['bundles_total']} Bundles)"
    L = ["| step | measured | rate | failed entries | goal met |", "|---|---|---:|---:|---|"]
    L.append(f"| Synthea load | {ld['resources']:,} resources in {ld['seconds']:.1f} s{part} | {ld['per_s']:,.0f} resources/s | "
             f"{ld['failed']} | {'yes' if ld['complete'] and not ld['failed'] and ld['per_s'] >= 20000 else 'no'} (≥ 20,000/s) |")
    L.append(big_tx_row(h.get("big_tx")))
    return L


def big_tx_row(b):
    if b is None:
        return "| big transaction | not run (no big-tx data) | | | |"
    if "seconds" not in b:
        return f"| big transaction | failed: {b.get('error', '')[:120]} | | | no |"
    failed = b["entries"] - b["ok"]
    note = f" ({b['error'][:120]})" if b.get("error") else ""
    return (f"| big transaction | {b['entries']:,} entries in {b['seconds']:.2f} s{note} | {b['entries'] / b['seconds']:,.0f} entries/s | "
            f"{failed} | {'yes' if not failed and b['seconds'] <= 5 else 'no'} (≤ 5 s) |")


if __name__ == "__main__":
    main()
