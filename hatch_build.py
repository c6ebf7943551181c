"""Hatch build hook: the wheel carries compiled gettext catalogs.

Each reminder/locale/LANG/LC_MESSAGES/messages.po is compiled with Babel (the library
that reads them at run time) into messages.mo beside it in the wheel. The .mo files
are build output, never committed; an editable install skips this, and the package
compiles the .po in memory instead (reminder/mail/i18n.py). A catalog that does not
compile fails the build rather than shipping a wheel whose mail falls back to English.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LOCALE_DIR = Path("reminder") / "locale"


class CatalogBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compiles every messages.po of the package into the wheel's messages.mo."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        self._output = tempfile.TemporaryDirectory(prefix="reminder-catalogs-")
        root = Path(self.root)
        for source in sorted((root / LOCALE_DIR).glob("*/LC_MESSAGES/*.po")):
            relative = source.relative_to(root).with_suffix(".mo")
            target = Path(self._output.name) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            language = source.parent.parent.name
            with source.open("rb") as po_file:
                catalog = read_po(po_file, locale=language, abort_invalid=True)
            with target.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            build_data["force_include"][str(target)] = relative.as_posix()

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        output = getattr(self, "_output", None)
        if output is not None:
            output.cleanup()
