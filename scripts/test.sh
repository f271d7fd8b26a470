#!/usr/bin/env bash
# The one test command: installs what the tests need, fetches the official R4 package,
# builds and runs every test (unit + HTTP integration tests against the real binary).
#
# Usage: scripts/test.sh [extra args passed to cargo nextest run / cargo test]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '==> %s\n' "$*" >&2; }

# --- system packages: install only what is missing -------------------------------
# Map: command needed -> Debian package providing it. Add rows as tests need more.
declare -A APT_FOR=(
    [curl]=curl
    [tar]=tar
    [npm]=npm
    [kill]=procps
    [cc]=build-essential
    [bzcat]=bzip2
)
missing=()
for cmd in "${!APT_FOR[@]}"; do
    type -P "$cmd" >/dev/null 2>&1 || missing+=("${APT_FOR[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing missing packages: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# --- $ingest-document OCR: Tesseract and pdftoppm (Debian packages), only when missing ---
install_ocr_tools() {
    if type -P tesseract >/dev/null 2>&1 && type -P pdftoppm >/dev/null 2>&1; then return; fi
    log "installing tesseract-ocr tesseract-ocr-eng poppler-utils"
    local SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng poppler-utils
}
install_ocr_tools

# --- Rust toolchain --------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        log "installing the Rust toolchain with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi

# --- Python packages (none needed yet) -------------------------------------------
# PIP_PACKAGES=()  # e.g. (jsonschema); installed with: python3 -m pip install --user "${PIP_PACKAGES[@]}"

# --- AWS emulation: moto[server] (Cognito, DynamoDB, DynamoDB Streams, S3) and
# osmem-server (the OpenSearch REST API, in memory) in .cache/venv-moto ---
# Reused when present. The tests start them (127.0.0.1, random ports) and fail, rather
# than skip, when they are missing.
# Creates (or reuses) the virtualenv $1, in which `python -c "$2"` must succeed, with the
# pinned packages given after them.
ensure_venv() {
    local venv="$1" check="$2"
    shift 2
    if "$venv/bin/python" -c "$check" >/dev/null 2>&1; then return; fi
    log "creating $venv with $*"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        log "python3 -m venv failed; installing python3-venv"
        local SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

setup_moto() {
    local venv="$ROOT/.cache/venv-moto"
    ensure_venv "$venv" 'import os, sys, moto.server, flask, osmem_server; sys.exit(not os.access(os.path.join(os.path.dirname(sys.executable), "moto_server"), os.X_OK))' \
        "moto[server]==5.2.5" "osmem-server==0.1.6"
    export MOTO_SERVER="$venv/bin/moto_server"
    OSMEM_SERVER_BIN="$("$venv/bin/python" -c 'import osmem_server; print(osmem_server.resolve_binary())')"
    export OSMEM_SERVER_BIN
}
setup_moto

# --- test data: the official R4 definitions + examples package -------------------
log "fetching the FHIR R4 examples package"
bash scripts/fetch-r4-package.sh >/dev/null

# --- build and run ---------------------------------------------------------------
# Every test on the embedded backend, then the HTTP suites again on the AWS backend
# (DynamoDB, S3 and OpenSearch emulated on loopback: HEARTH_TEST_BACKEND=aws).
AWS_SUITES=(crud bad_input concurrency conditional transaction patch search_conformance search_paging restart examples_roundtrip ingest_http ingest_input everything auth_regressions auth_matrix auth_property conformance)
run_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast "$@"
    else
        cargo test --workspace --no-fail-fast "$@"
    fi
}
status=0
log "running every test (embedded backend)"
run_tests "$@" || status=1
aws_args=()
for t in "${AWS_SUITES[@]}"; do aws_args+=(--test "$t"); done
log "running the HTTP suites on the AWS backend: ${AWS_SUITES[*]}"
HEARTH_TEST_BACKEND=aws run_tests "${aws_args[@]}" "$@" || status=1

# --- infra/terraform: checkov + structure test (Terraform itself is not installable here) ---
# A venv in .cache/venv-infra (reused when present) with pinned checkov and python-hcl2;
# scripts/check_terraform.py parses every .tf, checks variables/outputs/module wiring and the
# app contract, runs checkov, and closes with "terraform: N passed, M failed, K skipped".
check_terraform() {
    local venv="$ROOT/.cache/venv-infra"
    ensure_venv "$venv" 'import checkov, hcl2' checkov==3.3.30 python-hcl2==8.1.4
    log "checking infra/terraform (python-hcl2 structure test + checkov)"
    "$venv/bin/python" scripts/check_terraform.py
}
check_terraform || status=1
exit "$status"
