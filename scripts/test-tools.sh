#!/usr/bin/env bash
# Provisions the Python tools the black-box tests check us with, implementations
# nobody here wrote: JOSE (PyJWT, jwcrypto) for our tokens and JWK Set,
# prometheus_client's parser for /metrics, an OpenAPI validator
# (openapi-spec-validator) and an API fuzzer (schemathesis): a venv under
# target/test-tools/venv with the pins of scripts/test-tools-requirements.txt.
#
# Idempotent and safe to run from several test processes at once (flock): the
# first one installs, the others wait and reuse. A venv is rebuilt when the pins
# change or a previous install did not finish. Needs python3 (with venv and pip)
# and access to PyPI. Progress goes to stderr; the last line on stdout is the
# venv's python.
#
# GATEHOUSE_TEST_TOOLS_DIR moves the tools elsewhere (default: <repo>/target/test-tools).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/scripts/test-tools-requirements.txt"
dir="${GATEHOUSE_TEST_TOOLS_DIR:-$root/target/test-tools}"
venv="$dir/venv"
stamp="$venv/.gatehouse-requirements.sha256"
python="$venv/bin/python"

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x $python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    echo "$python"
    exit 0
fi

echo "test-tools: creating $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$python" -m pip install --quiet --disable-pip-version-check --no-input \
    --requirement "$requirements" >&2
"$python" -m pip check --disable-pip-version-check >&2
"$python" -c 'import jwt, jwcrypto.jwk, cryptography, prometheus_client.parser, openapi_spec_validator, schemathesis' >&2
# Written last: a venv without it is an install that did not finish.
echo "$want" >"$stamp"
echo "test-tools: ready" >&2
echo "$python"
