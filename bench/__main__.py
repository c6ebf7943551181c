"""`python -m bench --sizes 10000,100000,1000000`: see bench/README.md."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.runner import PARTS, Options, run

HERE = Path(__file__).parent
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive numbers")
    return sizes


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(part for part in text.split(",") if part)
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown}; choose from {PARTS}")
    return parts


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=(10_000, 100_000, 1_000_000))
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument(
        "--large-repeat",
        type=int,
        default=2,
        help="runs of import, delivery and run-once at 500,000 rows or more (default 2)",
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL, or 'none'")
    parser.add_argument(
        "--postgres-sizes", type=_sizes, help="sizes to measure on PostgreSQL (default: all)"
    )
    parser.add_argument("--parts", type=_parts, default=PARTS, help=",".join(PARTS))
    parser.add_argument("--workdir", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument(
        "--web-seconds", type=float, default=30.0, help="seconds of each wrk run (default 30)"
    )
    parser.add_argument("--profile-size", type=int, help="size to profile (default: the largest)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite databases")
    args = parser.parse_args(argv)
    postgres = None if args.postgres == "none" else args.postgres
    options = Options(
        command="python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
        sizes=args.sizes,
        repeat=args.repeat,
        large_repeat=args.large_repeat,
        postgres_url=postgres,
        postgres_sizes=args.postgres_sizes or args.sizes,
        parts=args.parts,
        workdir=args.workdir.resolve(),
        results_path=args.results,
        idle_seconds=args.idle_seconds,
        web_seconds=args.web_seconds,
        profile_size=args.profile_size or max(args.sizes),
        keep=args.keep,
    )
    run(options)
    print(f"results written to {options.results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
