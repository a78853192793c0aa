"""Settings read once from the environment at the wiring point, never from deep inside code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "spsr.db"
# The senders' pace when not set: an SMS account's rate is in its contract with the aggregator;
# Telegram allows about 30 messages a second overall and 1 a second in one chat.
DEFAULT_SMS_PER_SECOND = 50.0
DEFAULT_SMS_CONCURRENCY = 10
DEFAULT_TELEGRAM_PER_SECOND = 30.0
DEFAULT_TELEGRAM_PER_CHAT_PER_SECOND = 1.0
DEFAULT_TELEGRAM_CONCURRENCY = 10
DEFAULT_OUTBOX_LEASE_SECONDS = 60.0


class BadSetting(ValueError):
    """A setting in the environment that cannot be used: ``name``, the ``value`` as given, and
    whether only a whole number (``whole``) or any number above 0 will do. Its text is English (a
    log's); the command line says it in the operator's language from these attributes."""

    def __init__(self, name: str, value: str, *, whole: bool) -> None:
        self.name, self.value, self.whole = name, value, whole
        kind = "a whole number above 0" if whole else "a number above 0"
        super().__init__(f"{name} must be {kind}, not {value!r}")


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
    sms_per_second: float = DEFAULT_SMS_PER_SECOND
    sms_concurrency: int = DEFAULT_SMS_CONCURRENCY
    telegram_per_second: float = DEFAULT_TELEGRAM_PER_SECOND
    telegram_per_chat_per_second: float = DEFAULT_TELEGRAM_PER_CHAT_PER_SECOND
    telegram_concurrency: int = DEFAULT_TELEGRAM_CONCURRENCY
    outbox_lease_seconds: float = DEFAULT_OUTBOX_LEASE_SECONDS
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
            sms_per_second=_positive(env, "SPSR_SMS_PER_SECOND", DEFAULT_SMS_PER_SECOND),
            sms_concurrency=int(_positive(env, "SPSR_SMS_CONCURRENCY", DEFAULT_SMS_CONCURRENCY, whole=True)),
            telegram_per_second=_positive(env, "SPSR_TELEGRAM_PER_SECOND", DEFAULT_TELEGRAM_PER_SECOND),
            telegram_per_chat_per_second=_positive(env, "SPSR_TELEGRAM_PER_CHAT_PER_SECOND",
                                                   DEFAULT_TELEGRAM_PER_CHAT_PER_SECOND),
            telegram_concurrency=int(_positive(env, "SPSR_TELEGRAM_CONCURRENCY", DEFAULT_TELEGRAM_CONCURRENCY,
                                               whole=True)),
            outbox_lease_seconds=_positive(env, "SPSR_OUTBOX_LEASE_SECONDS", DEFAULT_OUTBOX_LEASE_SECONDS),
        )


def _positive(env: dict[str, str], name: str, default: float, *, whole: bool = False) -> float:
    """A positive number from ``name`` (a whole one if ``whole``); a bad value stops start-up, named,
    rather than a sender running at a pace nobody chose."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = 0
    if not value > 0 or value != value or value == float("inf"):
        raise BadSetting(name, raw, whole=whole)
    return value
