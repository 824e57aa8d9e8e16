"""Helpers for the security tests: a throw-away PKI, the password file, the broker handle.

The broker is the real one from heatwatch.local.servers (its plain loopback listener stays, but
``allow_anonymous false``, the password file and the ACL apply to every listener: Mosquitto's
security settings are global unless ``per_listener_settings`` is on). The TLS listener uses a
CA and a server certificate made here with the ``openssl`` CLI, so no key material lives in the
repository. The ACL is deploy/mosquitto/acl itself: the file an operator ships is the file
tested.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from heatwatch.local.servers import MosquittoServer

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "deploy" / "mosquitto" / "acl"

# Passwords of the accounts the ACL names; station accounts are named after their station id.
ACCOUNTS = {
    "collector": "Coll-3xH9-secret-pw",
    "alerts": "Alrt-8Qm2-secret-pw",
    "st-00001": "St1-Vb7e-secret-pw",
    "st-00002": "St2-Kp4w-secret-pw",
}


@dataclass(frozen=True)
class Pki:
    """A throw-away CA, a server certificate for 127.0.0.1 signed by it, and a stranger CA."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


@dataclass(frozen=True)
class SecureBroker:
    server: MosquittoServer
    tls_port: int
    pki: Pki

    @property
    def host(self) -> str:
        return self.server.host


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> Pki:
    """CA + server certificate (SAN IP:127.0.0.1, DNS:localhost); 2048-bit RSA keeps it fast."""
    d.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", f"/CN=heatwatch test {name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.crt", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=d)
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key", d / "other-ca.crt")


def make_passwords(path: Path, accounts: dict[str, str]) -> None:
    """The password file as an operator makes it: ``mosquitto_passwd -b`` per account."""
    path.write_text("")
    for user, password in accounts.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True,
                       capture_output=True, timeout=30)
