"""CSV bytes to UTF-8 with LF line ends: encodings told apart and checked, line ends normalised.

Encodings read: UTF-8, UTF-8 with BOM, GB18030 (a superset of GBK and
GB2312); UTF-16 and binary content are refused naming the file
(docs/input_contract.md, *Files: formats, encodings, limits*).
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np

from research.errors import InputError

def decode_csv_bytes(path: Path, data: bytes, not_utf8: bool = False) -> tuple[bytes, str]:
    """Check and normalise the encoding of CSV bytes; returns (UTF-8 bytes, encoding name).

    Tries UTF-8 (with or without BOM), then GB18030. UTF-16 and binary
    content are refused with a message naming the file. UTF-8 input is
    returned as is (minus the BOM), without a copy through ``str``.
    ``not_utf8``: the caller found a byte that is not UTF-8 (UTF-8 is not tried again).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: UTF-16 text is not supported; export as UTF-8 or GB18030 CSV")
    if b"\x00" in data[:65536]:
        raise InputError(f"{path}: binary content (NUL bytes), not a CSV export")
    if data.startswith(b"\xef\xbb\xbf"):
        body = memoryview(data)[3:]
        if not is_utf8(body):
            try:
                codecs.decode(body, "utf-8")  # only to name the first bad byte
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: starts with a UTF-8 BOM but byte {exc.start + 3} is not "
                                 "UTF-8 (file damaged or mixed encodings)") from None
        return bytes(body), "utf-8-sig"
    if not not_utf8 and is_utf8(data):
        return data, "utf-8"
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: neither UTF-8 nor GB18030 text (undecodable byte at offset "
                         f"{exc.start}); binary or damaged file?") from None


def is_utf8(data) -> bool:
    """True when ``data`` (bytes or a memoryview) is valid UTF-8, as Python's strict codec decides.

    Checked by Arrow's UTF-8 validation over the bytes in place (one large
    string value over the buffer, no copy, no ``str``); where Arrow and
    Python's codec could ever disagree, Python's decides.
    """
    import pyarrow as pa

    buf = pa.py_buffer(data)
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, buf])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        pass
    else:
        return True
    try:
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _first_mb(data: bytes) -> str:
    """What the first MB of ``data`` says of its encoding: ``"marked"`` (a BOM, a UTF-16 mark
    or a NUL byte: :func:`decode_csv_bytes` decides), ``"not utf-8"`` (a byte that is not
    UTF-8), else ``"utf-8"`` (worth reading as UTF-8 at once; a character cut at the end of
    the MB does not count)."""
    head = data[:1 << 20]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return "marked"
    try:
        codecs.utf_8_decode(head, "strict", False)
    except UnicodeDecodeError:
        return "not utf-8"
    return "utf-8"


def normalise_line_ends(data: bytes) -> bytes:
    """UTF-8 bytes with every CR-only line end (old Mac) turned into LF.

    Files whose CRs all belong to CRLF pairs (or that have no CR) are
    returned as they are, without a copy. Otherwise CRLF and lone CR both
    become LF, so that line numbers in messages count the lines an editor shows.
    """
    if data.find(b"\r") < 0:  # the usual case, found without counting
        return data
    crs = data.count(b"\r")
    if crs == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
