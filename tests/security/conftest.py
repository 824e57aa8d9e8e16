"""A production-like Mosquitto for the security tests: TLS, passwords and the shipped ACL.

The broker is the real one from heatwatch.local.servers (its plain loopback listener stays, but
``allow_anonymous false``, the password file and the ACL apply to every listener: Mosquitto's
security settings are global unless ``per_listener_settings`` is on). The TLS listener uses a
CA and a server certificate made here with the ``openssl`` CLI, so no key material lives in the
repository. The ACL is deploy/mosquitto/acl itself: the file an operator ships is the file
tested. Helpers live in security_helpers.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from security_helpers import ACCOUNTS, ACL, Pki, SecureBroker, make_passwords, make_pki

from heatwatch.local.servers import MosquittoServer, free_port, wait_for_port


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("no mosquitto_passwd")
    run_dir = tmp_path_factory.mktemp("secure-mosquitto")
    passwd = run_dir / "passwd"
    make_passwords(passwd, ACCOUNTS)
    tls_port = free_port()
    extra = (
        "allow_anonymous false\n"
        f"password_file {passwd}\n"
        f"acl_file {ACL}\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {pki.ca}\n"
        f"certfile {pki.cert}\n"
        f"keyfile {pki.key}\n"
        "tls_version tlsv1.2\n"
    )
    server = MosquittoServer(run_dir, extra_conf=extra)
    server.start()
    try:
        wait_for_port(tls_port, timeout=10)
        yield SecureBroker(server, tls_port, pki)
    finally:
        server.stop()
