"""Channel secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), keyed by settings.

The key is `HELPDECK_SECRET_KEY`, or one generated on first start into the data dir (like the
admin token), so a stolen database dump alone never yields a bot token or signing secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from helpdeck.errors import HelpdeckError


class SecretKeyMissing(HelpdeckError):
    status, code, title = 503, "secret_key_missing", "Channel secrets cannot be stored"


def channel_secret_key(data_dir: Path, configured: str) -> str:
    """The configured key, else one generated on first start and kept in the data dir."""
    if configured:
        return configured
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class SecretBox:
    """Encrypts and decrypts small JSON objects (a platform's secrets) with the settings' key."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode()) if key else None

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise SecretKeyMissing("set HELPDECK_SECRET_KEY (a Fernet key) to configure channels")
        return self._fernet

    def seal(self, secrets: dict[str, str]) -> str:
        return self._require().encrypt(json.dumps(secrets).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        try:
            return dict(json.loads(self._require().decrypt(token.encode())))
        except InvalidToken as exc:
            raise SecretKeyMissing("channel secrets were sealed with another HELPDECK_SECRET_KEY") from exc

    def seal_text(self, text: str) -> str:
        return self._require().encrypt(text.encode()).decode()

    def open_text(self, token: str) -> str:
        return self._require().decrypt(token.encode()).decode()
