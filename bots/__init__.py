"""The Telegram front end: the bot (``app``), its webhook mount (``webhook``), the outbox sender
(``sender``) and a fake Bot API server for tests and demos (``fake_api``)."""

import os

# Opt in to PTB's timedelta durations (RetryAfter.retry_after, …) now; v23 makes them the default
# and the old int form warns on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")
