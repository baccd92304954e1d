"""Servers under test as subprocesses: `cosigner serve --no-scheduler` and the bare Bolt app."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.common import REPO_ROOT, BenchmarkError, child_environment
from bench.slack_process import BOT_TOKEN, SIGNING_SECRET

HEALTHY_TIMEOUT_SECONDS = 60.0
ADMIN_CHANNEL = "C0ADMINS"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A server subprocess on 127.0.0.1, its log in a temporary file."""

    name: str
    args: list[str]
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    async def start(self) -> ServerProcess:
        handle, path = tempfile.mkstemp(prefix=f"cosigner-bench-{self.name}-", suffix=".log")
        self.log_path = Path(path)
        with open(handle, "wb", closefd=True) as log_file:
            self.process = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        await self._wait_healthy()
        return self

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise BenchmarkError(f"{self.name} exited at start-up:\n{self.log_tail()}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"{self.name} did not become healthy:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def errors_in_log(self) -> list[str]:
        """Return the log lines at ERROR level or with a traceback."""
        if self.log_path is None or not self.log_path.exists():
            return []
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if " ERROR " in line or line.startswith("Traceback")
        ]

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    async def __aenter__(self) -> ServerProcess:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def cosigner_server(database_url: str, api_url: str, **settings: str) -> ServerProcess:
    """Build `cosigner serve --no-scheduler` with default settings except the given ones."""
    server = ServerProcess("cosigner", ["-m", "bot.cli", "serve", "--no-scheduler"], {})
    server.env = child_environment(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        COSIGNER_ADMIN_CHANNEL=ADMIN_CHANNEL,
        COSIGNER_PORT=str(server.port),
        **settings,
    )
    return server


def bare_bolt_server(api_url: str, *, process_before_response: bool) -> ServerProcess:
    name = "bare-bolt-pbr" if process_before_response else "bare-bolt-default"
    server = ServerProcess(name, [], child_environment())
    server.args = ["-m", "bench.bare_bolt", "--port", str(server.port), "--api-url", api_url]
    if process_before_response:
        server.args.append("--process-before-response")
    return server
