"""Text from input files on its way to a terminal: no escape sequences, no control characters.

A checkpoint's data spec, a manifest's field or a file name can carry ESC sequences that recolour,
retitle or clear the user's terminal (or hide the rest of the line), or bidirectional overrides
that make the line read differently from what it says. Every message the CLI prints passes here.
"""
from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (ESC ] ... BEL or ESC \), and two-byte ESC sequences
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)")
# C0 and C1 controls (tabs and newlines too: a message is one line), DEL, and Unicode bidi controls
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def sanitize_for_terminal(text: str) -> str:
    """`text` with each escape sequence and control character replaced by '?'."""
    return _CONTROL.sub("?", _ESCAPE.sub("?", str(text)))


def one_line(text: str) -> str:
    """A message as one sanitised line: runs of whitespace (newlines included) become one space."""
    return sanitize_for_terminal(" ".join(str(text).split()))
