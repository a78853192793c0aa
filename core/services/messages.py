"""Wording for citizens: the outbox templates and every domain error code a citizen can meet.

Pure (no I/O): the flows, the SMS service and the sender all word through here, in the locale of
the ContextVar (``core.i18n.use_locale``). Whole sentences with named placeholders; dates and
money through ``core.i18n``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from core.applications import last_day_of_month
from core.i18n import N_, _, format_date, format_money, format_months, use_locale

# A code → message; params are formatted in (dates and money already formatted by _params).
ERRORS: Final[dict[str, str]] = {
    "pinfl.format": N_("The PINFL has 14 digits. Please check it and send it again."),
    "pinfl.century": N_("The PINFL must start with 1 to 6. Please check it and send it again."),
    "pinfl.birth_date": N_("This PINFL has an impossible birth date. Please check it and send it again."),
    "pinfl.check_digit": N_("This PINFL has a typing error (the last digit does not match). Please check it."),
    "passport.format": N_("A passport number is 2 letters and 7 digits, like AA1234567."),
    "phone.invalid": N_("This is not a valid phone number."),
    "phone.not_uzbek": N_("Only Uzbek phone numbers (+998) can be served."),
    "phone.not_mobile": N_("Only mobile phone numbers can be served."),
    "phone.not_registered": N_("This phone is not registered for any family. Call 1140 or visit "
                               "your Inson centre."),
    "person.not_found": N_("The registry holds no person with this PINFL. Please check it, or visit "
                           "your Inson centre to register."),
    "household.not_found": N_("The registry holds no such family. Please visit your Inson centre."),
    "application.duplicate_month": N_("Your family has already applied this month. You can check that "
                                      "application in the menu."),
    "application.already_enrolled": N_("Your family already receives assistance, until {until}. "
                                       "You can apply again when it ends."),
    "application.not_found": N_("No application has this number. Please check it."),
    "application.unknown_change": N_("Please choose one of the listed changes."),
    "application.not_yours": N_("We answer only to the phone registered for the family. "
                                "Call 1140 or visit your Inson centre."),
    "application.transition": N_("This application cannot be changed now."),
    "application.unknown_state": N_("This application cannot be changed now."),
    "application.months": N_("This application cannot be changed now."),
    "grievance.number_format": N_("A grievance number has 9 digits, like 123-456-789."),
    "grievance.number_check": N_("This number has a typing error. Please check it and send it again."),
    "grievance.not_found": N_("No grievance has this number. Please check it and send it again."),
    "grievance.not_yours": N_("This grievance was raised from another phone; we answer only to that phone."),
    "grievance.empty_text": N_("Please write a few words about the problem."),
    "grievance.text_too_long": N_("The text is too long: please keep it under {limit} characters."),
    "grievance.unknown_category": N_("Please choose one of the listed topics."),
    "grievance.unknown_channel": N_("This channel cannot take grievances."),
    "grievance.anonymous": N_("Anonymous grievances are not considered: please write from your own phone."),
    "grievance.duplicate": N_("This grievance is already registered."),
    "grievance.stale": N_("The grievance changed meanwhile. Please try again."),
    "grievance.empty_answer": N_("The answer is empty."),
    "grievance.no_extension_reason": N_("The grievance cannot be extended without a reason."),
    "grievance.appeal_of_unanswered": N_("You can appeal only after an answer to your grievance."),
    "grievance.transition": N_("This grievance cannot be changed now."),
    "grievance.unknown_state": N_("This grievance cannot be changed now."),
    "grievance.already_extended": N_("This grievance was already extended once."),
    "grievance.extension_too_long": N_("A grievance can be extended by one month at most."),
    "grievance.extension_days": N_("A grievance can be extended by one month at most."),
    "grievance.appeal_expired": N_("An appeal is possible within one year of the answer."),
    # Staff refusals of the monthly payroll (core.services.payments).
    "payroll.busy": N_("Another command is changing the registry and did not finish within {seconds} seconds. "
                       "Nothing was changed: please try again when it has finished."),
    "payroll.nothing_to_regenerate": N_("The payroll of {month} was never opened, so there is nothing to "
                                        "regenerate. Open it first."),
    "payroll.line_reconciled": N_("Payroll line {line_id} was already reconciled on {on}; a different result "
                                  "from the bank is refused."),
    "payroll.actor_too_long": N_("The name of the person acting is longer than {limit} characters."),
}
UNKNOWN_ERROR: Final = N_("Something went wrong. Please try again later or call 1140.")

TEMPLATES: Final[dict[str, str]] = {
    "application.received": N_("Application {number} is registered. You will hear the decision by {notice_by}."),
    "application.approved": N_("Application {number} is approved: {amount} a month for {months}, "
                               "from {first_month}."),
    "application.already_enrolled": N_("Application {number} is approved. Your family already receives "
                                       "assistance, {amount} a month until {paid_until} inclusive, and it goes "
                                       "on as it is. Questions: 1140."),
    "application.rejected": N_("Application {number} is not approved. {reasons} Questions: 1140."),
    "enrolment.ended": N_("Your family's assistance period has ended. You may apply again."),
    # Automatic assignment from the agencies' data (core.services.assessment).
    "enrolment.started": N_("By the agencies' data your family is granted assistance from {first_month}: "
                            "{amount} a month for {months}. Questions: 1140."),
    "enrolment.ending": N_("By the agencies' latest data your family no longer qualifies. Assistance is paid "
                           "until {paid_until} inclusive. {reasons} Questions: 1140."),
    "enrolment.continues": N_("By the agencies' latest data your family qualifies again: assistance goes on "
                              "being paid until {paid_until} inclusive. Questions: 1140."),
    "grievance.answered": N_("Answer to grievance {number}: {answer}"),
    "grievance.extended": N_("The answer to grievance {number} needs a check; it will come by {due_on}."),
    "grievance.reopened": N_("Grievance {number} is being looked at again."),
    "payment.scheduled": N_("Your {amount} payment will arrive {window}."),
    # The bank's result of a payroll line (core.services.payments.reconcile_payroll).
    "payment.paid": N_("Your assistance payment of {amount} has been paid into your account."),
    "payment.failed": N_("Your assistance payment of {amount} could not be paid into your account. Please "
                         "call 1140 or visit your Inson centre."),
}

# Plain-word explanations of a decision's reasons (core.eligibility.REASON_CODES).
REASONS: Final[dict[str, str]] = {
    "income.above_threshold": N_("Income per member is {income_per_member} a month; the limit is "
                                 "{mce} (the minimum consumption expenditure)."),
    "income.below_threshold": N_("Income per member is {income_per_member} a month, below the limit of {mce}."),
    "income.near_poverty": N_("Income per member is {income_per_member} a month, close to the limit of {mce}."),
    "exclusion.second_residence": N_("The family owns more than one home."),
    "exclusion.non_residential_property": N_("The family owns a non-residential building."),
    "exclusion.new_car": N_("The family has a car made in {year}, less than {limit_years} years old."),
    "exclusion.many_vehicles": N_("The family has {roadworthy_vehicles} roadworthy vehicles."),
    "exclusion.bank_balance": N_("The family's bank balances are {bank_balance_total}, at least {limit}."),
    "exclusion.security_service": N_("A family member serves in a defence or security body."),
    "category.state_supported": N_("No member of the family is able to work."),
    "category.poor": N_("Able-bodied members are expected to take formal jobs."),
}

_MONEY_PARAMS: Final = frozenset({"amount", "mce", "income_per_member", "bank_balance_total", "limit_money"})
_DATE_PARAMS: Final = frozenset({"notice_by", "due_on", "until", "first_month", "paid_until"})


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in _DATE_PARAMS and isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                pass
        if isinstance(value, dt.date):
            out[key] = format_date(value, "day_month_year")
        elif key in _MONEY_PARAMS and isinstance(value, int):
            out[key] = format_money(value)
        elif key == "months" and isinstance(value, int):
            out[key] = format_months(value)
        elif key == "number" and isinstance(value, str) and len(value) == 9 and value.isdigit():
            out[key] = f"{value[:3]}-{value[3:6]}-{value[6:]}"
        else:
            out[key] = value
    return out


def _fill(msgid: str, params: Mapping[str, Any]) -> str:
    text = _(msgid)
    try:
        return text.format(**_params(params))
    except (KeyError, IndexError, ValueError):
        return text


def error_text(code: str, params: Mapping[str, Any] | None = None) -> str:
    """A domain error code worded for the citizen, in the current locale."""
    msgid = ERRORS.get(code)
    if msgid is None:
        return _(UNKNOWN_ERROR)
    return _fill(msgid, params or {})


def reason_text(code: str, params: Mapping[str, Any]) -> str | None:
    """One decision reason in plain words (None for a code with nothing to tell)."""
    msgid = REASONS.get(code)
    if msgid is None:
        return None
    p = dict(params)
    if code == "exclusion.bank_balance" and isinstance(p.get("limit"), int):
        p["limit_money"] = p["limit"]
        text = _(msgid).replace("{limit}", "{limit_money}")
        return text.format(**_params(p))
    return _fill(msgid, p)


def render(template: str, params: Mapping[str, Any], language: str) -> str:
    """An outbox message worded in ``language`` (the sender calls this at send time)."""
    with use_locale(language):
        if template in ("sms.reply", "broadcast"):  # a broadcast's text in this language, from the sender
            return str(params.get("text", ""))
        if template in ("enrolment.ending", "enrolment.continues"):
            # Paid to the end of its last month: name that day, not the month's first.
            last = dt.date.fromisoformat(str(params.get("last_month", ""))[:10] or "1970-01-01")
            params = {**params, "paid_until": last_day_of_month(last)}
        if template in ("application.rejected", "enrolment.ending"):
            codes = params.get("reasons") or []
            lines = [reason_text(c, {}) if isinstance(c, str) else
                     reason_text(c.get("code", ""), c.get("params", {})) for c in codes]
            reasons = " ".join(line for line in lines if line and "{" not in line)
            return _fill(TEMPLATES[template], {**params, "reasons": reasons}).replace("  ", " ")
        msgid = TEMPLATES.get(template)
        if msgid is None:
            return _(UNKNOWN_ERROR)
        return _fill(msgid, params)
