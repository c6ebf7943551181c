"""Read passwords from a file, a systemd credential or an environment variable.

A password is read when it is needed and never logged or shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reminder.config.schema import SecretRef
from reminder.errors import ConfigError


def resolve_secret(
    ref: SecretRef, what: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """Return the password `ref` points at, or None when no source is configured.

    `what` names the config table for messages ("smtp", "database"). A password file's
    trailing newline is dropped, since editors add one.

    Raises ConfigError when the configured source cannot be read.
    """
    env = os.environ if environ is None else environ
    if ref.inline is not None:
        return ref.inline
    if ref.env is not None:
        if ref.env not in env:
            raise ConfigError(f"{what}.{ref.KEY}_env: environment variable {ref.env} is not set")
        return env[ref.env]
    if ref.credential is not None:
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ConfigError(
                f"{what}.{ref.KEY}_credential: $CREDENTIALS_DIRECTORY is not set "
                "(is LoadCredential= in the service unit?)"
            )
        return _read_secret_file(Path(directory) / ref.credential, f"{what}.{ref.KEY}_credential")
    if ref.file is not None:
        return _read_secret_file(ref.file, f"{what}.{ref.KEY}_file")
    return None


def _read_secret_file(path: Path, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {path} is not UTF-8 text") from None
