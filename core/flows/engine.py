"""The flow engine: screens, requests and the pure ``step`` function (see ``core.flows``)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.i18n import Words, _, use_locale
from core.text import tidy_sentences

State = dict[str, Any]

BACK = "0"
HOME = "00"
HELP = "99"


@dataclass(frozen=True)
class Option:
    """A numbered choice: ``key`` is what the person types, ``label`` is already translated."""

    key: str
    label: str


@dataclass(frozen=True)
class Screen:
    """What to show, structured: a channel lays it out (USSD pages, Telegram buttons, SMS text).

    ``free_text`` says the answer is typed (a PINFL, a grievance), not chosen; ``end`` closes the
    conversation; ``error`` is the refusal of the last input, to show above the text; ``controls``
    says whether Back/Home apply (false on the home screen and end screens).
    """

    title: str
    text: str = ""
    options: tuple[Option, ...] = ()
    free_text: bool = False
    end: bool = False
    error: str | None = None
    back: bool = True
    home: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "text": self.text, "options": [[o.key, o.label] for o in self.options],
                "free_text": self.free_text, "end": self.end, "error": self.error,
                "back": self.back, "home": self.home}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Screen:
        return cls(title=data["title"], text=data.get("text", ""),
                   options=tuple(Option(k, v) for k, v in data.get("options", [])),
                   free_text=bool(data.get("free_text")), end=bool(data.get("end")), error=data.get("error"),
                   back=bool(data.get("back", True)), home=bool(data.get("home", True)))


@dataclass(frozen=True)
class Request:
    """Data a step needs from the registry: the runner performs ``op`` with ``args`` and re-enters
    the step with a :class:`Result`. Ops are named in ``core.flows.OPS``."""

    op: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """What the runner got for a :class:`Request`: JSON ``data``, or a domain error ``code``."""

    op: str
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Input:
    """What the person typed (one hop's new input, before normalisation)."""

    text: str


@dataclass(frozen=True)
class Start:
    """A new conversation; ``language`` is the phone's remembered choice, if any."""

    language: str | None = None


Event = Input | Result | Start


@dataclass(frozen=True)
class Step:
    """The outcome of :func:`step`: the new state and either a screen to show or a request to run."""

    state: State
    screen: Screen | None = None
    request: Request | None = None


# --- nodes ----------------------------------------------------------------------------------------


class Ctx:
    """A step's working copy of the state, with the moves a node can make."""

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def data(self) -> dict[str, Any]:
        d: dict[str, Any] = self.state.setdefault("data", {})
        return d

    @property
    def lang(self) -> str:
        return str(self.state.get("lang") or "uz")

    @property
    def at(self) -> str:
        return str(self.state.get("at") or "home")


@dataclass(frozen=True)
class Go:
    """Move to ``node`` (remembered for Back unless ``remember`` is false)."""

    node: str
    remember: bool = True


@dataclass(frozen=True)
class Retry:
    """Stay on the node, showing ``error`` (already translated) above it."""

    error: str


@dataclass(frozen=True)
class Ask:
    request: Request


@dataclass(frozen=True)
class Show:
    """An information screen (title, text); ``end`` closes the conversation."""

    title: str
    text: str
    end: bool = False


Outcome = Go | Retry | Ask | Show

Render = Callable[[Ctx], Screen]
OnInput = Callable[[Ctx, str], Outcome]
OnResult = Callable[[Ctx, Result], Outcome]


@dataclass(frozen=True)
class Node:
    render: Render
    on_input: OnInput | None = None
    on_result: OnResult | None = None
    help: str | None = None  # msgid of the node's own help text


NODES: dict[str, Node] = {}


def node(name: str, *, help: str | None = None, on_result: OnResult | None = None) -> Callable[
    [Callable[[Ctx], Screen]], Callable[[Ctx], Screen]
]:
    """Declare a node's render function; ``@on_input(name)`` adds its input handler."""

    def deco(render: Callable[[Ctx], Screen]) -> Callable[[Ctx], Screen]:
        NODES[name] = Node(render, None, on_result, help)
        return render

    return deco


def on_input(name: str) -> Callable[[OnInput], OnInput]:
    def deco(fn: OnInput) -> OnInput:
        n = NODES[name]
        NODES[name] = Node(n.render, fn, n.on_result, n.help)
        return fn

    return deco


def on_result(name: str) -> Callable[[OnResult], OnResult]:
    def deco(fn: OnResult) -> OnResult:
        n = NODES[name]
        NODES[name] = Node(n.render, n.on_input, fn, n.help)
        return fn

    return deco


# --- the step -------------------------------------------------------------------------------------

_MAX_BACK = 12


def _render(ctx: Ctx, error: str | None = None) -> Screen:
    if ctx.at == "info":
        info = ctx.data.get("info", {})
        screen = Screen(info.get("title", ""), info.get("text", ""), end=bool(info.get("end")),
                        back=not info.get("end"), home=not info.get("end"))
    elif ctx.at == "help":
        screen = Screen(_(Words.HELP), ctx.data.get("help_text", ""))
    else:
        screen = NODES[ctx.at].render(ctx)
    # Placeholders filled into whole sentences can leave "2026 г.." behind: tidy every string shown.
    screen = Screen(tidy_sentences(screen.title), tidy_sentences(screen.text),
                    tuple(Option(o.key, tidy_sentences(o.label)) for o in screen.options), screen.free_text,
                    screen.end, tidy_sentences(error) if error is not None else None, screen.back, screen.home)
    ctx.state["ended"] = screen.end
    return screen


def _apply(ctx: Ctx, outcome: Outcome) -> Step:
    if isinstance(outcome, Ask):
        ctx.state["pending"] = outcome.request.op
        return Step(ctx.state, request=outcome.request)
    if isinstance(outcome, Retry):
        return Step(ctx.state, _render(ctx, outcome.error))
    if isinstance(outcome, Show):
        _push(ctx)
        ctx.data["info"] = {"title": outcome.title, "text": outcome.text, "end": outcome.end}
        ctx.state["at"] = "info"
        return Step(ctx.state, _render(ctx))
    if outcome.remember:
        _push(ctx)
    ctx.state["at"] = outcome.node
    return Step(ctx.state, _render(ctx))


def _push(ctx: Ctx) -> None:
    if ctx.at in ("info", "help"):
        return
    stack: list[str] = ctx.state.setdefault("back", [])
    stack.append(ctx.at)
    del stack[:-_MAX_BACK]


def _home(ctx: Ctx) -> Step:
    ctx.state["back"] = []
    ctx.state["at"] = "home" if ctx.state.get("lang") else "language"
    ctx.state.pop("pending", None)
    return Step(ctx.state, _render(ctx))


def step(state: State, event: Event) -> Step:
    """Advance a conversation by one event: pure, deterministic, JSON state in and out.

    Runs in the conversation's language; the state passed in is never modified.
    """
    ctx = Ctx(copy.deepcopy(state))
    with use_locale(ctx.lang):
        if isinstance(event, Start):
            ctx.state = {"lang": event.language, "at": "home" if event.language else "language",
                         "back": [], "data": {}}
            with use_locale(ctx.lang):
                return Step(ctx.state, _render(ctx))
        if isinstance(event, Result):
            pending = ctx.state.pop("pending", None)
            handler = NODES[ctx.at].on_result if ctx.at in NODES else None
            if pending != event.op or handler is None:
                return Step(ctx.state, _render(ctx))
            outcome = handler(ctx, event)
            # A language change takes effect on the very screen that follows it.
            with use_locale(ctx.lang):
                return _apply(ctx, outcome)
        return _on_text(ctx, event.text)


def _on_text(ctx: Ctx, raw: str) -> Step:
    from core.text import normalise_input

    text = normalise_input(raw)
    if ctx.state.get("ended"):
        return _home(ctx)
    if text == HOME:
        return _home(ctx)
    if text == BACK and ctx.at not in ("home", "language"):
        stack: list[str] = ctx.state.get("back", [])
        if ctx.at == "help":
            ctx.state["at"] = ctx.data.pop("return_to", "home")
        elif stack:
            ctx.state["at"] = stack.pop()
        else:
            ctx.state["at"] = "home"
        return Step(ctx.state, _render(ctx))
    if text == HELP and ctx.at != "help":
        from core.flows.words import GENERAL_HELP, INFO_HELP

        node_help = NODES[ctx.at].help if ctx.at in NODES else (INFO_HELP if ctx.at == "info" else None)
        ctx.data["help_text"] = _(node_help) if node_help else _(GENERAL_HELP)
        ctx.data["return_to"] = ctx.at
        ctx.state["at"] = "help"
        return Step(ctx.state, _render(ctx))
    if ctx.at in ("info", "help"):
        return Step(ctx.state, _render(ctx, _(Words.INVALID_CHOICE)))
    handler = NODES[ctx.at].on_input
    if handler is None:
        return Step(ctx.state, _render(ctx, _(Words.INVALID_CHOICE)))
    return _apply(ctx, handler(ctx, text))


def choose(screen_options: tuple[Option, ...], text: str) -> str | None:
    """The key of the option ``text`` picks (digits in any script), or None."""
    from core.text import digits_only

    digits = digits_only(text)
    if digits is None:
        return None
    digits = digits.lstrip("0") or "0"
    return next((o.key for o in screen_options if o.key == digits), None)
