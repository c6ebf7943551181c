"""Where a password comes from: the four keys [database] and [smtp] share, and [web]'s
secret key, read from the same four kinds of source under its own names."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from reminder.config.fields import ConfigPath, NonEmpty, Table, setting

#: The suffixes of a secret's four keys, as written flat in its table.
_SUFFIXES = ("", "_file", "_credential", "_env")


def secret_keys(prefix: str) -> tuple[str, ...]:
    """Return a secret's four keys: ("password", "password_file", ...) for "password"."""
    return tuple(prefix + suffix for suffix in _SUFFIXES)


#: The keys of a password source, as written flat in [database] and [smtp].
SECRET_KEYS = secret_keys("password")


class SecretRef(Table):
    """Where a password comes from; reading it is credentials.resolve_secret's job.

    In the file these are keys of the table that holds them (`[smtp] password_file`);
    `inline` is a password written in the config file itself, accepted only when the
    file is not readable by other users.
    """

    #: The name of the secret's keys in the file: "password", "password_file", ...
    KEY: ClassVar[str] = "password"

    inline: str | None = setting(
        None,
        "The password itself: refused unless this file is unreadable to others (chmod o-r).",
        example="...",
        alias="password",
    )
    file: ConfigPath | None = setting(
        None,
        "A file holding just the password.",
        example="/etc/reminder/password",
        alias="password_file",
    )
    credential: NonEmpty | None = setting(
        None,
        "The name of a systemd credential (LoadCredential=) holding the password.",
        example="password",
        alias="password_credential",
    )
    env: NonEmpty | None = setting(
        None,
        "An environment variable holding the password.",
        example="REMINDER_PASSWORD",
        alias="password_env",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        sources = (self.inline, self.file, self.credential, self.env)
        names = secret_keys(self.KEY)
        given = [key for key, value in zip(names, sources, strict=True) if value is not None]
        if len(given) > 1:
            raise ValueError(f"give the {self.KEY} one way only, not {' and '.join(given)}")
        return self

    @property
    def is_set(self) -> bool:
        """Return True when any source is configured."""
        return any(v is not None for v in (self.inline, self.file, self.credential, self.env))


class SecretKeyRef(SecretRef):
    """Where the web page's secret key (which signs session cookies) comes from."""

    KEY: ClassVar[str] = "secret_key"

    inline: str | None = setting(
        None,
        "The secret key itself: refused unless this file is unreadable to others.",
        example="...",
        alias="secret_key",
    )
    file: ConfigPath | None = setting(
        None,
        "A file holding just the secret key.",
        example="/etc/reminder/web-secret-key",
        alias="secret_key_file",
    )
    credential: NonEmpty | None = setting(
        None,
        "The name of a systemd credential (LoadCredential=) holding the secret key.",
        example="web-secret-key",
        alias="secret_key_credential",
    )
    env: NonEmpty | None = setting(
        None,
        "An environment variable holding the secret key.",
        example="REMINDER_WEB_SECRET_KEY",
        alias="secret_key_env",
    )


def gather_password(data: Any, field: str = "password") -> Any:
    """Return a table's raw keys with its flat secret keys (`password`, `password_file`,
    ... or those of another `field`) moved into one table under `field`."""
    keys = secret_keys(field)
    if not isinstance(data, dict) or not any(key in data for key in keys):
        return data
    if isinstance(data.get(field), SecretRef):  # built in Python, not read from a file
        return data
    rest = {key: value for key, value in data.items() if key not in keys}
    return {**rest, field: {key: data[key] for key in keys if key in data}}
