"""The numbered lines of a DOTA text file (``labelTxt``, ``Task1_<class>.txt``), decoded one by one.

Both readers meet files that are not clean text: binary junk, a stray byte of another
encoding, control characters. Reading the whole file as UTF-8 would fail on the first bad
byte with an error that names neither the file nor the line (and could not be skipped); here
each line is decoded on its own, so a reader can name or skip exactly the bad ones.

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` only (what an editor numbers; not at the
other separators of :meth:`str.splitlines` such as form feed or ``\\x1c``), so the line
numbers of messages are the ones an editor shows. A UTF-8 byte-order mark at the start of
the file is dropped.
"""

from __future__ import annotations

import os
import re
from typing import Iterator, Optional, Tuple, Union

PathLike = Union[str, os.PathLike]

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


def numbered_lines(path: PathLike) -> Iterator[Tuple[int, str, Optional[str]]]:
    """``(line number, text, problem)`` for each line of the file (1-based numbers).

    ``problem`` is None for a line of UTF-8 text, else why the line is not text (``text``
    then shows it with the bad bytes escaped, for messages). An empty last line after the
    final newline is not yielded.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    lines = _LINE_END.split(data)
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, raw.decode("utf-8", errors="backslashreplace"), f"not UTF-8 text (byte {err.start + 1})"
            continue
        if "\x00" in text:
            yield number, text, "contains a NUL byte (binary data)"
            continue
        yield number, text, None
