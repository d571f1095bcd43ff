"""What the sign-up and password forms say about a problem, in the reader's language, and the HTTP
status that goes with it. The domain (actors/registrations.py, actors/invites.py) names problems with
codes per field; this is their one translation table."""

from __future__ import annotations

from collections.abc import Callable

# A refusal of the request as a whole has its own status; a problem with a field is a 422.
FORM_STATUS = {"closed": 403, "invite_required": 403, "invite_unknown": 404, "invite_expired": 410,
               "throttled": 429}


def problem_messages(gettext: Callable[[str], str]) -> dict[str, str]:
    """"field.code" -> the sentence shown next to the field (or above the form for "form.*")."""
    return {
        "form.closed": gettext("Registrations are closed on this site."),
        "form.invite_required": gettext("An invitation is needed to sign up on this site. Ask someone who has an "
                                        "account here for an invitation link."),
        "form.invite_unknown": gettext("This invitation link is not valid. Check the link, or ask for another one."),
        "form.invite_expired": gettext("This invitation link has expired or has been used as many times as allowed. "
                                       "Ask for another one."),
        "form.throttled": gettext("Too many requests from your connection. Please try again in a few minutes."),
        "username.required": gettext("Choose a username."),
        "username.invalid": gettext("A username has at most 30 characters: letters without accents, digits or _ "
                                    "(. and - only inside the name)."),
        "username.reserved": gettext("This username is reserved. Choose another one."),
        "username.taken": gettext("This username is already taken. Choose another one."),
        "email.required": gettext("Enter your email address."),
        "email.invalid": gettext("Enter a valid email address, like name@example.fr."),
        "email.taken": gettext("This email address is already used by an account. If it is yours, sign in or "
                               "reset your password."),
        "password.short": gettext("The password must have at least 8 characters."),
        "password.long": gettext("The password must have at most 128 characters."),
        "password.common": gettext("This password is too easy to guess. Choose another one."),
        "password.mismatch": gettext("The two passwords are not the same."),
        "commune.required": gettext("Choose your home commune."),
        "commune.unknown": gettext("This commune is not one of the territory's communes."),
        "display_name.long": gettext("The display name must have at most 100 characters."),
        "reason.required": gettext("Tell the moderators why you want to join."),
        "reason.long": gettext("Your message to the moderators must have at most 500 characters."),
        "terms.required": gettext("Accept the terms of use to sign up."),
    }


def say_problems(gettext: Callable[[str], str], problems: dict[str, str]) -> dict[str, str]:
    """{field: sentence} for the template; an unknown code is shown as it is rather than hidden."""
    messages = problem_messages(gettext)
    return {name: messages.get(f"{name}.{code}", code) for name, code in problems.items()}


def status_of(problems: dict[str, str]) -> int:
    return FORM_STATUS.get(problems.get("form", ""), 422)
