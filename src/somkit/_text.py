"""Text that leaves somkit: safe to print, safe to open in a spreadsheet.

* :func:`printable` escapes control characters (terminal escape sequences,
  bells, line breaks inside a name, bidirectional overrides) the way Python
  writes them in a string literal, so ``somkit info`` and error lines show
  a column name instead of obeying it.
* :func:`csv_cell` makes a text cell that a spreadsheet would run as a
  formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return, and not a plain number) inert by prefixing a single quote, the
  OWASP recommendation. Numbers such as ``-5`` or ``+1e-3`` stay as they are.
"""

from __future__ import annotations

import re
import unicodedata

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
#: Format characters that reorder or hide text on a terminal.
_BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(ch):
    return ch in _BIDI or unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def printable(text):
    """``text`` with control characters escaped (``\\x1b``, ``\\n``, ...).

    Examples
    --------
    >>> printable("\\x1b[31mred\\x1b[0m")
    '\\\\x1b[31mred\\\\x1b[0m'
    >>> printable("plain name")
    'plain name'
    """
    text = str(text)
    if not any(_unsafe(ch) for ch in text):
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if _unsafe(ch) else ch
        for ch in text
    )


def csv_cell(value, raw=False):
    """``value`` for a CSV cell: formula-like text quoted safe unless ``raw``.

    Examples
    --------
    >>> csv_cell("=cmd|' /C calc'!A0")
    "'=cmd|' /C calc'!A0"
    >>> csv_cell("-5"), csv_cell("a=b"), csv_cell(3)
    ('-5', 'a=b', 3)
    """
    if raw or not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value
