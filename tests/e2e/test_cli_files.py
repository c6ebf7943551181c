"""Files the CLI writes for a person (calendars, previews): whole, owner-only, and
never through a link someone planted at the target."""

from __future__ import annotations

import stat
from pathlib import Path

from e2e.clirun import REPO, SAMPLE, RunCli

EXAMPLE_CONFIG = REPO / "config.example.toml"
AS_OF = "2022-01-17"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def imported(run_cli: RunCli) -> tuple[str, Path]:
    result = run_cli("--config", EXAMPLE_CONFIG, "import", SAMPLE)
    assert result.returncode == 0, result.stderr
    return "--config", EXAMPLE_CONFIG


def test_export_ics_replaces_a_planted_link_instead_of_writing_through_it(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = imported(run_cli)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    target = tmp_path / "agreements.ics"
    target.symlink_to(victim)

    result = run_cli(*config, "export-ics", "--out", target)

    assert result.returncode == 0, result.stderr
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert not target.is_symlink()
    assert target.read_bytes().startswith(b"BEGIN:VCALENDAR")
    assert mode_of(target) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_ics_to_dash_writes_to_standard_output(run_cli: RunCli, tmp_path: Path) -> None:
    config = imported(run_cli)

    result = run_cli(*config, "export-ics", "--out", "-")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("BEGIN:VCALENDAR")
    assert not (tmp_path / "-").exists()


def test_previews_are_owner_only_and_not_written_through_links(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = imported(run_cli)
    folder = tmp_path / "preview"
    first = run_cli(*config, "preview", "--as-of", AS_OF, "--out", folder)
    assert first.returncode == 0, first.stderr
    written = sorted(folder.iterdir())
    assert written and all(mode_of(path) == 0o600 for path in written)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    written[0].unlink()
    written[0].symlink_to(victim)

    again = run_cli(*config, "preview", "--as-of", AS_OF, "--out", folder)

    assert again.returncode == 0, again.stderr
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert not written[0].is_symlink()


def test_preview_to_dash_is_refused_in_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("--config", EXAMPLE_CONFIG, "preview", "--out", "-")

    assert result.returncode == 2
    assert result.stderr.startswith("reminder: --out: preview writes a folder")
    assert not (tmp_path / "-").exists()
