"""Auto-replies, bounces and bulk mail: flagged and tagged, never dropped."""

from __future__ import annotations

import re

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|out of (?:the )?office"
    r"|abwesenheitsnotiz|automatische antwort|automatická odpověď|automatická odpoveď"
    r"|odpowiedź automatyczna|autoodpowiedź|nieobecność|автоответ|автоматический ответ"
    r"|vacation reply|réponse automatique|respuesta automática|risposta automatica)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliver(?:ed|able)|delivery status notification|mail delivery failed"
    r"|returned mail|delivery failure|failure notice|nedoručitelné|nie można dostarczyć"
    r"|недоставленное сообщение|не удалось доставить)",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


def auto_kind(
    headers: dict[str, list[str]],
    content_type: str,
    sender: tuple[str, str] | None,
    subject: str,
) -> str | None:
    """ "bounce", "auto-reply" or "bulk" when the mail was not written by a person, else None."""
    address = sender[1] if sender else ""
    if content_type == "multipart/report" or address.startswith(_BOUNCE_SENDERS):
        return "bounce"
    if _BOUNCE_SUBJECT.match(subject) and not headers.get("in-reply-to"):
        return "bounce"
    submitted = _first(headers, "auto-submitted")
    if submitted and submitted != "no":
        return "auto-reply" if "replied" in submitted else "bulk"
    if headers.get("x-autoreply") or headers.get("x-autorespond"):
        return "auto-reply"
    precedence = _first(headers, "precedence")
    if precedence == "auto_reply":
        return "auto-reply"
    if _AUTO_SUBJECT.match(subject):
        return "auto-reply"
    if precedence in ("bulk", "junk"):
        return "bulk"
    # Newsletters carry List-Unsubscribe; a support address run as a mailing list
    # (Google Groups) adds it with "Precedence: list" to every customer mail: not bulk.
    if headers.get("list-unsubscribe") and precedence != "list":
        return "bulk"
    return None


def _first(headers: dict[str, list[str]], name: str) -> str:
    values = headers.get(name)
    return values[0].strip().lower() if values else ""
