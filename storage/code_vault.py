"""Card codes at rest: a keyed hash to find a card, and the code itself sealed.

A code is a bearer secret (whoever holds it may try to link), so the database never holds
it in clear. Two keys are derived from the server's CODE_SECRET, which lives in the
settings and never in the database:

- `digest(code)`: keyed BLAKE2b, 16 bytes, stored in `residents.code_hash` (unique) and
  used for every look-up. Without the key a copied row cannot be matched to a code,
  and a code cannot be turned into the row's hash.
- `seal(code)`: AES-GCM with a fresh 96-bit nonce, stored in `residents.code_sealed`, so
  cards can be printed again (`healthbot cards`) without issuing new codes.

A copy of the database alone therefore links no one. The key is process-wide (`use()` at
start-up); the registry's worker processes are forks and inherit it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dialogs import codes

NONCE = 12
DIGEST = 16
SECRET_FILE = "code_secret"  # under DATA_DIR, only when the database is the embedded one


class VaultNotReady(RuntimeError):
    """No CODE_SECRET has been given to this process (`use()` was not called)."""


class Vault:
    def __init__(self, secret: str):
        raw = secret.encode()
        self._lookup = hashlib.blake2b(raw, digest_size=32, person=b"hb-code-lookup").digest()
        self._aead = AESGCM(hashlib.blake2b(raw, digest_size=32, person=b"hb-code-seal").digest())

    def __repr__(self) -> str:  # never the keys
        return "Vault(…)"

    def digest(self, code: str) -> bytes:
        return hashlib.blake2b(code.encode(), key=self._lookup, digest_size=DIGEST).digest()

    def seal(self, code: str, nonce: bytes | None = None) -> bytes:
        nonce = nonce or os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, code.encode(), None)

    def seal_many(self, codes: list[str]) -> list[bytes]:
        """One random read for all the nonces: an import seals a million codes."""
        nonces = os.urandom(NONCE * len(codes))
        encrypt = self._aead.encrypt
        return [nonces[i * NONCE : (i + 1) * NONCE] + encrypt(nonces[i * NONCE : (i + 1) * NONCE], c.encode(), None)
                for i, c in enumerate(codes)]

    def unseal(self, sealed: bytes) -> str:
        """The code; VaultNotReady if it was sealed under another CODE_SECRET."""
        sealed = bytes(sealed)
        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], None).decode()
        except InvalidTag:
            raise VaultNotReady("sealed with another CODE_SECRET") from None


_vault: Vault | None = None


def use(secret: str) -> Vault:
    """Key this process (and the workers it forks) with `secret`."""
    global _vault
    if not secret:
        raise VaultNotReady("empty CODE_SECRET")
    _vault = Vault(secret)
    return _vault


def vault() -> Vault:
    if _vault is None:
        raise VaultNotReady("CODE_SECRET not set")
    return _vault


def digest(code: str) -> bytes:
    return vault().digest(code)


def seal(code: str) -> bytes:
    return vault().seal(code)


def unseal(sealed: bytes) -> str:
    return vault().unseal(sealed)


def local_secret(data_dir: Path) -> str:
    """The embedded set-up's secret, made on first use (readable by this user only). A
    configured database needs CODE_SECRET in the settings instead: a secret kept next to
    the data would be copied with it."""
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def issue(count: int) -> tuple[list[str], list[bytes], list[bytes]]:
    """`count` new codes, with their hashes and sealed copies (the columns an insert needs)."""
    v = vault()
    drawn = codes.new_codes(count)
    return drawn, list(map(v.digest, drawn)), v.seal_many(drawn)
