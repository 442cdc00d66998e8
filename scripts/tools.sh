#!/usr/bin/env bash
# Third-party clients the tests judge devarch's outputs with: Python `jsonschema` and
# docker-compose (1.29) from Debian; from npm (versions pinned in tests/tools/package-lock.json)
# Ajv, yaml-language-server and playwright-core (driving Debian's chromium); from PyPI (pinned in tests/tools/requirements.txt)
# podman-compose, schemathesis, openapi-spec-validator and kubernetes-validate. Installs what is missing from Debian, then `npm ci` into
# tests/tools/node_modules and `pip install` into tests/tools/venv.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[tools] $*" >&2; }
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
if ! python3 -c 'import jsonschema' 2>/dev/null; then missing+=(python3-jsonschema); fi
if ! python3 -c 'import yaml' 2>/dev/null; then missing+=(python3-yaml); fi
[ -x /usr/bin/docker-compose ] || missing+=(docker-compose)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then missing+=(python3-venv); fi
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
venv=tests/tools/venv
if [ ! -x $venv/bin/podman-compose ] ||
  ! cmp -s tests/tools/requirements.txt $venv/.devarch-requirements; then
  log "pip install -r tests/tools/requirements.txt into $venv"
  rm -rf $venv
  python3 -m venv $venv
  $venv/bin/pip install --quiet --disable-pip-version-check -r tests/tools/requirements.txt
  cp tests/tools/requirements.txt $venv/.devarch-requirements
fi
log "docker-compose $(/usr/bin/docker-compose version --short), $($venv/bin/podman-compose --version 2>/dev/null | grep -i podman-compose | head -1)"
log "$($venv/bin/schemathesis --version), openapi-spec-validator $($venv/bin/python -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))')"
log "node $(node --version), python3 jsonschema $(python3 -c 'import importlib.metadata as m; print(m.version("jsonschema"))')"
