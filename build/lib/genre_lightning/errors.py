"""Errors caused by the user's input rather than by a bug.

The entry points print these as one clear message and exit non-zero, without a traceback.
"""


class UserError(Exception):
    """Bad configuration or input data; the message names the cause and the fix."""
