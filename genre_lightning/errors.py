"""Errors caused by the user's input rather than by a bug, and a stop the user asked for.

The entry points (:mod:`genre_lightning.cli.app`, :mod:`genre_lightning.cli.console`) print these as
one clear line and exit non-zero, without a traceback.
"""


class UserError(Exception):
    """Bad configuration or input data; the message names the cause and the fix."""


#: Exit status of bad input (the command line, a config value, a file).
EXIT_USAGE = 2
#: Exit status of a run stopped by SIGTERM (the shell's 128 + 15).
EXIT_SIGTERM = 143
#: Exit status of a run stopped by Ctrl-C (the shell's 128 + 2).
EXIT_CTRL_C = 130


class Interrupted(Exception):
    """A run was stopped by SIGTERM or Ctrl-C; the message says where it stopped.

    Args:
        message: Where it stopped, and what was kept.
        status: The exit status the entry point ends with.
    """

    def __init__(self, message: str, status: int = EXIT_SIGTERM) -> None:
        super().__init__(message)
        self.status = status
