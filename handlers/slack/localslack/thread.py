"""Run a LocalSlack on its own event loop in a background thread, for sync code."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from handlers.slack.localslack.server import LocalSlack

T = TypeVar("T")


class LocalSlackThread:
    """A LocalSlack served from a daemon thread. Use it as a context manager or call stop()."""

    def __init__(
        self, local: LocalSlack | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.local = local if local is not None else LocalSlack()
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def api_url(self) -> str:
        return self.local.api_url

    def start(self, timeout: float = 10.0) -> str:
        """Start the server thread and return the Web API URL once it listens."""
        if self._thread is not None:
            raise RuntimeError("LocalSlackThread is already started")
        self._thread = threading.Thread(target=self._run, name="local-slack", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"local Slack did not start within {timeout} s")
        if self._startup_error is not None:
            raise RuntimeError("local Slack failed to start") from self._startup_error
        return self.local.api_url

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self.local.stop(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = None
        self._thread = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's event loop and return its result."""
        if self._loop is None:
            raise RuntimeError("LocalSlackThread is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01
    ) -> T:
        """Poll `predicate` from this thread until it returns a truthy value, and return it."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"condition not met within {timeout} s; {self.local.describe_recent_calls()}"
                )
            time.sleep(interval)

    def __enter__(self) -> LocalSlackThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self.local.start(self._host, self._port))
        except BaseException as exc:
            # Hand the error to start(), which raises it in the caller's thread.
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.local.stop())
            loop.close()
