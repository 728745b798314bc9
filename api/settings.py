"""Settings from the environment (``QUANZE_*``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUANZE_", extra="ignore")

    database_url: str = "sqlite:///quanze.db"
    #: how often a process looks for rule-set versions committed by other processes (s)
    refresh_interval: float = 0.25
    #: largest request body accepted (bytes)
    max_body_bytes: int = 5_000_000
    max_batch: int = 1000
    #: seconds a routing call waits for its decision to be stored before answering 503
    write_timeout: float = 2.0
    #: days a routing decision keeps the ticket's text (``quanze privacy purge`` removes it
    #: afterwards, keeping the decision); 0 keeps it for ever
    text_retention_days: Annotated[int, Field(ge=0)] = 180
