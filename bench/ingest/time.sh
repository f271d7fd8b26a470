#!/usr/bin/env bash
# End-to-end $ingest-document timings over HTTP against a release build: a 3-page text PDF
# (first ingestion, then the same document again) and a one-page scan (OCR).
# Usage: bench/ingest/time.sh [path/to/hearth]   (default: target/release/hearth)
# Needs curl and, for the scan, pdfseparate/pdftoppm (poppler-utils) and tesseract.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${1:-$ROOT/target/release/hearth}"
WORK="$(mktemp -d)"
PORT=$((20000 + RANDOM % 20000))
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
B="http://127.0.0.1:$PORT/fhir"
for _ in $(seq 100); do curl -sf "$B/metadata" >/dev/null 2>&1 && break; sleep 0.1; done

post() { # file content-type -> seconds and status
    curl -s -o "$WORK/out.json" -w '%{time_total} s, HTTP %{http_code}' -X POST "$B/\$ingest-document" -H "Content-Type: $2" --data-binary @"$1"
}
echo "first request after start (loads the blueprint and terminology tables), 2-page text PDF: $(post "$ROOT/bench/ingest/corpus/012-clinic.pdf" application/pdf)"
text="$ROOT/bench/ingest/corpus/000-clinic.pdf"
echo "3-page text PDF ($(pdfinfo "$text" 2>/dev/null | awk '/^Pages/ {print $2}') pages), first time: $(post "$text" application/pdf)"
echo "3-page text PDF, again (nothing new): $(post "$text" application/pdf)"
for f in 003-clinic 006-clinic 009-clinic; do
    echo "text PDF $f: $(post "$ROOT/bench/ingest/corpus/$f.pdf" application/pdf)"
done
pdfseparate -f 1 -l 1 "$ROOT/bench/ingest/scans/001-summary-scan.pdf" "$WORK/scan-page.pdf"
echo "one scanned page (OCR): $(post "$WORK/scan-page.pdf" application/pdf)"
pdfseparate -f 1 -l 1 "$ROOT/bench/ingest/scans/003-clinic-scan.pdf" "$WORK/scan-page2.pdf"
echo "another scanned page (OCR): $(post "$WORK/scan-page2.pdf" application/pdf)"
