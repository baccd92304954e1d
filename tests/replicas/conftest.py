"""Real `cosigner serve` processes on one PostgreSQL database and one local Slack.

These tests run on PostgreSQL only: several processes sharing one SQLite file is not
a supported deployment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bot.clock import SystemClock
from bot.services import Services
from bot.settings import Settings
from handlers.slack.localslack import LocalSlack, SlackEventSender
from tests.conftest import SAMPLE_ROSTER, _truncate_postgres
from tests.slack.conftest import USERS

SIGNING_SECRET = "replica-signing-secret"
BOT_TOKEN = "xoxb-local"
ADMIN_CHANNEL = "C0ADMINS"
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash or an OOM kill would."""
        self.process.send_signal(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Cluster:
    database_url: str
    slack: LocalSlack
    services: Services
    tmp_path: Path
    replicas: list[Replica] = field(default_factory=list)

    def environment(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "COSIGNER_", "DATABASE_"))
        }
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": self.slack.api_url,
                "COSIGNER_ADMIN_CHANNEL": ADMIN_CHANNEL,
                "COSIGNER_DELIVERY_INTERVAL": "0.2",
                "COSIGNER_LOG_LEVEL": "INFO",
            }
        )
        env.update(extra)
        return env

    async def start_replica(self, name: str, **extra: str) -> Replica:
        port = free_port()
        log_path = self.tmp_path / f"{name}.log"
        log_file = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            "--no-scheduler",
            cwd=REPO_ROOT,
            env=self.environment(COSIGNER_PORT=str(port), **extra),
            stdout=log_file,
            stderr=log_file,
        )
        replica = Replica(name, port, process, log_path)
        self.replicas.append(replica)
        await wait_healthy(replica)
        return replica

    def sender(self, replica: Replica) -> SlackEventSender:
        return SlackEventSender(f"{replica.url}/slack/events", SIGNING_SECRET, self.slack)

    async def stop(self) -> None:
        for replica in self.replicas:
            if replica.process.returncode is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            try:
                await asyncio.wait_for(replica.process.wait(), timeout=10)
            except TimeoutError:
                replica.kill()
                await replica.process.wait()


async def wait_healthy(replica: Replica, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if replica.process.returncode is not None:
                raise RuntimeError(f"{replica.name} exited at start-up:\n{replica.log()}")
            try:
                async with session.get(f"{replica.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{replica.name} did not become healthy:\n{replica.log()}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def cluster(postgres_server: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    _truncate_postgres(postgres_server)
    slack = LocalSlack(bot_token=BOT_TOKEN)
    await slack.start()
    slack.add_channel(ADMIN_CHANNEL, "cosigner-admins")
    for user_id, (name, real_name, email) in USERS.items():
        slack.add_user(user_id, name, email, real_name=real_name)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=postgres_server,
        COSIGNER_ADMIN_CHANNEL=ADMIN_CHANNEL,
    )
    services = Services.build(settings, clock=SystemClock())
    report = services.roster.import_file(SAMPLE_ROSTER)
    assert report.ok, report.errors
    running = Cluster(postgres_server, slack, services, tmp_path)
    yield running
    await running.stop()
    services.close()
    await slack.stop()
