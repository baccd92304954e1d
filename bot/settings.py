"""The one settings class. Values come from the environment and from a `.env` file."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///cosigner.db"

# Values copied from .env.example that must be replaced before the server starts.
PLACEHOLDER_PREFIXES = ("xoxb-your", "your-", "changeme", "replace-me")


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the setting and the fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    database_pool_size: int = Field(default=10, ge=1, le=200, alias="DATABASE_POOL_SIZE")

    slack_bot_token: str = Field(default="", alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = Field(default="", alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    slack_app_token: str = Field(default="", alias="SLACK_APP_TOKEN")
    # Slack team ids the bot serves, comma-separated. Empty: the team that auth.test names.
    slack_team_ids: str = Field(default="", alias="SLACK_TEAM_IDS")

    host: str = Field(default="127.0.0.1", alias="COSIGNER_HOST")
    port: int = Field(default=3000, ge=0, le=65535, alias="COSIGNER_PORT")
    admin_channel: str = Field(default="", alias="COSIGNER_ADMIN_CHANNEL")
    log_level: str = Field(default="INFO", alias="COSIGNER_LOG_LEVEL")

    digest_time: str = Field(default="08:00", alias="COSIGNER_DIGEST_TIME")
    digest_timezone: str = Field(default="America/New_York", alias="COSIGNER_DIGEST_TIMEZONE")
    # How often the scheduler sweeps for reminders and delivers the outbox, in seconds.
    sweep_interval_seconds: int = Field(default=300, ge=5, alias="COSIGNER_SWEEP_INTERVAL")
    delivery_interval_seconds: float = Field(default=2.0, gt=0, alias="COSIGNER_DELIVERY_INTERVAL")
    # How long a replica owns a claimed outbox row before another may take it, in seconds.
    outbox_lease_seconds: int = Field(default=60, ge=5, alias="COSIGNER_OUTBOX_LEASE")

    teams_client_id: str = Field(default="", alias="TEAMS_CLIENT_ID")
    teams_client_secret: str = Field(default="", alias="TEAMS_CLIENT_SECRET")
    teams_tenant_id: str = Field(default="", alias="TEAMS_TENANT_ID")
    teams_dev: bool = Field(default=False, alias="COSIGNER_TEAMS_DEV")
    teams_admin_conversation: str = Field(default="", alias="COSIGNER_TEAMS_ADMIN_CONVERSATION")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                f"DATABASE_URL {value!r} is not supported: use sqlite:///PATH "
                "or postgresql+psycopg://USER@HOST/DB"
            )
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @cached_property
    def team_ids(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.slack_team_ids.split(",") if t.strip())

    def require_slack(self) -> None:
        """Raise ConfigurationError naming the first Slack secret missing or left a placeholder."""
        required = [
            ("SLACK_BOT_TOKEN", self.slack_bot_token),
            ("SLACK_SIGNING_SECRET", self.slack_signing_secret),
        ]
        for name, value in required:
            if not value:
                raise ConfigurationError(
                    f"{name} is missing: set it in the environment or in .env "
                    "(see .env.example), or run `cosigner demo` to try Cosigner without Slack"
                )
            if value.lower().startswith(PLACEHOLDER_PREFIXES):
                raise ConfigurationError(
                    f"{name} still holds the placeholder from .env.example: "
                    "replace it with the value from your Slack app's settings"
                )
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            raise ConfigurationError(
                "SLACK_APP_TOKEN must be an app-level token starting with xapp- "
                "(Basic Information > App-Level Tokens), or be left empty for HTTP mode"
            )

    @property
    def teams_enabled(self) -> bool:
        return bool(self.teams_client_id) or self.teams_dev
