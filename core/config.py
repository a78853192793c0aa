"""Settings read once from the environment at the wiring point, never from deep inside code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "spsr.db"


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH.resolve()}"


def normalise_database_url(url: str) -> str:
    """Accept the forms people paste (``postgres://``, ``postgresql://``, a bare file path)."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url).resolve()}"
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str
    ussd_key: str | None = None
    ussd_allow: tuple[str, ...] = ()
    telegram_token: str | None = None
    telegram_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_secret: str | None = None
    sms_gateway_url: str | None = None
    public_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        url = env.get("SPSR_DATABASE_URL") or default_database_url()
        allow = tuple(a.strip() for a in env.get("SPSR_USSD_ALLOW", "").split(",") if a.strip())
        return cls(
            database_url=normalise_database_url(url),
            ussd_key=env.get("SPSR_USSD_KEY") or None,
            ussd_allow=allow,
            telegram_token=env.get("SPSR_TELEGRAM_TOKEN") or None,
            telegram_base_url=env.get("SPSR_TELEGRAM_BASE_URL") or None,
            telegram_webhook_url=env.get("SPSR_TELEGRAM_WEBHOOK_URL") or None,
            telegram_secret=env.get("SPSR_TELEGRAM_SECRET") or None,
            sms_gateway_url=env.get("SPSR_SMS_GATEWAY_URL") or None,
            public_url=env.get("SPSR_PUBLIC_URL") or None,
        )
