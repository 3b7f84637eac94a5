#!/usr/bin/env bash
# Proves the migrations work with the real Supabase CLI (pinned in package.json), against scratch
# databases on a plain Postgres given the local Supabase stand-in:
#   1. `supabase db push` applies every migration;
#   2. `supabase db lint --fail-on error` (plpgsql_check) finds no error;
#   3. `workflow-logs migrate` on that database applies nothing (both tools read the same history), and
#      on a fresh database records exactly the rows the CLI recorded.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${SUPABASE_CHECK_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
SUPABASE=./node_modules/.bin/supabase
WL=.venv/bin/workflow-logs
suffix=$(date +%s)_$$
cli_db=wl_cli_push_$suffix
wl_db=wl_cli_ours_$suffix
base=${ADMIN_URL%/*}

cleanup() {
  psql "$ADMIN_URL" -qX -c "drop database if exists $cli_db with (force)" -c "drop database if exists $wl_db with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql "$ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "create database $cli_db" -c "create database $wl_db"
psql "$base/$cli_db" -qX -v ON_ERROR_STOP=1 -f supabase/bootstrap/supabase_shim.sql 2>&1 | grep -v 'wal_level\|HINT' || true

echo "== supabase db push ($($SUPABASE --version))"
$SUPABASE db push --db-url "$base/$cli_db?sslmode=disable" --yes

echo "== supabase db lint --fail-on error"
$SUPABASE db lint --db-url "$base/$cli_db?sslmode=disable" -s public,workflow_logs_private --fail-on error

echo "== workflow-logs migrate after supabase db push"
out=$($WL migrate --database-url "$base/$cli_db")
echo "$out"
[ "$out" = "database is up to date" ] || { echo "workflow-logs migrate disagreed with the CLI's history"; exit 1; }

echo "== workflow-logs migrate on a fresh database records what the CLI records"
$WL migrate --database-url "$base/$wl_db" --supabase-shim >/dev/null
digest="select md5(string_agg(version || name || array_to_string(statements, '<;>'), '|' order by version)) from supabase_migrations.schema_migrations"
a=$(psql "$base/$cli_db" -AtX -c "$digest")
b=$(psql "$base/$wl_db" -AtX -c "$digest")
[ "$a" = "$b" ] || { echo "schema_migrations differ: cli=$a ours=$b"; exit 1; }
echo "schema_migrations identical ($a)"
echo "== supabase db push after workflow-logs migrate"
$SUPABASE db push --db-url "$base/$wl_db?sslmode=disable" --yes 2>&1 | tee /dev/stderr | grep -qi 'up to date' \
  || { echo "supabase db push wanted to re-apply migrations"; exit 1; }
echo "Supabase CLI check passed"
