"""Exception types shared by the command line, the runner and the report."""

from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input: printed as one line without a traceback, exit code 2."""
