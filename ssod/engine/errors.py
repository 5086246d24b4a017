"""Errors that stop a training run on purpose, with a message that says what happened and what to do.

``tools/train.py`` prints them as one ``error: ...`` line and exits with status 1 (no traceback): they
are decisions of the run's fault handling, not bugs.
"""


class TrainingStoppedError(RuntimeError):
    """Training was stopped by one of ssod's fault checks; the message names the cause."""
