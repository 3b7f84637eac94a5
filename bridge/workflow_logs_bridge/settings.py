"""Bridge configuration: one Settings class, read from the environment, built once and injected."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Only for `make dev` / `workflow-logs token` on a laptop; refused outside the dev environment.
DEV_JWT_SECRET = "workflow-logs-dev-secret-do-not-use-in-production-0000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(validation_alias="DATABASE_URL")
    jwt_secret: SecretStr | None = Field(default=None, validation_alias="SUPABASE_JWT_SECRET")
    jwks_url: str | None = Field(default=None, validation_alias="SUPABASE_JWKS_URL")
    jwt_audience: str = Field(default="authenticated", validation_alias="WORKFLOW_LOGS_JWT_AUDIENCE")
    environment: Literal["dev", "test", "prod"] = Field(default="prod", validation_alias="WORKFLOW_LOGS_ENV")

    pool_min_size: int = Field(default=2, validation_alias="WORKFLOW_LOGS_POOL_MIN")
    pool_max_size: int = Field(default=10, validation_alias="WORKFLOW_LOGS_POOL_MAX")
    # LISTEN needs a session-mode connection; behind a transaction pooler set this to false (poll only).
    listen: bool = Field(default=True, validation_alias="WORKFLOW_LOGS_LISTEN")
    poll_min_seconds: float = Field(default=0.25, validation_alias="WORKFLOW_LOGS_POLL_MIN")
    poll_max_seconds: float = Field(default=16.0, validation_alias="WORKFLOW_LOGS_POLL_MAX")

    stream_max_seconds: float = Field(default=3600.0, validation_alias="WORKFLOW_LOGS_STREAM_MAX_SECONDS")
    stream_ping_seconds: float = Field(default=15.0, validation_alias="WORKFLOW_LOGS_STREAM_PING_SECONDS")
    stream_retry_ms: int = Field(default=2000, validation_alias="WORKFLOW_LOGS_STREAM_RETRY_MS")
    stream_send_timeout: float = Field(default=30.0, validation_alias="WORKFLOW_LOGS_STREAM_SEND_TIMEOUT")
    stream_batch: int = Field(default=500, ge=1, le=1000, validation_alias="WORKFLOW_LOGS_STREAM_BATCH")
    stream_buffer: int = Field(default=5000, ge=100, validation_alias="WORKFLOW_LOGS_STREAM_BUFFER")
    max_streams_per_user: int = Field(default=50, ge=1, validation_alias="WORKFLOW_LOGS_MAX_STREAMS_PER_USER")

    max_ingest_bytes: int = Field(default=8 * 1024 * 1024, validation_alias="WORKFLOW_LOGS_MAX_INGEST_BYTES")
    max_ingest_entries: int = Field(default=5000, validation_alias="WORKFLOW_LOGS_MAX_INGEST_ENTRIES")
    retry_after_seconds: int = Field(default=5, validation_alias="WORKFLOW_LOGS_RETRY_AFTER")

    @model_validator(mode="after")
    def _check_secrets(self) -> "Settings":
        if self.jwt_secret is None and self.jwks_url is None:
            raise ValueError("set SUPABASE_JWT_SECRET (HS256) and/or SUPABASE_JWKS_URL (asymmetric keys)")
        if (
            self.jwt_secret is not None
            and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET
            and self.environment != "dev"
        ):
            raise ValueError("the development JWT secret is refused outside WORKFLOW_LOGS_ENV=dev")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]
