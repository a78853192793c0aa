"""The citizen's conversation: language, apply, my application, next payment, grievances.

Each node renders a screen in the current locale and reads an input or a request's result.
Registry data arrives only through requests (``OPS`` in ``core.flows``); nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from core.errors import InvalidInput
from core.flows.engine import (
    Ask,
    Ctx,
    Go,
    Option,
    Outcome,
    Request,
    Result,
    Retry,
    Screen,
    Show,
    choose,
    node,
    on_input,
    on_result,
)
from core.flows.words import ONLY_REGISTERED_PHONE
from core.grievances import parse_tracking_number
from core.i18n import (
    LANGUAGE_NAMES,
    N_,
    SUPPORTED,
    Words,
    _,
    format_date,
    format_date_range,
    format_money,
    format_months,
    ngettext,
)
from core.identity import Pinfl
from core.services.messages import error_text, reason_text
from core.text import digits_only

# Declared changes, as core.services.applications.DECLARED_CHANGES names them (a test keeps them equal).
CHANGES: Final[tuple[tuple[str, str], ...]] = (
    ("nothing", N_("Nothing changed")),
    ("child_born", N_("A child was born")),
    ("income_lost", N_("A member lost income")),
    ("member_left", N_("A member left the family")),
    ("member_joined", N_("A member joined the family")),
    ("other", N_("Something else")),
)
# Grievance topics, as core.grievances.CATEGORIES names them.
CATEGORIES: Final[tuple[tuple[str, str], ...]] = (
    ("payment", N_("Payment")),
    ("eligibility", N_("Eligibility decision")),
    ("application", N_("Application")),
    ("data_error", N_("Wrong data about us")),
    ("service_quality", N_("Service quality")),
    ("other", N_("Other")),
)
APPLICATION_STATES: Final[dict[str, str]] = {
    "submitted": N_("Application {number} is received. The decision will be known by {date}."),
    "verifying": N_("Application {number} is being checked. The decision will be known by {date}."),
    "approved": N_("Application {number} is approved: {amount} a month for {months}, from {first}."),
    "enrolled": N_("Application {number} is approved: {amount} a month for {months}, from {first}."),
    "rejected": N_("Application {number} is not approved."),
    "expired": N_("The assistance under application {number} has ended. You may apply again."),
}
PAYMENT_STATUS: Final[dict[str, str]] = {
    "scheduled": N_("scheduled"),
    "sent": N_("sent to the bank"),
    "paid": N_("paid"),
    "failed": N_("not paid; please call 1140"),
    # Enrolled for the month, whose payroll is not frozen yet (core.services.payments.next_payment).
    "expected": N_("expected, not yet scheduled"),
}
GRIEVANCE_STATES: Final[dict[str, str]] = {
    "received": N_("received"),
    "assigned": N_("assigned to a specialist"),
    "in_progress": N_("being worked on"),
    "answered": N_("answered"),
    "closed": N_("closed"),
}
MAX_GRIEVANCE_TEXT: Final = 500


def _options(pairs: tuple[tuple[str, str], ...]) -> tuple[Option, ...]:
    return tuple(Option(str(i), _(label)) for i, (_code, label) in enumerate(pairs, 1))


def _date(value: str) -> str:
    return format_date(dt.date.fromisoformat(value), "day_month_year")


def _money(value: int) -> str:
    return format_money(value)


# --- language -------------------------------------------------------------------------------------


@node("language", help=N_("Send 1 for Uzbek, 2 for Karakalpak, 3 for Russian. This phone keeps the choice; "
                          "you can change it later in the main menu."))
def language(ctx: Ctx) -> Screen:
    return Screen(_(Words.CHOOSE_LANGUAGE),
                  options=tuple(Option(str(i), LANGUAGE_NAMES[code]) for i, code in enumerate(SUPPORTED, 1)),
                  back=bool(ctx.state.get("lang")), home=bool(ctx.state.get("lang")))


@on_input("language")
def language_input(ctx: Ctx, text: str) -> Outcome:
    key = choose(language(ctx).options, text)
    if key is None:
        return Retry(_(Words.INVALID_CHOICE))
    return Ask(Request("set_language", {"language": SUPPORTED[int(key) - 1]}))


@on_result("language")
def language_result(ctx: Ctx, result: Result) -> Outcome:
    chosen = str(result.data.get("language") or "")
    if chosen in SUPPORTED:
        ctx.state["lang"] = chosen
    ctx.state["back"] = []
    return Go("home", remember=False)


# --- home -----------------------------------------------------------------------------------------

HOME_OPTIONS: Final = (
    ("apply", N_("Apply for assistance")),
    ("status", N_("My application")),
    ("payment", N_("Next payment")),
    ("grievance", N_("Grievances")),
    ("language", N_("Language")),
)


@node("home", help=N_("1: apply for child benefit or material assistance. 2: your family's applications and "
                      "decisions. 3: the amount and dates of the next payment. 4: raise a grievance or follow "
                      "one up. 5: language. On any screen 0 goes back, 00 to this menu. Hotline: 1140."))
def home(ctx: Ctx) -> Screen:
    return Screen(_("Social protection"), options=_options(HOME_OPTIONS), back=False, home=False)


@on_input("home")
def home_input(ctx: Ctx, text: str) -> Outcome:
    key = choose(home(ctx).options, text)
    if key is None:
        return Retry(_(Words.INVALID_CHOICE))
    what = HOME_OPTIONS[int(key) - 1][0]
    if what == "apply":
        return Go("apply_pinfl")
    if what == "status":
        return Ask(Request("my_application"))
    if what == "payment":
        return Ask(Request("next_payment"))
    if what == "grievance":
        return Go("grievance")
    return Go("language")


def _refusal(result: Result) -> Show:
    if result.error in ("phone.not_registered", "application.not_yours"):
        return Show(_("Sorry"), _(ONLY_REGISTERED_PHONE))
    return Show(_("Sorry"), error_text(result.error or "", result.params))


@on_result("home")
def home_result(ctx: Ctx, result: Result) -> Outcome:
    if not result.ok:
        return _refusal(result)
    if result.op == "my_application":
        found = list(result.data.get("applications") or [])
        if len(found) > 1:
            ctx.data["applications"] = found
            return Go("applications")
        return Show(_("My application"), application_text(result.data))
    return Show(_("Payment"), payment_text(result.data))


def application_text(data: dict[str, Any] | Any) -> str:
    """An application's state in plain words, with a decision's reasons."""
    app = data.get("application")
    if not app:
        return _("Your family has no application yet. You can apply in the main menu.")
    msgid = APPLICATION_STATES.get(app["state"], APPLICATION_STATES["submitted"])
    number = app["number"]
    grouped = f"{number[:3]}-{number[3:6]}-{number[6:]}"
    decision = app.get("decision") or {}
    lines = [_(msgid).format(
        number=grouped, date=_date(app["notice_by"]),
        amount=_money(int(decision.get("amount", 0))),
        months=format_months(int(decision.get("months", 0))),
        first=_date(app["first_month"]) if app.get("first_month") else "",
    )]
    if app["state"] == "rejected":
        # The income against the MCE first (even when within it: then an exclusion rule decided).
        reasons = sorted(decision.get("reasons", []), key=lambda r: not str(r.get("code", "")).startswith("income."))
        for reason in reasons:
            code = reason.get("code", "")
            if code.startswith(("exclusion.", "income.")):
                text = reason_text(code, reason.get("params", {}))
                if text:
                    lines.append(text)
    return "\n".join(lines)


def _grouped(number: str) -> str:
    return f"{number[:3]}-{number[3:6]}-{number[6:]}"


# An application in a list: its number and state in a word or two.
APPLICATION_LABELS: Final[dict[str, str]] = {
    "submitted": N_("{number} received"),
    "verifying": N_("{number} being checked"),
    "approved": N_("{number} approved"),
    "enrolled": N_("{number} approved"),
    "rejected": N_("{number} not approved"),
    "expired": N_("{number} ended"),
}


@node("applications", help=N_("Your family's applications, the newest first. Send the number in front of one "
                              "to see its state and the reasons of its decision."))
def applications(ctx: Ctx) -> Screen:
    found = ctx.data.get("applications") or []
    return Screen(_("Your applications"), options=tuple(
        Option(str(i), _(APPLICATION_LABELS.get(str(a.get("state")), APPLICATION_LABELS["submitted"])).format(
            number=_grouped(str(a.get("number", "")))))
        for i, a in enumerate(found, 1)))


@on_input("applications")
def applications_input(ctx: Ctx, text: str) -> Outcome:
    key = choose(applications(ctx).options, text)
    if key is None:
        return Retry(_(Words.INVALID_CHOICE))
    chosen = (ctx.data.get("applications") or [])[int(key) - 1]
    return Show(_("My application"), application_text({"application": chosen}))


def payment_text(data: dict[str, Any] | Any) -> str:
    pay = data.get("payment")
    if not pay:
        return _("No payment is scheduled for your family.")
    window = format_date_range(dt.date.fromisoformat(pay["window_start"]), dt.date.fromisoformat(pay["window_end"]))
    status = _(PAYMENT_STATUS.get(pay["status"], PAYMENT_STATUS["scheduled"]))
    return _("Amount: {amount}\nWhen: {window}\nStatus: {status}").format(
        amount=_money(int(pay["amount"])), window=window, status=status)


# --- apply ----------------------------------------------------------------------------------------


@node("apply_pinfl", help=N_("Type the PINFL (JShShIR) of any member of your family: the 14 digits on the ID "
                             "card or passport. We then show the family the registry holds."))
def apply_pinfl(ctx: Ctx) -> Screen:
    return Screen(_("Apply for assistance"), _("Send the PINFL of a family member (14 digits)."), free_text=True)


@on_input("apply_pinfl")
def apply_pinfl_input(ctx: Ctx, text: str) -> Outcome:
    digits = digits_only(text)
    if not digits:
        return Retry(error_text("pinfl.format"))
    try:
        pinfl = Pinfl.parse(digits)
    except InvalidInput as exc:
        return Retry(error_text(exc.code, exc.params))
    ctx.data["pinfl"] = pinfl.value
    return Ask(Request("household_by_pinfl", {"pinfl": pinfl.value}))


@on_result("apply_pinfl")
def apply_pinfl_result(ctx: Ctx, result: Result) -> Outcome:
    if not result.ok:
        return Retry(error_text(result.error or "", result.params))
    if not result.data.get("own"):
        return Show(_("Sorry"), _(ONLY_REGISTERED_PHONE), end=True)
    ctx.data["household"] = dict(result.data)
    return Go("apply_household")


@node("apply_household", help=N_("Send 1 if this is your family, 2 if it is not. If the registry holds wrong "
                                 "data about your family, your mahalla or Inson centre (1140) can correct it."))
def apply_household(ctx: Ctx) -> Screen:
    h = ctx.data.get("household", {})
    members = int(h.get("members", 0))
    mahalla = (h.get("mahalla") or {}).get(ctx.lang) or (h.get("mahalla") or {}).get("uz", "")
    text = _("Head: {head}\n{members}\nMahalla: {mahalla}\nIs this your family?").format(
        head=h.get("head", ""), mahalla=mahalla,
        members=ngettext("{count} member", "{count} members", members).format(count=members))
    return Screen(_("Your family"), text, options=(Option("1", _(Words.YES)), Option("2", _(Words.NO))))


@on_input("apply_household")
def apply_household_input(ctx: Ctx, text: str) -> Outcome:
    key = choose(apply_household(ctx).options, text)
    if key is None:
        return Retry(_(Words.INVALID_CHOICE))
    if key == "2":
        return Show(_("Your family"), _("If the registry holds wrong data about your family, please visit "
                                        "your mahalla or Inson centre (1140)."), end=True)
    return Go("apply_change")


DONE_KEY: Final = str(len(CHANGES) + 1)
CHOSEN_MARK: Final = "+"


def _chosen(ctx: Ctx) -> list[str]:
    return [c for c in ctx.data.get("changes") or [] if c != "nothing"]


@node("apply_change", help=N_("Send the number of each change of the last 3 months, one at a time: a chosen one "
                              "is marked + (send it again to unmark it). Then send 7 to go on. If nothing "
                              "changed, send 1."))
def apply_change(ctx: Ctx) -> Screen:
    chosen = _chosen(ctx)
    options = [Option("1", _(CHANGES[0][1]))]
    for i, (code, label) in enumerate(CHANGES[1:], 2):
        options.append(Option(str(i), f"{CHOSEN_MARK}{_(label)}" if code in chosen else _(label)))
    if chosen:
        options.append(Option(DONE_KEY, _("Done, go on")))
        text = _("Chosen: {count}. Add another or send {done}.").format(count=len(chosen), done=DONE_KEY)
    else:
        text = _("You may choose several, one at a time.")
    return Screen(_("What changed in the last 3 months?"), text, options=tuple(options))


def _picks(text: str) -> list[str] | None:
    """Several option numbers in one message ("2 3", "2,3"), or None when it is not such a list."""
    import re

    parts = [p for p in re.split(r"[\s,;.+]+", text.strip()) if p]
    if len(parts) < 2:
        return None
    digits = [digits_only(p) for p in parts]
    return [d for d in digits if d] if all(digits) else None


@on_input("apply_change")
def apply_change_input(ctx: Ctx, text: str) -> Outcome:
    options = apply_change(ctx).options
    picked = choose(options, text)
    keys = _picks(text) or ([picked] if picked is not None else [])
    if any(k not in {o.key for o in options} for k in keys) or not keys:
        return Retry(_(Words.INVALID_CHOICE))
    if keys == ["1"]:
        ctx.data["changes"] = ["nothing"]
        return Go("apply_confirm")
    if keys == [DONE_KEY]:
        ctx.data["changes"] = _chosen(ctx)
        return Go("apply_confirm")
    if "1" in keys or DONE_KEY in keys:
        return Retry(_(Words.INVALID_CHOICE))
    chosen = _chosen(ctx)
    for key in keys:
        code = CHANGES[int(key) - 1][0]
        if code in chosen:
            chosen.remove(code)
        else:
            chosen.append(code)
    # Keep the listed order, whatever order they were picked in.
    ctx.data["changes"] = [code for code, _label in CHANGES if code in chosen]
    return Go("apply_change", remember=False)


def _declared(ctx: Ctx) -> list[str]:
    labels = dict(CHANGES)
    return [c for c in ctx.data.get("changes") or ["nothing"] if c in labels] or ["nothing"]


@node("apply_confirm", help=N_("Send 1 to submit the application, 2 to cancel it. A family may apply once a "
                               "month; the decision comes by SMS."))
def apply_confirm(ctx: Ctx) -> Screen:
    labels = dict(CHANGES)
    declared = _declared(ctx)
    changes = "; ".join(_(labels[c]) for c in declared)
    return Screen(_("Submit the application?"),
                  ngettext("Change: {changes}", "Changes: {changes}", len(declared)).format(changes=changes),
                  options=(Option("1", _("Submit")), Option("2", _("Cancel"))))


@on_input("apply_confirm")
def apply_confirm_input(ctx: Ctx, text: str) -> Outcome:
    key = choose(apply_confirm(ctx).options, text)
    if key is None:
        return Retry(_(Words.INVALID_CHOICE))
    if key == "2":
        return Show(_("Apply for assistance"), _("The application was not submitted."), end=True)
    return Ask(Request("submit_application", {"pinfl": ctx.data.get("pinfl", ""), "changes": _declared(ctx)}))


@on_result("apply_confirm")
def apply_confirm_result(ctx: Ctx, result: Result) -> Outcome:
    if not result.ok:
        if result.error == "application.not_yours":
            return Show(_("Sorry"), _(ONLY_REGISTERED_PHONE), end=True)
        return Show(_("Apply for assistance"), error_text(result.error or "", result.params), end=True)
    number = str(result.data["number"])
    return Show(_("Application registered"),
                _("Your application number is {number}. You will hear the decision by {date}.").format(
                    number=f"{number[:3]}-{number[3:6]}-{number[6:]}", date=_date(result.data["notice_by"])),
                end=True)


# --- grievances -----------------------------------------------------------------------------------


@node("grievance", help=N_("Send 1 to raise a new grievance, 2 to learn the state of one you raised, by its "
                           "number."))
def grievance(ctx: Ctx) -> Screen:
    return Screen(_("Grievances"), options=(Option("1", _("New grievance")), Option("2", _("Follow up by number"))))


@on_input("grievance")
def grievance_input(ctx: Ctx, text: str) -> Outcome:
    key = choose(grievance(ctx).options, text)
    if key is None:
        return Retry(_(Words.INVALID_CHOICE))
    return Go("grievance_category" if key == "1" else "grievance_number")


@node("grievance_category", help=N_("Send the number of the topic closest to your problem; if none fits, "
                                    "send 6. Next you describe the problem in a few words."))
def grievance_category(ctx: Ctx) -> Screen:
    return Screen(_("What is it about?"), options=_options(CATEGORIES))


@on_input("grievance_category")
def grievance_category_input(ctx: Ctx, text: str) -> Outcome:
    key = choose(grievance_category(ctx).options, text)
    if key is None:
        return Retry(_(Words.INVALID_CHOICE))
    ctx.data["category"] = CATEGORIES[int(key) - 1][0]
    return Go("grievance_text")


@node("grievance_text", help=N_("Write in a few words what happened, in any language (at most 500 "
                                "characters). The answer comes by SMS within 15 days."))
def grievance_text(ctx: Ctx) -> Screen:
    return Screen(_("New grievance"), _("Describe the problem in a few words."), free_text=True)


@on_input("grievance_text")
def grievance_text_input(ctx: Ctx, text: str) -> Outcome:
    if not text.strip():
        return Retry(error_text("grievance.empty_text"))
    if len(text) > MAX_GRIEVANCE_TEXT:
        return Retry(error_text("grievance.text_too_long", {"limit": MAX_GRIEVANCE_TEXT}))
    return Ask(Request("raise_grievance", {"category": ctx.data.get("category", "other"), "text": text}))


@on_result("grievance_text")
def grievance_text_result(ctx: Ctx, result: Result) -> Outcome:
    if not result.ok:
        return Retry(error_text(result.error or "", result.params))
    number = str(result.data["number"])
    return Show(_("Grievance registered"),
                _("Your grievance number is {number}. The answer is due by {date}.").format(
                    number=f"{number[:3]}-{number[3:6]}-{number[6:]}", date=_date(result.data["due_on"])),
                end=True)


@node("grievance_number", help=N_("The number came when you raised the grievance: 9 digits, like 123-456-789."))
def grievance_number(ctx: Ctx) -> Screen:
    return Screen(_("Follow up a grievance"), _("Send the grievance number (9 digits)."), free_text=True)


@on_input("grievance_number")
def grievance_number_input(ctx: Ctx, text: str) -> Outcome:
    try:
        number = parse_tracking_number(text)
    except InvalidInput as exc:
        return Retry(error_text(exc.code, exc.params))
    return Ask(Request("find_grievance", {"number": number.digits}))


@on_result("grievance_number")
def grievance_number_result(ctx: Ctx, result: Result) -> Outcome:
    if not result.ok:
        return Retry(error_text(result.error or "", result.params))
    return Show(_("Grievance"), grievance_status_text(result.data))


def grievance_status_text(g: dict[str, Any] | Any) -> str:
    number = str(g["number"])
    state = _(GRIEVANCE_STATES.get(g["state"], GRIEVANCE_STATES["received"]))
    lines = [_("Grievance {number}: {state}.").format(number=f"{number[:3]}-{number[3:6]}-{number[6:]}",
                                                      state=state)]
    if g.get("answer"):
        lines.append(_("Answer: {answer}").format(answer=g["answer"]))
    else:
        lines.append(_("The answer is due by {date}.").format(date=_date(g["due_on"])))
    return "\n".join(lines)
