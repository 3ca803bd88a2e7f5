"""The one exception type users see for bad input.

Every input problem (an unreadable file, a broken YAML key, a missing column)
is raised as :class:`InputError` with a message that names the file and the
place; the command-line interface prints the message and exits non-zero
instead of showing a traceback.
"""


class InputError(Exception):
    """Bad input: the message names the file, the row or column, and the problem."""


class NotEstimable(InputError):
    """The data cannot support one analysis: a factor or cluster variable with a single
    level, an outcome taking one value, no complete rows, a singular information matrix.

    A run of many analyses (:func:`research.models.run.fit_plan`) records the message as a
    note and goes on with the rest; anywhere else it is an :class:`InputError` like any
    other (the command line prints it and exits 2). The message names the model and the
    problem, never a data value.
    """


def check_whole(value, name: str, *, low: int, high: int, where: str) -> int:
    """A whole number in ``[low, high]``, or :class:`InputError` naming ``where`` and ``name``.

    For sizes and seeds that reach code from a plan or a caller (bootstrap replicates,
    seeds): an absurd value must stop with a message before any memory is allocated,
    not as a ``MemoryError`` or numpy's "negative seed" error deep inside a loop.

    Parameters
    ----------
    value : the number to check (bool is refused: ``True`` is not a count).
    name, where : named in the message, e.g. ``"bootstrap reps"``, ``"thresholds"``.
    low, high : the inclusive bounds.

    Returns
    -------
    ``value`` as an int.
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{where}: {name} must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise InputError(f"{where}: {name} must be from {low:,} to {high:,}, got {int(value):,}")
    return int(value)
