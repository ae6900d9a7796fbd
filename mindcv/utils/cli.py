"""The one error model of the project: library code raises a ``UserError`` (a subclass per concern) whose
message names the bad input and the fix; every entry point runs its body through ``run_main``, which turns it
into ``<prog>: error: <message>`` on stderr and exit status 2, with no traceback. Anything else is a bug and
keeps its traceback."""
import argparse
import sys
from typing import Callable, Optional, Sequence

from .msrun import is_scheduler_process, serve_as_scheduler

__all__ = ["UserError", "ConfigError", "InputFileNotFound", "OutputError", "ArgumentParser", "USER_ERROR_EXIT", "run_main",
           "report_user_error"]

USER_ERROR_EXIT = 2  # argparse's status for bad command lines; used for every user error


class UserError(Exception):
    """A problem with the user's input (options, files, data, weights); the message is the whole story."""


class ConfigError(UserError, ValueError):
    """A bad option value, option combination or config file; the message names the key, the value and the fix."""


class OutputError(UserError):
    """An output file cannot be written where the user asked; the message names it and the option."""


class InputFileNotFound(UserError, FileNotFoundError):
    """A file the user named does not exist; the message names it and the option."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are ConfigErrors, so that the main wrapper prints them as one line."""

    def error(self, message: str):
        raise ConfigError(message)


def report_user_error(prog: str, err: BaseException) -> int:
    """Print ``<prog>: error: <message>`` (one line) on stderr; returns the exit status for it."""
    message = " ".join(str(err).split("\n")).strip() or type(err).__name__
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return USER_ERROR_EXIT


def run_main(prog: str, body: Callable[[Optional[Sequence[str]]], int],
             argv: Optional[Sequence[str]] = None) -> int:
    """Run an entry point's body; a ``UserError`` becomes one line on stderr and exit status 2.

    Under msrun the same command also starts the cluster's scheduler process: that one only serves the cluster.
    """
    if is_scheduler_process():
        return serve_as_scheduler()
    try:
        return int(body(argv) or 0)
    except UserError as err:
        return report_user_error(prog, err)
