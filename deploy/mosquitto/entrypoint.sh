#!/bin/sh
# Build Mosquitto's password file from the environment, then exec the broker.
#
# Why at start-up: the passwords live in .env (docker-compose refuses to start without them);
# a hashed file committed to the repository would be a second copy to rotate. Station accounts
# are long-lived and many, so they come as ready-hashed lines (mosquitto_passwd format) from
# $MOSQUITTO_DIR/stations/*.passwd, maintained by the operator with mosquitto_passwd.
# MOSQUITTO_DIR/MOSQUITTO_CONF/MOSQUITTO_BIN exist so tests/deploy can run this very script.
set -eu
umask 077
DIR=${MOSQUITTO_DIR:-/mosquitto}
CONF=${MOSQUITTO_CONF:-$DIR/config/mosquitto.conf}
BIN=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
PASSWD=$DIR/config/passwd
: > "$PASSWD"
add() { mosquitto_passwd -b "$PASSWD" "$1" "$2"; }
add collector "$MQTT_COLLECTOR_PASSWORD"
add alerts "$MQTT_ALERTS_PASSWORD"
add api "$MQTT_API_PASSWORD"
add simulator "$MQTT_SIMULATOR_PASSWORD"
# The healthcheck account gets a fresh random password each start, kept inside the container.
head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/config/healthcheck.pw"
add healthcheck "$(cat "$DIR/config/healthcheck.pw")"
for f in "$DIR"/stations/*.passwd; do
  if [ -f "$f" ]; then cat "$f" >> "$PASSWD"; fi
done
chown mosquitto:mosquitto "$PASSWD" "$DIR/config/healthcheck.pw" 2>/dev/null || true
exec "$BIN" -c "$CONF"
