"""How one message's headers and shape reveal a channel: small, pure functions."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from deskmove.records import ENVELOPE_HEADERS as ENVELOPE_HEADERS  # the audit reads it here

_NOREPLY = re.compile(
    r"^(?:no-?reply|do-?not-?reply|donotreply|noreply-[\w-]+|wordpress|www-data|apache|nginx|"
    r"webmaster|website|web|forms?|contact-?form|formular|formulare|formularz|mailer|php)"
    r"(?:[+.-].*)?$",
    re.IGNORECASE,
)
_FORM_MAILERS = ("phpmailer", "wordpress", "contact form", "wpforms", "gravity", "drupal", "joomla")
_FORM_LABELS = re.compile(
    r"^[ \t*]*(?:name|your name|e-?mail|message|phone|subject|jméno|zpráva|telefon|předmět|imię|"
    r"wiadomość|temat|имя|сообщение|телефон|тема)[ \t*]*:",
    re.IGNORECASE | re.MULTILINE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_AUTOREPLY_SUBJECT = re.compile(
    r"^(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|"
    r"abwesenheit|automatická odpověď|nepřítomnost|mimo kancelář|automatyczna odpowiedź|"
    r"nieobecność|автоответ|автоматический ответ|вне офиса)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^(?:undeliver|undelivered mail|delivery status notification|mail delivery failed|"
    r"returned mail|nedoručiteln|nedoručená|niedostarczon|недоставлен)",
    re.IGNORECASE,
)
FREEMAIL = frozenset(
    "gmail.com googlemail.com outlook.com hotmail.com live.com yahoo.com icloud.com me.com "
    "aol.com gmx.de gmx.net web.de seznam.cz email.cz centrum.cz atlas.cz post.cz volny.cz "
    "tiscali.cz wp.pl o2.pl onet.pl interia.pl op.pl gazeta.pl mail.ru inbox.ru list.ru bk.ru "
    "yandex.ru ya.ru rambler.ru proton.me protonmail.com".split()
)
_FORUM_LABELS = ("community", "forum", "forums", "komunita", "discuss", "forum-notifications")

# A REST source's ``via`` channel name -> (checklist section, item prefix).
VIA_SECTIONS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        ("web", "web_form", "web_widget", "help_center", "helpcenter", "portal"), ("forms", "form")
    ),
    **dict.fromkeys(
        ("voice", "phone", "sms", "phone_call_inbound", "phone_call_outbound"), ("phones", "phone")
    ),
    **dict.fromkeys(
        (
            "chat",
            "chat_transcript",
            "native_messaging",
            "messaging",
            "whatsapp",
            "line",
            "wechat",
            "telegram",
            "viber",
        ),
        ("chat-social", "chat"),
    ),
    **dict.fromkeys(
        (
            "twitter",
            "facebook",
            "facebook_post",
            "facebook_message",
            "instagram",
            "instagram_dm",
            "social",
            "vk",
        ),
        ("chat-social", "social"),
    ),
    **dict.fromkeys(
        ("api", "any_channel", "sdk", "mobile_sdk", "mobile"), ("integrations", "integration")
    ),
    **dict.fromkeys(("forum", "community", "topic"), ("listings", "forum")),
    **dict.fromkeys(("review", "google_play", "app_store"), ("listings", "listing")),
}
# A ticket's canonical channel -> the same, when its messages name no via.
CHANNEL_SECTIONS: dict[str, tuple[str, str]] = {
    "web": ("forms", "form"),
    "phone": ("phones", "phone"),
    "chat": ("chat-social", "chat"),
    "social": ("chat-social", "social"),
    "forum": ("listings", "forum"),
    "review": ("listings", "listing"),
    "api": ("integrations", "integration"),
}


def values(headers: dict[str, Any], name: str) -> list[str]:
    """A header's values as a list of strings, whatever shape the source stored."""
    v = headers.get(name)
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v if x is not None]
    return [str(v)]


def first(headers: dict[str, Any], name: str) -> str:
    """A header's first value, stripped ("" when there is none)."""
    v = headers.get(name)  # the scan asks for absent headers millions of times: no list made
    if v is None:
        return ""
    if isinstance(v, list):
        return next((str(x).strip() for x in v if x is not None), "")
    return str(v).strip()


def addresses(headers: dict[str, Any], name: str) -> list[str]:
    """Lower-cased addresses in a header (``Name <a@b>``, lists, Gmail's ``a b`` pairs)."""
    found: list[str] = []
    for value in values(headers, name):
        for addr in _addresses_in(value):
            if addr not in found:
                found.append(addr)
    return found


@lru_cache(maxsize=4096)
def _addresses_in(value: str) -> tuple[str, ...]:
    return tuple(a.lower().rstrip(".") for a in _EMAIL.findall(value))


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def via_name(headers: dict[str, Any]) -> str | None:
    via = headers.get("via")
    if isinstance(via, dict):
        name = via.get("channel") or via.get("source")
        return str(name).lower() if isinstance(name, str | int) else None
    if isinstance(via, str) and via:
        return via.lower()
    return None


def automation(headers: dict[str, Any], is_auto: bool, subject: str | None) -> str | None:
    """Why a message looks machine-sent (an integration), or None; auto-replies are not."""
    if auto_reply_headers(headers) or auto_reply_subject(subject):
        return None
    return auto_reason(headers) or ("flagged automatic by the source" if is_auto else None)


def auto_reply_headers(headers: dict[str, Any]) -> bool:
    """The headers mark an auto-reply (out of office, vacation responder)."""
    auto = first(headers, "auto-submitted").lower()
    return bool(
        auto.startswith("auto-replied")
        or first(headers, "precedence").lower() == "auto_reply"
        or first(headers, "x-autoreply")
        or first(headers, "x-autorespond")
    )


def auto_reply_subject(subject: str | None) -> bool:
    """The subject of an auto-reply ("Out of office", "Automatická odpověď", …)."""
    return bool(_AUTOREPLY_SUBJECT.match(subject or ""))


def auto_reason(headers: dict[str, Any]) -> str | None:
    """Which header says a message is machine-sent (auto-replies aside), or None."""
    if first(headers, "list-id"):
        return "list-id"
    auto = first(headers, "auto-submitted").lower()
    if auto and auto != "no":
        return f"auto-submitted: {auto}"
    prec = first(headers, "precedence").lower()
    if prec in ("bulk", "list", "junk"):
        return f"precedence: {prec}"
    return None


def form_customer(
    headers: dict[str, Any], sender: str, body: str | None, ours: set[str], our_domains: set[str]
) -> tuple[str, str] | None:
    """(customer address, where it was found) when a message looks like a form submission."""
    local, _, sender_domain = sender.partition("@")
    # A website script or form plugin (webmail runs on PHP too: it must also look like a form).
    machine = _machine(headers)
    if not (_NOREPLY.match(local) or (machine and _site(sender_domain, body, our_domains))):
        return None

    def customer(addr: str) -> bool:
        d = domain_of(addr)
        return addr != sender and addr not in ours and d not in our_domains and d != sender_domain

    for addr in addresses(headers, "reply-to"):
        if customer(addr):
            return addr, "Reply-To"
    if body:
        for addr in _EMAIL.findall(body[:4000]):
            if customer(addr.lower()):
                return addr.lower(), "the body"
    return None


def _site(sender_domain: str, body: str | None, our_domains: set[str]) -> bool:
    """Sent from the team's own domain, or a body of form fields (looked at only for
    machine-sent mail: the scan would otherwise search every message's body)."""
    return sender_domain in our_domains or len(_FORM_LABELS.findall((body or "")[:4000])) >= 2


def form_by_customer(headers: dict[str, Any], sender: str) -> bool:
    """A form mail whose author is already the customer: script/form-mailer headers, and
    the Reply-To (the customer) is the sender."""
    return _machine(headers) and sender in addresses(headers, "reply-to")


def maybe_form(headers: dict[str, Any], sender: str) -> bool:
    """Whether :func:`form_customer` or :func:`form_by_customer` could say yes: the mail
    is script- or form-mailer-sent, or its sender a no-reply address (a quick test first)."""
    return _machine(headers) or noreply(sender)


def noreply(sender: str) -> bool:
    """A no-reply or website address (``noreply@``, ``wordpress@``, ``formular@``, …)."""
    return bool(_NOREPLY.match(sender.partition("@")[0]))


def machine_sent(headers: dict[str, Any]) -> bool:
    """Sent by a website script (X-PHP-Originating-Script) or a form plugin (X-Mailer)."""
    return _machine(headers)


def _machine(headers: dict[str, Any]) -> bool:
    """Sent by a website script (X-PHP-Originating-Script) or a form plugin (X-Mailer)."""
    if first(headers, "x-php-originating-script"):
        return True
    mailer = first(headers, "x-mailer").lower()
    return bool(mailer) and any(m in mailer for m in _FORM_MAILERS)


def is_bounce(headers: dict[str, Any], sender: str, subject: str | None) -> bool:
    """A delivery-failure report (mailer-daemon, postmaster, multipart/report)."""
    local = sender.partition("@")[0].lower()
    return (
        local in ("mailer-daemon", "postmaster")
        or "multipart/report" in first(headers, "content-type").lower()
        or bool(_BOUNCE_SUBJECT.match(subject or ""))
    )


def forum_domain(sender: str, list_id: str) -> str | None:
    """A community/forum recognised by its name when it is not in the known list."""
    domain = domain_of(sender)
    if domain.split(".")[0] in _FORUM_LABELS:
        return domain
    lid = list_id.lower().strip("<> ")
    if any(label in lid.split(".")[0:2] for label in _FORUM_LABELS):
        return lid
    return None


def script_name(value: str) -> str:
    """``33:contact.php`` (uid:script) -> ``contact.php``."""
    return value.rpartition(":")[2].strip() or value
