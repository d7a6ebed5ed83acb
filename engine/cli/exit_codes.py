"""Exit codes of the ``reslens`` command, shared by every subcommand."""

EXIT_OK = 0
EXIT_SOME_FAILED = 1
"""Some files failed; each failure is a row with its reason."""
EXIT_ERROR = 2
"""A usage, model or data error: one line on stderr."""
EXIT_INTERRUPTED = 130
