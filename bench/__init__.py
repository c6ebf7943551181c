"""Benchmarks of `reminder` at scale: `python -m bench --sizes 10000,100000,1000000`.

Each figure is measured against a floor that does the same work with nothing of ours
in the way (the sqlite3 shell's .import, a hand-written indexed query, raw aiosmtplib,
`python -c pass`), and reported as a ratio, since absolute times drift from machine to
machine. See bench/README.md; the results land in bench/RESULTS.md.
"""
