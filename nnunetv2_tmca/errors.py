"""The base class of the plugin's user errors, at the bottom of the package (it imports nothing of ours).

A user error is bad input the user can fix: a reports file, a case without a report, a text encoder
or cache, a checkpoint, a dataset to convert, a command-line value. Its message names the file and
the case ids and says what to do; it never holds report text. Each error class derives from
:class:`TMCAUserError` and keeps a builtin base (``ValueError``, ``RuntimeError``, ``KeyError``), so
code that catches the builtin still catches it. The commands print a user error as one line
(``cli_errors``).
"""


class TMCAUserError(Exception):
    """Bad input the user can fix; the message names the file and case, never report text."""


class UserInputError(TMCAUserError, RuntimeError):
    """Bad command-line input found by the plugin's own checks (paths, option values)."""
