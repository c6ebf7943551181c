"""The package's layout: imports point one way, no cycles, each library behind its subpackage.

Every import is read from the source, the ones inside functions too (the CLI imports a
command's module only when it runs, which hides nothing from this test). The rules are
the ones README's "Layout" and docs/design.md describe:

    cli → service → {runs, web} → importing → {mail, store} → domain → config → errors
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "reminder"

#: Which subpackages each one may import (its own modules are always allowed, and so is
#: `reminder` itself, for __version__). `web` may call the runs: its mail page shows
#: what the next run would send, with the same functions the CLI uses.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": {"errors"},
    "domain": {"config", "errors"},
    "store": {"domain", "config", "errors"},
    "mail": {"domain", "config", "errors"},
    "importing": {"store", "domain", "config", "errors"},
    "runs": {"importing", "mail", "store", "domain", "config", "errors"},
    "web": {"runs", "importing", "mail", "store", "domain", "config", "errors"},
    "service": {"runs", "web", "importing", "mail", "store", "domain", "config", "errors"},
    "cli": {"service", "runs", "web", "importing", "mail", "store", "domain", "config", "errors"},
}

#: The subpackages a third-party library may be imported from. Three libraries have a
#: second home, each for one reason: a cron line is checked at load by building the
#: APScheduler trigger the scheduler will use (config/cron.py), a coordinator's
#: country codes are checked at load against the same ISO table the importer uses, and
#: the web page writes the XLSX export of its list with the library the importer reads.
LIBRARY_OWNERS: dict[str, set[str]] = {
    "sqlalchemy": {"store"},
    "alembic": {"store"},
    "psycopg": {"store"},
    "pymysql": {"store"},
    "aiosmtplib": {"mail"},
    "css_inline": {"mail"},
    "icalendar": {"mail"},
    "jinja2": {"mail", "web"},
    "markupsafe": {"web"},  # Jinja2's Markup: a fragment rendered once, not escaped again
    "openpyxl": {"importing", "web"},
    "defusedxml": {"importing"},
    "apscheduler": {"service", "config"},
    "pycountry": {"domain", "config"},
    "tzlocal": {"config"},
    "pydantic": {"config"},
    "babel": {"domain", "mail", "web"},
    "starlette": {"web"},
    "uvicorn": {"web", "service"},
    "argon2": {"web"},
}

#: Modules longer than this should become a subpackage of smaller ones.
MAX_LINES = 400


def module_name(path: Path) -> str:
    """Return the dotted name of a module file under reminder/."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(name: str) -> str:
    """Return the subpackage a module belongs to: "store" for reminder.store.views.

    Top-level modules count as their own: "errors" for reminder.errors; `reminder`
    and `reminder.__main__` are the program's entry, which is the CLI's.
    """
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "cli"
    return parts[1]


def source_modules() -> Iterator[Path]:
    """Yield every module of the package, migrations included."""
    yield from sorted(PACKAGE_DIR.rglob("*.py"))


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) for every import in `path`, at any depth.

    `from reminder.store import views` yields reminder.store.views when views is a
    module, else reminder.store.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = module_name(path)
    own_package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package.rsplit(".", node.level - 1)[0] if node.level > 1 else own_package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                yield node.lineno, candidate if is_module(candidate) else target


def is_module(name: str) -> bool:
    """Return whether `name` is a module or package of reminder."""
    if not name.startswith("reminder"):
        return False
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE_DIR / relative).with_suffix(".py").is_file() or (
        PACKAGE_DIR / relative / "__init__.py"
    ).is_file()


def internal_graph() -> dict[str, set[str]]:
    """Return each module's imports of other reminder modules."""
    graph: dict[str, set[str]] = {}
    for path in source_modules():
        name = module_name(path)
        graph[name] = {
            target
            for _, target in imports_of(path)
            if target.startswith("reminder") and target != name and is_module(target)
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle as a list of modules (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_modules() -> None:
    cycle = find_cycle(internal_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_point_one_way() -> None:
    wrong = []
    for path in source_modules():
        package = package_of(module_name(path))
        for line, target in imports_of(path):
            if not target.startswith("reminder.") or not is_module(target):
                continue
            other = package_of(target)
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: {package} -> {other}")
    assert not wrong, "imports against the layout:\n" + "\n".join(wrong)


def test_each_library_stays_behind_its_subpackages() -> None:
    stray = []
    for path in source_modules():
        package = package_of(module_name(path))
        for line, target in imports_of(path):
            library = target.split(".")[0]
            if library in LIBRARY_OWNERS and package not in LIBRARY_OWNERS[library]:
                stray.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: {library}")
    assert not stray, "third-party libraries outside their subpackages:\n" + "\n".join(stray)


def test_every_library_the_package_imports_is_placed() -> None:
    """A new dependency gets an owner in LIBRARY_OWNERS before it is used anywhere."""
    standard = sys.stdlib_module_names | {"__future__"}
    unplaced = sorted(
        {
            f"{target.split('.')[0]} ({path.relative_to(PACKAGE_DIR.parent)})"
            for path in source_modules()
            for _, target in imports_of(path)
            if not target.startswith("reminder")
            and target.split(".")[0] not in standard
            and target.split(".")[0] not in LIBRARY_OWNERS
        }
    )
    assert not unplaced, "libraries with no owning subpackage: " + ", ".join(unplaced)


def test_every_module_is_in_a_subpackage() -> None:
    top_level = sorted(p.name for p in PACKAGE_DIR.glob("*.py"))
    assert top_level == ["__init__.py", "__main__.py", "errors.py"]


def test_no_module_is_too_long() -> None:
    long = [
        f"{path.relative_to(PACKAGE_DIR.parent)} ({count} lines)"
        for path in source_modules()
        if "migrations" not in path.parts
        and (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines: " + ", ".join(long)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a"}}, ["a", "a"]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[str] | None
) -> None:
    assert find_cycle(graph) == expected


def test_function_level_imports_are_read(tmp_path: Path) -> None:
    module = PACKAGE_DIR / "cli" / "__init__.py"
    targets = {target for _, target in imports_of(module)}
    # `main` imports these inside the function, where a top-level scan would miss them.
    assert "reminder.errors" in targets
    assert "reminder.service.logs" in targets
