#!/usr/bin/env bash
# Third-party clients the tests judge devarch's outputs with: Python `jsonschema`, and from
# npm (versions pinned in tests/tools/package-lock.json) Ajv and yaml-language-server.
# Installs what is missing from Debian, then `npm ci` into tests/tools/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[tools] $*" >&2; }
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
if ! python3 -c 'import jsonschema' 2>/dev/null; then missing+=(python3-jsonschema); fi
if ((${#missing[@]})); then
  log "installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -f tests/tools/node_modules/.package-lock.json ] ||
  ! cmp -s tests/tools/package-lock.json tests/tools/node_modules/.devarch-lock; then
  log "npm ci in tests/tools"
  (cd tests/tools && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.devarch-lock)
fi
log "node $(node --version), python3 jsonschema $(python3 -c 'import importlib.metadata as m; print(m.version("jsonschema"))')"
