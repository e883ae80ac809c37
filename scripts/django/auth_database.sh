#!/usr/bin/env bash
# Regenerates the fixture of the Django importer's tests: a Django auth database written
# by real Django (the reference stack of ../shared/bench/peer-django, plus DRF's
# authtoken app; see auth_database.py for what it holds), dumped as plain SQL, and the
# secrets the tests need to use it:
#
#   infrastructure/tests/fixtures/django_auth_db.sql   the database (pg_dump --inserts)
#   infrastructure/tests/fixtures/django_auth_db.json  plaintext passwords, keys, tokens
#
#   bash scripts/django/auth_database.sh
#
# Needs python3 and PyPI (a venv is made or reused in $VENV, default .venv-django, with
# the peer's requirements.txt and argon2-cffi), PostgreSQL client tools, and a server
# where the PG* variables point (default 127.0.0.1:5432, user postgres). $PEER_DJANGO
# moves the peer. It drops and recreates the database gatehouse_django_fixture, and
# drops it again at the end.
#
# The dump is made to load in one simple-query batch (tokio-postgres' batch_execute),
# which is how the tests load it: psql meta-commands (`\restrict`, `\unrestrict` of
# pg_dump 15.14+) are filtered out and data are INSERTs, not COPY FROM stdin. Both ways
# of loading it are checked here, into scratch databases. `make test` needs neither
# Python nor Django.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PEER_DJANGO="${PEER_DJANGO:-$ROOT/../shared/bench/peer-django}"
VENV="${VENV:-$ROOT/.venv-django}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PEER_DJANGO
DB=gatehouse_django_fixture
FIXTURES="$ROOT/infrastructure/tests/fixtures"
OUT="$FIXTURES/django_auth_db.sql"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r "$PEER_DJANGO/requirements.txt" argon2-cffi==23.1.0

# Python 3.11 warns that the crypt module (the legacy crypt hasher) is deprecated.
"$VENV/bin/python" -W ignore::DeprecationWarning "$ROOT/scripts/django/auth_database.py"

{
  echo "-- A Django auth database written by real Django $("$VENV/bin/python" -c 'import django; print(django.get_version())'),"
  echo "-- DRF, SimpleJWT (token_blacklist) and DRF authtoken: the importer's test fixture."
  echo "-- Its passwords, keys and tokens are in django_auth_db.json. Made by"
  echo "--   pg_dump --no-owner --no-privileges --inserts --no-comments --no-publications"
  echo "--     --no-subscriptions gatehouse_django_fixture"
  echo "-- without psql meta-commands and comments, so it loads in one batch."
  echo "-- Regenerate both files with: bash scripts/django/auth_database.sh"
  pg_dump --no-owner --no-privileges --inserts --no-comments --no-publications \
    --no-subscriptions "$DB" |
    grep -v -e '^\\' -e '^--' | cat -s
  echo
  echo "-- pg_dump's SETs (search_path '' among them) would outlive the load in the session."
  echo "RESET ALL;"
} >"$OUT"

# The dump loads both ways, and holds the users the JSON lists.
users="$("$VENV/bin/python" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["users"]))' \
  "$FIXTURES/django_auth_db.json")"
for how in file batch; do
  scratch="gatehouse_django_fixture_check_$how"
  PGOPTIONS="-c client_min_messages=warning" dropdb --if-exists "$scratch"
  createdb "$scratch"
  if [ "$how" = file ]; then
    psql -q -X -v ON_ERROR_STOP=1 -d "$scratch" -f "$OUT" >/dev/null
  else
    psql -q -X -v ON_ERROR_STOP=1 -d "$scratch" -c "$(cat "$OUT")" >/dev/null
  fi
  loaded="$(psql -X -tA -d "$scratch" -c 'SELECT count(*) FROM auth_user')"
  if [ "$loaded" != "$users" ]; then
    echo "loading by $how gave $loaded users, not $users" >&2
    exit 1
  fi
  dropdb "$scratch"
done
dropdb "$DB"
echo "wrote $OUT ($(wc -c <"$OUT") bytes) and $FIXTURES/django_auth_db.json"
