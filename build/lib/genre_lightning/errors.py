"""Errors caused by the user's input rather than by a bug, and a stop the user asked for.

The entry points (:mod:`genre_lightning.app`) print these as one clear line and exit non-zero,
without a traceback.
"""


class UserError(Exception):
    """Bad configuration or input data; the message names the cause and the fix."""


class Interrupted(Exception):
    """Training was stopped by SIGTERM; the message says where it stopped."""
