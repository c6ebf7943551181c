"""README's Quick start, as written: config.example.toml, the sample table, one run. Its
outbox holds a Turkish digest (the example's first coordinator reads Turkish) and an
English one (the office's), and the README quotes both subjects."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from e2e.clirun import RunCli

REPOSITORY = Path(__file__).resolve().parents[2]
README = (REPOSITORY / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[list[str]]:
    """Return the `reminder` commands of the Quick start's first code block."""
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    return [
        line.split()[1:] for line in block[1].splitlines() if line.startswith(".venv/bin/reminder ")
    ]


def test_the_quick_start_outbox_holds_a_turkish_and_an_english_digest(
    run_cli: RunCli, tmp_path: Path
) -> None:
    commands = quick_start_commands()
    assert [command[2] for command in commands] == ["import", "run-once"]
    for command in commands:
        # Paths are the repository's (config.example.toml, examples/...): the CLI runs in
        # tmp_path, where the outbox and the database are made.
        in_repository = [
            str(REPOSITORY / part) if (REPOSITORY / part).is_file() else part for part in command
        ]
        result = run_cli(*in_repository)
        assert result.returncode == 0, result.stderr
    outbox = tmp_path / "data" / "reminder" / "outbox"
    messages = [
        message_from_bytes(path.read_bytes(), policy=default) for path in outbox.glob("*.eml")
    ]
    subjects = {}
    for message in messages:
        assert isinstance(message, EmailMessage)
        subjects[message["To"].addresses[0].addr_spec] = str(message["Subject"])
    assert set(subjects) == {"ayse.yilmaz@example.edu", "international@example.edu"}
    turkish, english = subjects["ayse.yilmaz@example.edu"], subjects["international@example.edu"]
    assert "anlaşmanın yenilenmesi gerekiyor" in turkish
    assert "agreements to renew" in english
    # The README's closing note quotes both, as they are.
    assert f'"{turkish}"' in " ".join(README.split())
    assert f'"{english}"' in " ".join(README.split())
