#!/bin/sh
# Build Mosquitto's password files, ACL and TLS files from the environment, then exec the broker.
#
# Why at start-up: the passwords live in .env (docker-compose refuses to start without them);
# a hashed file committed to the repository would be a second copy to rotate. Station accounts
# are long-lived and many, so they come as ready-hashed lines (mosquitto_passwd format) from
# $MOSQUITTO_DIR/stations/*.passwd, maintained by the operator with mosquitto_passwd.
#
# Two password files because the listeners have separate accounts (mosquitto.conf): the service
# accounts exist only on the internal listener, the station accounts only on the TLS one.
# The demo simulator's account (which may write every station's topics) exists only when
# MQTT_SIMULATOR_PASSWORD is set, which only docker-compose.demo.yml does.
# A password that is empty or still a change-me placeholder from .env.example stops the start.
#
# MOSQUITTO_DIR/MOSQUITTO_INIT/MOSQUITTO_CONF/MOSQUITTO_BIN exist so tests/deploy can run this
# very script on loopback.
set -eu
umask 077
DIR=${MOSQUITTO_DIR:-/mosquitto}
INIT=${MOSQUITTO_INIT:-$DIR/init}
CONF=${MOSQUITTO_CONF:-$DIR/config/mosquitto.conf}
BIN=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
CFG=$DIR/config

secret() {  # secret NAME: the variable's value, or stop with why it cannot be used
  eval "value=\${$1:-}"
  case "$value" in
    "") echo "entrypoint: $1 is empty: set it in .env (openssl rand -base64 24)" >&2; exit 1 ;;
    [Cc][Hh][Aa][Nn][Gg][Ee]-[Mm][Ee]*)
      echo "entrypoint: $1 is still a change-me placeholder: set a real secret in .env" >&2
      exit 1 ;;
  esac
  printf '%s' "$value"
}
COLLECTOR_PW=$(secret MQTT_COLLECTOR_PASSWORD)
ALERTS_PW=$(secret MQTT_ALERTS_PASSWORD)
API_PW=$(secret MQTT_API_PASSWORD)
SIMULATOR_PW=""
if [ -n "${MQTT_SIMULATOR_PASSWORD+set}" ]; then
  SIMULATOR_PW=$(secret MQTT_SIMULATOR_PASSWORD)
fi

mkdir -p "$CFG"
SERVICES=$CFG/passwd.services
STATIONS=$CFG/passwd.stations
: > "$SERVICES"
: > "$STATIONS"
add() { mosquitto_passwd -b "$SERVICES" "$1" "$2"; }
add collector "$COLLECTOR_PW"
add alerts "$ALERTS_PW"
add api "$API_PW"
# The healthcheck account gets a fresh random password each start, kept inside the container.
head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$CFG/healthcheck.pw"
add healthcheck "$(cat "$CFG/healthcheck.pw")"

cp "$INIT/acl" "$CFG/acl.new"
if [ -n "$SIMULATOR_PW" ]; then
  add simulator "$SIMULATOR_PW"
  cat "$INIT/acl.demo" >> "$CFG/acl.new"
  echo "entrypoint: demo: the simulator account may write every station's topics" >&2
fi
mv "$CFG/acl.new" "$CFG/acl"

for f in "$DIR"/stations/*.passwd; do
  if [ -f "$f" ]; then cat "$f" >> "$STATIONS"; fi
done

# TLS: the key must be readable by the broker's user, whoever owns the mounted copy.
if [ -d "$DIR/certs" ]; then
  mkdir -p "$CFG/tls"
  for f in ca.crt server.crt server.key; do
    if [ ! -f "$DIR/certs/$f" ]; then
      echo "entrypoint: $DIR/certs/$f is missing: run scripts/make-certs.sh (docs/security.md)" >&2
      exit 1
    fi
    cp "$DIR/certs/$f" "$CFG/tls/$f"
  done
fi

chown -R mosquitto:mosquitto "$CFG" 2>/dev/null || true
exec "$BIN" -c "$CONF"
