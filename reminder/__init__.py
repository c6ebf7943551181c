"""reminder: renewal reminders for partnership agreements before they expire."""

__version__ = "0.1.0"
