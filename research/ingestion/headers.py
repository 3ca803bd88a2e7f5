"""An export's headers: what of them a message may quote, and one name per column.

Messages never quote the content of a row (it may hold customer ids and
phone numbers); a file without a header row has data in its first line, so a
header is quoted only when it cannot be such data (:func:`quotable`).
"""

from __future__ import annotations

import re
from pathlib import Path

from research.errors import InputError

_DIGIT_RUN = re.compile(r"\d{4}")
# control characters (as research.ingestion.parse.CONTROL_CHARS, in Python's syntax)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")

def quotable(text: str) -> bool:
    """True when ``text`` (a header, a sheet name) may be quoted in a message.

    Text with a run of four or more digits may be a customer id, a phone or
    an ID-card number (the first line of a file without a header row is
    data), so it is never quoted; nor is text with a control character
    (it could drive the terminal the message is printed on).
    """
    text = str(text)
    return _DIGIT_RUN.search(text) is None and _CONTROL.search(text) is None


def describe_headers(headers: list[str]) -> str:
    """One sentence about the headers found, safe to show.

    Parameters
    ----------
    headers : the export's headers, in order.

    Returns
    -------
    ``"3 headers found: ['a', 'b', 'c']"``; or, when any header holds a run
    of 4+ digits, a sentence saying the first line looks like data, quoting none.
    """
    n = len(headers)
    if all(quotable(h) for h in headers):
        return f"{n} header(s) found: {list(headers)}"
    return (f"{n} header(s) found, not quoted here: the first line looks like data (values with "
            "runs of digits), not a header row -- is the header row missing?")


def _column(j: int, header: str | None = None) -> str:
    """``column 3 ('站名')``, the header quoted only when :func:`quotable`."""
    shown = f" ({header!r})" if header and quotable(header) else ""
    return f"column {j + 1}{shown}"


def _unique_headers(path: Path, header: list[str]) -> list[str]:
    """Headers with blank ones named by position; InputError for a header that appears twice.

    The repeated header is quoted only when no header of the row looks like
    data (:func:`quotable`); otherwise the message says the first line looks like data.
    """
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        name = h or f"(blank header, column {i + 1})"
        if name in seen:
            columns = f"(columns {seen[name] + 1} and {i + 1})"
            if not all(quotable(x) for x in header):
                raise InputError(f"{path}: two columns have the same header {columns}, and the first "
                                 "line looks like data (values with runs of digits), not a header row "
                                 "-- is the header row missing?")
            raise InputError(f"{path}: the header {name!r} appears twice {columns}")
        seen[name] = i
        out.append(name)
    return out
