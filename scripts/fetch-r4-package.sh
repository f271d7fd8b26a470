#!/usr/bin/env bash
# Fetch the official FHIR R4 definitions + examples package (hl7.fhir.r4.examples@4.0.1)
# and extract it into <repo>/.cache/hl7.fhir.r4.examples/package.
#
# Usage: scripts/fetch-r4-package.sh
# Idempotent: does nothing if the package is already extracted. Prints the package path.
# Needs: npm (for `npm pack`), tar.
set -euo pipefail

PKG="hl7.fhir.r4.examples@4.0.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.cache/hl7.fhir.r4.examples"

if [ -f "$DEST/package/package.json" ] && [ -f "$DEST/package/StructureDefinition-Patient.json" ]; then
    echo "$DEST/package"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "$PKG" >/dev/null)
TARBALL="$(ls "$TMP"/*.tgz | head -n 1)"
mkdir -p "$TMP/x"
tar -xzf "$TARBALL" -C "$TMP/x"

mkdir -p "$DEST"
rm -rf "$DEST/package"
mv "$TMP/x/package" "$DEST/package"
echo "$DEST/package"
