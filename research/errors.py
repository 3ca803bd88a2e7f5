"""The one exception type users see for bad input.

Every input problem (an unreadable file, a broken YAML key, a missing column)
is raised as :class:`InputError` with a message that names the file and the
place; the command-line interface prints the message and exits non-zero
instead of showing a traceback.
"""


class InputError(Exception):
    """Bad input: the message names the file, the row or column, and the problem."""
