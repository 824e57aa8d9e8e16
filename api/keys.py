"""API keys: generation, hashing, and the lookup behind ``Authorization: Bearer``.

Keys are 256-bit random tokens, so a plain SHA-256 is enough to store them (no salt or slow hash
is needed when the secret is not guessable); the config holds only hashes, so a leaked config file
does not leak a key. ``python -m api.keys`` (or ``heatwatch api hash-key``) prints a new key and
the line to paste into the config.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from api.config import DEV_KEY, ApiKey, Role

__all__ = ["KeyRing", "Principal", "generate_key", "hash_key", "main"]

KEY_PREFIX = "hw_"


def generate_key() -> str:
    """A new high-entropy key (32 random bytes, URL-safe)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's name (recorded on acks and windows) and its role."""

    name: str
    role: Role


class KeyRing:
    """Hash -> principal. The dev key is present only when ``dev_mode`` asked for it."""

    def __init__(self, keys: Iterable[ApiKey], *, dev_mode: bool = False) -> None:
        self._by_hash = {k.sha256: Principal(k.name, k.level) for k in keys}
        if dev_mode:
            self._by_hash.setdefault(hash_key(DEV_KEY), Principal("dev", Role.ADMIN))

    def authenticate(self, key: str) -> Principal | None:
        # A dict lookup on the hash is safe from timing attacks: the attacker controls the
        # input of SHA-256, not the digest it is compared as.
        return self._by_hash.get(hash_key(key))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.keys", description=__doc__)
    add_hash_arguments(parser)
    return run_hash_key(parser.parse_args(argv))


def add_hash_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="operator", help="who will hold the key")
    parser.add_argument("--role", default="viewer", choices=["viewer", "hotline", "crew", "admin"])
    parser.add_argument(
        "--key", default=None, help="hash this existing key instead of generating one"
    )


def run_hash_key(args: argparse.Namespace) -> int:
    """Print the key once (to give to its holder) and the config entry (only the hash)."""
    key = args.key or generate_key()
    entry = ApiKey(name=args.name, role=args.role, sha256=hash_key(key))
    if args.key is None:
        print(f"key (give to {entry.name}, shown only now): {key}")
    print("config entry (api.yaml, under keys:):")
    print(f"  - {{name: {entry.name}, role: {entry.role}, sha256: {entry.sha256}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
