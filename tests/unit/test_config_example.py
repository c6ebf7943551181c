"""The example config and the reference are written from the schema, and the files in
the repository are exactly what it writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from reminder.config.example import describe_type, example_config, reference
from reminder.config.keys import all_keys
from reminder.config.loading import build_config, load_config
from reminder.config.schema import Config

REPOSITORY = Path(__file__).parents[2]
REGENERATE = "regenerate it with `reminder config {} > {}`"


def test_config_example_toml_is_the_generated_example() -> None:
    written = (REPOSITORY / "config.example.toml").read_text(encoding="utf-8")
    assert written == example_config(), REGENERATE.format("example", "config.example.toml")


def test_docs_configuration_md_is_the_generated_reference() -> None:
    written = (REPOSITORY / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == reference(), REGENERATE.format("reference", "docs/configuration.md")


def test_example_runs_the_quick_start(tmp_path: Path) -> None:
    """The example's marked values route the sample to two coordinators, the rest to
    the office, and write mail to an outbox."""
    example = tmp_path / "config.toml"
    example.write_text(example_config(), encoding="utf-8")
    config = load_config(str(example), {"XDG_DATA_HOME": str(tmp_path)})
    assert config.mail.transport == "outbox"
    assert config.reminders.default_recipient == "international@example.edu"
    assert [c.email for c in config.coordinators] == [
        "ayse.yilmaz@example.edu",
        "mehmet.demir@example.edu",
    ]
    assert config.coordinators[1].programmes == ("Mevlana",)
    assert config.agreements.default_programme == "Mevlana"
    assert config.timezone == "Europe/Istanbul"


def test_every_line_marked_example_differs_from_the_default(tmp_path: Path) -> None:
    text = example_config()
    defaults = build_config({"timezone": "UTC"}, None, {"XDG_DATA_HOME": str(tmp_path)})
    marked = [line.split(" = ")[0] for line in text.splitlines() if line.endswith("# example")]
    assert marked, "the example marks the values it sets"
    document = tomllib.loads(text)
    for table, keys in all_keys().items():
        section = document.get(table, {}) if table else document
        for key in keys:
            if key in marked and isinstance(section, dict) and key in section:
                model = getattr(defaults, table) if table else defaults
                attribute = "sender" if key == "from" else key
                assert section[key] != getattr(model, attribute), f"{table}.{key}"


def test_every_key_is_in_the_example_and_the_reference() -> None:
    text, written = example_config(), reference()
    for table, keys in all_keys().items():
        for key in keys:
            assert f"{key} = " in text or f"[{key}]" in text or f"[[{key}]]" in text, key
            path = f"{table}.{key}" if table else key
            headings = (f"### `{path}`", f"## `[{key}]`", f"## `[[{key}]]`")
            assert any(heading in written for heading in headings), path


def test_types_are_said_as_a_reader_would() -> None:
    windows = Config.model_fields["reminders"].annotation
    assert windows is not None
    field = windows.model_fields["windows"]
    assert describe_type(field.annotation, field.metadata) == (
        "list of whole number (1 to 3660) (distinct, at least one)"
    )
