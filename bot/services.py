"""The core services, assembled once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.invitations import Invitations
from bot.people import People
from bot.roster import RosterImporter
from bot.settings import Settings
from bot.workflow import Workflow, WorkflowConfig
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    workflow: Workflow
    people: People
    roster: RosterImporter
    invitations: Invitations

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        platforms: tuple[str, ...] | None = None,
        migrate: bool = True,
    ) -> Services:
        db = Database(settings.database_url, pool_size=settings.database_pool_size)
        if migrate:
            db.upgrade()
        clock = clock or SystemClock()
        if platforms is None:
            platforms = ("slack", "teams") if settings.teams_enabled else ("slack",)
        admin_channels = {}
        if settings.admin_channel:
            admin_channels["slack"] = settings.admin_channel
        if settings.teams_admin_conversation:
            admin_channels["teams"] = settings.teams_admin_conversation
        config = WorkflowConfig(platforms=platforms, admin_channels=admin_channels)
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            workflow=Workflow(db, clock, config),
            people=People(db, clock),
            roster=RosterImporter(db, clock),
            invitations=Invitations(db, clock, config),
        )

    def close(self) -> None:
        self.db.dispose()
