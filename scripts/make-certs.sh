#!/bin/sh
# Make a private CA and a server certificate for Mosquitto's TLS listener (docs/security.md).
#
#   scripts/make-certs.sh [-d DIR] [-days N] NAME [NAME...]
#
# NAME: every DNS name or IP address stations use to reach the broker (they go into the
# certificate's subjectAltName; clients check the name they dialled against it).
# DIR (default deploy/mosquitto/certs, which docker-compose.yml mounts) receives:
#   ca.crt      the CA certificate: give it to every station (it is public)
#   ca.key      the CA's private key: keep it offline; needed only to issue certificates
#   server.crt  the broker's certificate, signed by the CA
#   server.key  the broker's private key (mode 0600)
#
# Run it again to renew the server certificate (for new names, or before it expires): an existing
# ca.key is reused, so stations keep trusting the broker. Delete the directory to start over.
# Why a private CA: stations trust only it (not a public CA that anyone can get a certificate
# from for a name they control), and no key material lives in the repository.
# Keys are ECDSA P-256: short handshakes on small gateways, supported by Mosquitto and paho.
set -eu
umask 077
DIR=deploy/mosquitto/certs
DAYS=825
while [ $# -gt 0 ]; do
  case "$1" in
    -d) DIR=$2; shift 2 ;;
    -days) DAYS=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "make-certs.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "make-certs.sh: name at least one DNS name or IP address of the broker" >&2
  exit 2
fi
command -v openssl >/dev/null || { echo "make-certs.sh: openssl is not installed" >&2; exit 2; }
mkdir -p "$DIR"
chmod 0755 "$DIR"  # ca.crt and server.crt are public; the keys are 0600

SAN=""
for name in "$@"; do
  case "$name" in
    *[!0-9.]*) case "$name" in *:*) kind=IP ;; *) kind=DNS ;; esac ;;  # IPv6 has colons
    *) kind=IP ;;
  esac
  SAN="${SAN:+$SAN,}$kind:$name"
done

if [ ! -f "$DIR/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=heatwatch MQTT CA" -keyout "$DIR/ca.key" -out "$DIR/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  echo "made a new CA: $DIR/ca.crt (give it to the stations), $DIR/ca.key (keep it offline)"
fi

EXT=$(mktemp)
CSR=$(mktemp)
trap 'rm -f "$EXT" "$CSR"' EXIT
printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
  "$SAN" > "$EXT"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
  -keyout "$DIR/server.key" -out "$CSR" 2>/dev/null
openssl x509 -req -in "$CSR" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
  -days "$DAYS" -extfile "$EXT" -out "$DIR/server.crt" 2>/dev/null
chmod 0644 "$DIR/ca.crt" "$DIR/server.crt"
chmod 0600 "$DIR/ca.key" "$DIR/server.key"
openssl verify -CAfile "$DIR/ca.crt" "$DIR/server.crt" >/dev/null
echo "made $DIR/server.crt for $SAN, valid $DAYS days"
