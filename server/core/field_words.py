"""The words of a field rule's problem: ``server/rules/fields.py`` names the rule, its message
and the figures (a rule reads no catalog); the words are the catalogs' "fields" entries, here
put together, in each language. Used by the admin console (a sentence per field), the
configuration file import, the procedure import and the ``motcua site|service|counter``
commands (their lines are English)."""

from __future__ import annotations

from server.core.catalogs import catalogs
from server.rules.fields import FieldProblem


def say(problem: FieldProblem, lang: str) -> str:
    """"must be a whole number from 1 to 600"; a booking setting's problem names it first
    ("per_day: must be ...")."""
    text = catalogs.say("fields", problem.message, lang, **problem.params)
    return f"{problem.setting}: {text}" if problem.setting else text


def sentence(problem: FieldProblem, lang: str = "vi") -> str:
    """The message as the console shows it: a capitalised sentence."""
    text = say(problem, lang)
    return text[:1].upper() + text[1:] + "."
