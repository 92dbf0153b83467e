"""Soft stop on Ctrl-C: the first interrupt asks training to stop after the current batch.

A second Ctrl-C while the first is pending raises ``KeyboardInterrupt`` as usual (a hard stop),
so a user is never trapped. Outside the main thread signals cannot be caught; the guard then
does nothing and a Ctrl-C propagates as a normal ``KeyboardInterrupt``, which the loop also
turns into a soft stop.

Example:
    >>> with InterruptGuard() as guard:
    ...     guard.requested
    False
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

__all__ = ["InterruptGuard"]


class InterruptGuard:
    """Context manager that turns the first SIGINT into a flag (``requested``)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: object = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
