"""The citizen conversations, built once and served by every channel (USSD, SMS, Telegram).

The interface a channel builds on
---------------------------------

A conversation is a JSON-serialisable ``state`` dict and one pure function::

    step(state, event) -> Step(state, screen | request)

``event`` is one of

* ``Start(language=None)`` — a new conversation; pass the phone's remembered language
  (``phone_preferences.language``) or None to begin with the language menu;
* ``Input(text)`` — what the person typed (raw: the engine normalises it with ``core.text``);
* ``Result(op, data, error, params)`` — the answer to a request the last step made.

``Step.screen`` is a :class:`Screen` — structured, never pre-rendered: ``title``, ``text``,
``options`` (``Option(key, label)``: the person sends ``key``), ``free_text`` (the answer is typed,
e.g. a PINFL), ``end`` (the conversation is over), ``error`` (why the last input was refused),
``back``/``home`` (whether "0" Back and "00" Home apply). All strings are already translated into
the conversation's language (``state["lang"]``; the engine runs each step in ``use_locale``).
Reserved inputs on every screen: ``0`` back, ``00`` home, ``99`` help (the screen's own help).
A channel may add its own (USSD "98" for the next page) and must not pass them to the engine.

``Step.request`` is a :class:`Request` ``(op, args)``: data the step needs from the registry. The
channel does not execute it: :func:`core.services.conversations.hop` (the runner) does, in one unit
of work with the session's storage, and re-enters ``step`` with the ``Result`` until a screen
comes out. Ops (see ``OPS``; the runner implements each over ``core.services``):

=====================  ============================  ==================================================
op                     args                          result data (or ``error`` = a domain error code)
=====================  ============================  ==================================================
set_language           language                      language
household_by_pinfl     pinfl                         own (phone owns it); head, members, mahalla{uz,kaa,ru}
submit_application     pinfl, change                 number, notice_by
my_application         —                             application: {number, state, notice_by, first_month,
                                                     decision: {amount, months, reasons[{code, params}]}}
next_payment           —                             payment: {amount, window_start, window_end, status}
raise_grievance        category, text                number, due_on
find_grievance         number                        number, state, due_on, answer
=====================  ============================  ==================================================

The identity factor is the channel's phone (USSD: the gateway's phoneNumber; Telegram: the shared
contact): the runner passes it to the services, which answer applications and payments only to
the household's registered phone (error ``phone.not_registered`` / ``application.not_yours``).

Running a conversation from a channel::

    from core.services.conversations import hop
    reply = await hop(core, key="tg:12345", phone="+998901234567", channel="telegram",
                      text="1", hop_id=update_id)
    reply.screen   # the Screen to lay out; reply.text is set when a pager was passed (USSD)

``core.flows`` imports no sqlalchemy, aiohttp or telegram (tests/unit/test_flows_purity.py).
"""

from __future__ import annotations

from core.flows import citizen as _citizen  # noqa: F401  (registers the nodes)
from core.flows.engine import (
    BACK,
    HELP,
    HOME,
    NODES,
    Event,
    Input,
    Option,
    Request,
    Result,
    Screen,
    Start,
    State,
    Step,
    step,
)

OPS: tuple[str, ...] = (
    "set_language", "household_by_pinfl", "submit_application", "my_application", "next_payment",
    "raise_grievance", "find_grievance",
)

__all__ = [
    "BACK", "HELP", "HOME", "NODES", "OPS", "Event", "Input", "Option", "Request", "Result", "Screen",
    "Start", "State", "Step", "step",
]
