#!/bin/sh
# Give each heatwatch service an InfluxDB 2.x token that can do only its job (docs/security.md).
#
# Runs as docker-compose's one-shot `influxdb-tokens` service, with the influx CLI of the
# influxdb:2.x image, after InfluxDB is healthy and before any service starts. The operator
# (all-access) token made at InfluxDB's first start is given to this script and to nothing else.
#
#   service    permissions on the bucket   token file (one volume each, mounted by that service)
#   collector  read + write                $TOKENS_DIR/collector/token
#   alerts     read + write (alert_events) $TOKENS_DIR/alerts/token
#   api        read                        $TOKENS_DIR/api/token
#   grafana    read                        $TOKENS_DIR/grafana/token
#
# InfluxDB 2.x scopes tokens by bucket, not by measurement: the alert engine's token can write
# the bucket its alert_events go to (the bucket Grafana and the API read), and it reads that
# bucket for its warm-up. The collector reads the bucket's field types at start (SHOW FIELD
# KEYS, so a field type conflict costs no failed write; collector/fieldtypes.py). No service token can read or write another bucket, create or delete
# buckets, tokens or users.
#
# InfluxDB makes the token strings (they cannot be chosen), so they travel to the services as
# files (influx.token_file; Grafana's entrypoint reads its own). Idempotent: a token whose file
# exists and that InfluxDB still knows is kept; a missing or revoked one is replaced (the old
# authorization with the same description is deleted), so `docker compose up` after a
# revocation hands out a fresh token. Remove a token file to rotate that service's token.
# Every influx command gets the operator token from the environment (INFLUX_TOKEN), never on
# its command line, where `ps` would show it.
set -eu
umask 077
: "${INFLUX_HOST:?INFLUX_HOST: the InfluxDB URL}"
: "${INFLUX_TOKEN:?INFLUX_TOKEN: the operator token (INFLUX_ADMIN_TOKEN in .env)}"
: "${INFLUX_ORG:?INFLUX_ORG: the organisation}"
: "${INFLUX_BUCKET:?INFLUX_BUCKET: the bucket}"
TOKENS_DIR=${TOKENS_DIR:-/tokens}
SERVICE_UID=${SERVICE_UID:-10001}  # the heatwatch image's user (Dockerfile)
GRAFANA_UID=${GRAFANA_UID:-472}    # the grafana image's user
export INFLUX_HOST INFLUX_TOKEN INFLUX_ORG

case "$INFLUX_TOKEN" in
  [Cc][Hh][Aa][Nn][Gg][Ee]-[Mm][Ee]*)
    echo "scoped-tokens: INFLUX_ADMIN_TOKEN is still a change-me placeholder" >&2; exit 1 ;;
esac

bucket=$(influx bucket list --name "$INFLUX_BUCKET" --hide-headers | awk 'NR == 1 {print $1}')
if [ -z "$bucket" ]; then
  echo "scoped-tokens: no bucket $INFLUX_BUCKET in org $INFLUX_ORG" >&2
  exit 1
fi
# Hourly downsampling (a second bucket and a task, deploy/influxdb/downsampling.sh) when
# INFLUX_HOURLY_BUCKET is set; the API and Grafana read it too (long ranges).
hourly_read=""
if [ -n "${INFLUX_HOURLY_BUCKET:-}" ]; then
  sh "$(dirname "$0")/downsampling.sh"
  hourly_read="--read-bucket $(influx bucket list --name "$INFLUX_HOURLY_BUCKET" --hide-headers | awk 'NR == 1 {print $1}')"
fi
known=$(influx auth list --json)

scoped() {  # scoped NAME OWNER_UID PERMISSION_FLAG...
  name=$1; owner=$2; shift 2
  description="heatwatch-$name"
  file=$TOKENS_DIR/$name/token
  mkdir -p "$TOKENS_DIR/$name"
  if [ -s "$file" ] && printf '%s\n' "$known" | grep -qF "\"token\": \"$(cat "$file")\""; then
    echo "scoped-tokens: $name: token kept"
  else
    # A stale authorization (its file lost, or revoked) goes; then a fresh one.
    influx auth list --hide-headers | awk -v d="$description" '$2 == d {print $1}' |
      while read -r id; do influx auth delete --id "$id" > /dev/null; done
    made=$(influx auth create --org "$INFLUX_ORG" --description "$description" "$@" --json)
    token=$(printf '%s\n' "$made" | sed -n 's/^[[:space:]]*"token":[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)
    if [ -z "$token" ]; then
      echo "scoped-tokens: $name: influx auth create returned no token" >&2
      exit 1
    fi
    printf '%s\n' "$token" > "$file.new"
    mv "$file.new" "$file"
    echo "scoped-tokens: $name: new token ($*)"
  fi
  chown "$owner" "$file" "$TOKENS_DIR/$name"
  chmod 0400 "$file"
  chmod 0500 "$TOKENS_DIR/$name"
}

scoped collector "$SERVICE_UID" --read-bucket "$bucket" --write-bucket "$bucket"
scoped alerts "$SERVICE_UID" --read-bucket "$bucket" --write-bucket "$bucket"
# shellcheck disable=SC2086 # $hourly_read is empty or one flag and a bucket id
scoped api "$SERVICE_UID" --read-bucket "$bucket" $hourly_read
# shellcheck disable=SC2086
scoped grafana "$GRAFANA_UID" --read-bucket "$bucket" $hourly_read
