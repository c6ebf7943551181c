"""Writing mail to disk (.eml, .html previews, .ics calendars): whole, private, never
through a link.

Each file is written to a temporary file in the target's folder, synced, and renamed
over the target. A reader never sees half a file; a symbolic link planted at the
target is replaced, not followed, so nothing it points to is overwritten; and the file
is readable by its owner only (mkstemp's 0600), since mail holds names and addresses.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private_file(target: Path, data: bytes) -> Path:
    """Write `data` as `target`, atomically, owner-only, replacing any link there.

    Creates the target's folder if needed. Returns `target`.
    Raises OSError when the folder cannot be created or written.
    """
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(folder)
    return target


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; a folder that cannot be synced is not worth failing for."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
