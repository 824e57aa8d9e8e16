"""Helpers every test folder shares (imported as ``from support import ...``).

Importable from any test because pytest (default ``prepend`` import mode, no ``__init__.py``)
puts the directory of each ``conftest.py`` it loads on ``sys.path``, and ``tests/conftest.py``
is loaded for every test, whether the whole suite or a single file runs. Helpers for one
package's tests stay beside them (``tests/alerts/alert_helpers.py``, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout: float = 15.0,
             what: str | Callable[[], str] = "the condition", *, poll: float = 0.1) -> None:
    """Poll ``condition`` until it is truthy; AssertionError after ``timeout`` seconds.

    ``what`` names what was awaited in the failure; a callable is called only then, so the
    message can carry the state at the timeout (a log's tail, a count).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            message = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(poll)
