"""Expected user errors end the plugin's commands as one clear line, not a traceback.

An *expected* error is bad input the user can fix: a :class:`nnunetv2_tmca.errors.TMCAUserError`
(a reports file, a case without a report, a text encoder or cache, a checkpoint, a dataset to
convert, a command-line value) or a missing file or folder. Its message already names the file,
the case ids and what to do (never report text). The commands print it as
``<command>: error: <message on one line>`` to stderr and exit with code 1. ``--verbose`` or
``nnUNet_tmca_traceback=1`` shows the full traceback instead; any other exception (a bug)
keeps its traceback.

The plugin's own CLIs wrap ``main`` with :func:`one_line_errors`. ``nnUNetv2_train`` is nnU-Net's
CLI; the TMCA trainer installs :func:`install_excepthook`, which handles only the uncaught
errors of that process (callers that catch exceptions see them unchanged).
"""
from __future__ import annotations

import functools
import os
import sys

from nnunetv2_tmca.errors import TMCAUserError

ENV_TRACEBACK = "nnUNet_tmca_traceback"


def expected_errors() -> tuple:
    return (TMCAUserError, FileNotFoundError, NotADirectoryError)


def traceback_requested(argv=None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return "--verbose" in argv or os.environ.get(ENV_TRACEBACK, "0").strip().lower() in ("1", "true", "yes", "on")


def one_line(error: BaseException) -> str:
    """The message with its lines joined (multi-line report problems stay readable in one line)."""
    text = str(error) if not isinstance(error, FileNotFoundError) or not error.filename else \
        f"{error.strerror or 'not found'}: {error.filename}"
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(error).__name__


def report_and_exit(prog: str, error: BaseException) -> None:
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def one_line_errors(prog: str):
    """Decorator for a CLI ``main(argv=None)``: expected errors -> one line on stderr, exit code 1."""
    def wrap(main):
        @functools.wraps(main)
        def run(argv=None):
            try:
                return main(argv)
            except expected_errors() as e:
                if traceback_requested(argv):
                    raise
                report_and_exit(prog, e)
        return run
    return wrap


def install_excepthook(prog: str) -> None:
    """Uncaught expected errors of this process end as one line with exit code 1 (idempotent)."""
    previous = sys.excepthook
    if getattr(previous, "_tmca", False):
        return

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, expected_errors()) and not traceback_requested():
            print(f"{prog}: error: {one_line(exc)}", file=sys.stderr, flush=True)
            return  # the interpreter exits with code 1 after an uncaught exception
        previous(exc_type, exc, tb)

    hook._tmca = True
    sys.excepthook = hook
