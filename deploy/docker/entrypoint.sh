#!/bin/sh
# Entrypoint of the heatwatch image: hand the service its InfluxDB token from a file, then exec
# the command (docker-compose.yml: `heatwatch collect ...`, `alerts`, `api serve`).
#
# Why a file: docker-compose's influxdb-tokens service makes one token per service, scoped to its
# job (deploy/influxdb/scoped-tokens.sh), and InfluxDB 2.x makes token strings itself, so they
# cannot sit in .env; each lands in a volume only that service mounts. INFLUX_TOKEN_FILE names
# it; its content becomes HEATWATCH_INFLUX__TOKEN (the setting influx.token), and the variable
# itself is removed. A named file that is missing or empty stops the start: running without
# the token would only fail later, less clearly.
set -eu
if [ -n "${INFLUX_TOKEN_FILE:-}" ]; then
  if [ ! -s "$INFLUX_TOKEN_FILE" ]; then
    echo "heatwatch entrypoint: INFLUX_TOKEN_FILE $INFLUX_TOKEN_FILE is missing or empty" \
      "(made by the influxdb-tokens service)" >&2
    exit 2
  fi
  HEATWATCH_INFLUX__TOKEN=$(cat "$INFLUX_TOKEN_FILE")
  export HEATWATCH_INFLUX__TOKEN
  unset INFLUX_TOKEN_FILE
fi
exec "$@"
