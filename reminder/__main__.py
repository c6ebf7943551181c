"""`python -m reminder` runs the command-line interface."""

from reminder.cli import main

raise SystemExit(main())
