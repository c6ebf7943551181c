"""The key that signs session cookies: configured, or generated once into the state
directory, readable by the service user alone."""

from __future__ import annotations

import secrets
import tempfile
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
    # The key is written whole to a file of its own, then linked into place: a process
    # starting at the same moment finds either no file or the whole key, and the first
    # link wins (the loser reads the winner's key).
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=path.parent, prefix=".web-secret-key.", delete=False
            ) as draft:
                draft.write(secrets.token_urlsafe(48) + "\n")
            # mkstemp made it readable by its owner only (0600), like the outbox.
            draft_path = Path(draft.name)
            try:
                path.hardlink_to(draft_path)
            except FileExistsError:
                pass
            finally:
                draft_path.unlink()
    except OSError as error:
        raise ConfigError(f"web.secret_key: cannot create {path}: {error.strerror}") from None
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"web.secret_key: cannot read {path}: {error.strerror}") from None
    if len(key) < MIN_KEY_LENGTH:  # damaged, or written by hand
        raise ConfigError(f"web.secret_key: {path} holds no usable key; delete it to make one")
    return key
