"""What the agreement page says beside a form field when an action is refused: the
page's own words, in the reader's language, naming the form's fields.

The store and the renewal rules raise RefusedChange with the CLI's line, which names
its flags (`--until`, `--reason`); a page shows the message of the rule that refused
(`RefusedChange.refusal`) instead, with the dates written in the reader's language.
"""

from __future__ import annotations

from datetime import date

from reminder.domain.data_warnings import N_
from reminder.domain.renewal_rules import Refusal, RefusedChange
from reminder.mail.i18n import wording

#: The field of the renewal's end: `until` when the form gave one, else `years`.
_END = "end"

#: For each refusal, the field it is shown beside (None: the action's own field, see
#: web.agreements.ACTIONS) and the page's message id, its values named as the
#: RefusedChange names them.
PAGE_MESSAGES: dict[Refusal, tuple[str | None, str]] = {
    Refusal.UNTIL_AND_YEARS: (
        "years",
        N_("give either an end date or a number of years, not both"),
    ),
    Refusal.YEARS_OUT_OF_RANGE: ("years", N_("give a number of years from 1 to %(most)d")),
    Refusal.UNKNOWN_AGREEMENT: (None, N_("this agreement no longer exists")),
    Refusal.SUPERSEDED: (
        None,
        N_("a newer agreement supersedes this one: change the current one instead"),
    ),
    Refusal.RETIRED: (None, N_("this agreement is retired: reinstate it first")),
    Refusal.RENEWAL_NOT_AFTER_CONCLUSION: (
        "concluded",
        N_("give a day after %(concluded)s, when this agreement was signed"),
    ),
    Refusal.RENEWAL_ENDS_BEFORE_CONCLUDED: (
        _END,
        N_("the renewal would end on %(until)s, not after the day it was signed"),
    ),
    Refusal.RENEWAL_ENDS_BEFORE_RENEWED: (
        _END,
        N_(
            "the renewal would end on %(until)s, before this agreement ends "
            "(%(current)s): give a later date"
        ),
    ),
    Refusal.SAME_CONCLUSION: (
        "concluded",
        N_("agreement #%(id)d of this partner and programme was signed on %(concluded)s already"),
    ),
    Refusal.RECORDED_MEANWHILE: (
        "concluded",
        N_(
            "an agreement of this partner and programme signed on %(concluded)s "
            "was recorded meanwhile"
        ),
    ),
    Refusal.AMENDMENT_NOT_AFTER_CONCLUSION: (
        "until",
        N_("give a day after %(concluded)s, when this agreement was signed"),
    ),
    Refusal.NO_LONGER_CURRENT: (
        "until",
        N_(
            "agreement #%(id)d of this partner and programme ends later, on "
            "%(until)s: this one would no longer be the current one"
        ),
    ),
    Refusal.NO_REASON: ("reason", N_("say why the agreement is not renewed")),
    Refusal.RETIRED_ALREADY: (None, N_("this agreement is retired already")),
    Refusal.NOT_RETIRED: (None, N_("this agreement is not retired: nothing to reinstate")),
    Refusal.SNOOZE_NOT_AFTER_TODAY: ("until", N_("give a day after today (%(today)s)")),
}


class FieldProblem(Exception):
    """A form field's problem: `message` is a message id, `values` what it names."""

    def __init__(self, field: str, message: str, **values: date | int) -> None:
        super().__init__(message)
        self.field, self.message, self.values = field, message, values


def field_problem(error: RefusedChange, action_field: str, until_given: bool) -> FieldProblem:
    """Return the page's problem for `error`: beside the field the refusal is about,
    else beside `action_field`; a renewal's end beside `until` when the form gave it
    (`until_given`), else beside `years`."""
    field, message = PAGE_MESSAGES[error.refusal]
    if field == _END:
        field = "until" if until_given else "years"
    return FieldProblem(field or action_field, message, **error.values)


def refused(refusal: Refusal, **values: date | int) -> FieldProblem:
    """Return the page's problem for `refusal` found by the page itself, before the
    store (for a refusal whose field is fixed; see PAGE_MESSAGES)."""
    field, message = PAGE_MESSAGES[refusal]
    if field is None or field == _END:
        raise ValueError(f"{refusal} has no field of its own")
    return FieldProblem(field, message, **values)


def page_message(problem: FieldProblem, language: str) -> str:
    """Return `problem`'s message in `language`, its dates written as that reader
    writes them."""
    words = wording(language)
    values = {
        name: words.long_date(value) if isinstance(value, date) else value
        for name, value in problem.values.items()
    }
    translated = words.words.gettext(problem.message)
    return translated % values if values else translated
