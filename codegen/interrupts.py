"""Ctrl-C that cannot be lost.

Python turns SIGINT into KeyboardInterrupt wherever the interpreter happens to be; while torch and
Brevitas import (the first seconds of most commands) that can be inside library code that catches
everything, and the run would go on as if nothing happened. The handler also records the
interrupt, and the points where qgen commits work to disk (`check`) raise it again.
"""
from __future__ import annotations

import signal
import threading

_interrupted = False


def _handler(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT through the recording handler (main thread only, as Python requires)."""
    global _interrupted
    _interrupted = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed at any time since `install`."""
    if _interrupted:
        raise KeyboardInterrupt
