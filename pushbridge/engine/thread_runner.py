"""Running an asyncio server on its own event loop in a daemon thread, for synchronous callers.

Tests, ``manage.py`` commands and scripts that are not async themselves start the server this
way; the thread owns the loop, and :meth:`ThreadRunner.call` is the one safe way in.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ThreadRunner:
    """Runs ``start()`` then, once asked to stop, ``stop()``, on a fresh loop in a daemon thread."""

    def __init__(self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]], name: str) -> None:
        self._start = start
        self._stop = stop
        self._name = name
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        """Whether the thread was started and not stopped yet."""
        return self._thread is not None

    def start(self, timeout: float) -> None:
        """Start the thread; return once ``start()`` finished there (or raise what it raised)."""
        if self._thread is not None:
            raise RuntimeError("The server is already running in a thread.")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def run() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            try:
                await self._start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._stop_event.wait()
            finally:
                await self._stop()

        self._thread = threading.Thread(target=asyncio.run, args=(run(),), name=self._name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"The pushbridge server did not start within {timeout} s.")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to run ``stop()`` and wait for the thread to end."""
        thread, loop, stop = self._thread, self.loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``function`` on the thread's loop and return its result (thread-safe)."""
        loop = self.loop
        if loop is None:
            raise RuntimeError("The server is not running.")

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)
