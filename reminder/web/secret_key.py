"""The key that signs session cookies: configured, or generated once into the state
directory, readable by the service user alone."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from reminder.config.credentials import resolve_secret
from reminder.config.schema import Config
from reminder.errors import ConfigError

#: The generated key's file name in the state directory.
KEY_FILE = "web-secret-key"
#: A configured key shorter than this is refused: it could be guessed offline.
MIN_KEY_LENGTH = 32


def web_secret_key(config: Config) -> str:
    """Return the configured secret key, else the one in the state directory, made with
    mode 0600 on first use (several processes starting at once agree on one file).

    Raises ConfigError when the configured source cannot be read, the key is too short,
    or the file cannot be written or read.
    """
    configured = resolve_secret(config.web.secret_key, "web")
    if configured is not None:
        if len(configured) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"web.secret_key: use at least {MIN_KEY_LENGTH} characters "
                "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return configured
    return _generated_key(config.state_dir / KEY_FILE)


def _generated_key(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as error:
        raise ConfigError(f"web.secret_key: cannot create {path}: {error.strerror}") from None
    else:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"web.secret_key: cannot read {path}: {error.strerror}") from None
    if len(key) < MIN_KEY_LENGTH:  # a file another process is still writing, or damaged
        raise ConfigError(f"web.secret_key: {path} holds no usable key; delete it to make one")
    return key
