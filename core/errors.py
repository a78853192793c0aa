"""The one tree of domain errors.

Every refusal the core makes is a :class:`DomainError` carrying a stable reason ``code``
(``"pinfl.check_digit"``, ``"application.duplicate_month"``) and named ``params`` for the
message. The core never words a message: each front end maps the code, in exactly one place,
to its own form (problem+json, a USSD END screen, a bot reply) in the user's language.

The subclass says what kind of refusal it is, so a front end can pick a status code:

- :class:`InvalidInput` — the input itself is wrong (400/422).
- :class:`NotFound` — it names something the registry does not hold (404).
- :class:`Conflict` — it clashes with what is already recorded (409).
- :class:`InvalidTransition` — the thing cannot move to that state from where it is (409).
- :class:`Forbidden` — the caller may not see or do this (403).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a reason code and named parameters, never a worded message."""

    kind = "domain"

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params: dict[str, Any] = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.params!r})"

    def __str__(self) -> str:
        if not self.params:
            return self.code
        details = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.code} ({details})"


class InvalidInput(DomainError):
    """The input is malformed or out of range (a wrong check digit, a negative income)."""

    kind = "invalid"


class NotFound(DomainError):
    """The input names something the registry does not hold (an unknown district or PINFL)."""

    kind = "not_found"


class Conflict(DomainError):
    """The input clashes with recorded state (a second application in one month)."""

    kind = "conflict"


# The version a change was made against (an ETag in If-Match): one, several (any may match, as
# RFC 9110 has it for a list of tags), or None for "whatever is current".
ExpectedVersion = int | frozenset[int] | None


def check_version(code: str, current: int, expected: ExpectedVersion) -> None:
    """Refuse, as ``code`` (a resource's ``*.stale``), a change made against another version."""
    if expected is None or (current == expected if isinstance(expected, int) else current in expected):
        return
    raise Conflict(code, current_version=current,
                   expected_version=expected if isinstance(expected, int) else sorted(expected))


class InvalidTransition(DomainError):
    """A state machine refused a move (a closed grievance cannot be assigned)."""

    kind = "transition"

    def __init__(self, code: str, *, current: str, target: str, **params: Any) -> None:
        super().__init__(code, current=current, target=target, **params)
        self.current = current
        self.target = target


class Forbidden(DomainError):
    """The caller may not see or do this (a phone that is not the household's)."""

    kind = "forbidden"
