"""Pure rules with time as an input and no I/O: dates, windows, routing, digests, wording."""
