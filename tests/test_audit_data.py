"""A realistic store for the audit tests, with known answers (no tests in this module).

A Czech bicycle shop, kolo-shop.cz. Its mailbox podpora@ receives through two
aliases (info@, reklamace@) and a forward from the old shop's obchod@stary-obchod.cz;
a WordPress contact form mails from wordpress@kolo-shop.cz with the customer in
Reply-To; an App Store review notification; customers' and agents' signatures with
Czech, Polish and Russian phone numbers; automated senders (a supplier's list, Shoptet,
an uptime monitor); an out-of-office reply; and a Zendesk-style source with chat,
Facebook, phone and web-form tickets. ``PLANTED`` lists every channel the audit must find.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from deskmove.records import Batch, MessageRec, PersonRec, PersonRef, QuarantineRec, TicketRec

CET = timezone(timedelta(hours=1))
SHOP = "kolo-shop.cz"
AGENT = PersonRef(email="petr.dvorak@kolo-shop.cz", name="Petr Dvořák", role="agent")
SIGNATURE = (
    "\n\nS pozdravem\nPetr Dvořák\nKolo Shop s.r.o. | tel. +420 222 333 444 | podpora@kolo-shop.cz"
)

PLANTED = {
    "emails": {
        "email:podpora@kolo-shop.cz",
        "email:info@kolo-shop.cz",
        "email:reklamace@kolo-shop.cz",
        "email:obchod@stary-obchod.cz",
    },
    "forms": {"form:wordpress@kolo-shop.cz", "form:web"},
    "phones": {"phone:+420222333444", "phone:voice"},
    "listings": {"listing:apple-app-store"},
    "chat-social": {"chat:chat", "social:facebook"},
    "integrations": {
        "integration:list:novinky.velo-dodavatel.cz",
        "integration:shoptet",
        "integration:mail:uptimerobot.com",
    },
}
FORWARDS = {
    "email:info@kolo-shop.cz": "podpora@kolo-shop.cz",
    "email:reklamace@kolo-shop.cz": "podpora@kolo-shop.cz",
    "email:obchod@stary-obchod.cz": "podpora@kolo-shop.cz",
}
CUSTOMER_NUMBERS = {
    "+420 603 111 222",
    "+420 602 345 678",
    "+48 22 123 45 67",
    "+7 495 123-45-67",
    "+7 800 555-35-35",
}


def at(day: int, hour: int, minute: int = 0, month: int = 3, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CET)


def inbound(
    nid: str,
    when: datetime,
    frm: PersonRef,
    body: str,
    *,
    to: list[str],
    headers: dict[str, Any],
    subject: str | None = None,
    **kw: Any,
) -> MessageRec:
    return MessageRec(
        native_id=nid,
        created_at=when,
        created_tz=60,
        author=frm,
        direction="inbound",
        subject=subject,
        body_text=body,
        to=to,
        headers=headers,
        message_id=f"<{nid}@mail.example>",
        **kw,
    )


def reply(nid: str, when: datetime, body: str, parent: str, to: str) -> MessageRec:
    return MessageRec(
        native_id=nid,
        created_at=when,
        created_tz=60,
        author=AGENT,
        direction="outbound",
        body_text=body + SIGNATURE,
        to=[to],
        in_reply_to=f"<{parent}@mail.example>",
        message_id=f"<{nid}@mail.example>",
        headers={"from": ["podpora@kolo-shop.cz"]},
    )


def mail_ticket(
    nid: str,
    subject: str,
    msgs: list[MessageRec],
    requester: PersonRef | None,
    status: str = "solved",
) -> TicketRec:
    return TicketRec(
        native_id=nid,
        subject=subject,
        status=status,
        channel="email",
        requester=requester,
        created_at=msgs[0].created_at,
        updated_at=msgs[-1].created_at,
        messages=msgs,
    )


def delivered(*addrs: str) -> dict[str, list[str]]:
    return {"delivered-to": list(addrs)}


JANA = PersonRef(email="jana.novakova@seznam.cz", name="Jana Nováková")
MAREK = PersonRef(email="marek.kowalski@wp.pl", name="Marek Kowalski")
IVAN = PersonRef(email="ivan.petrov@yandex.ru", name="Иван Петров")
TOMAS = PersonRef(email="tomas@firma-tomas.cz", name="Tomáš Malý")


def mailbox_batch() -> Batch:
    """The shop's mailbox: aliases, a forward, a form, a review, signatures, automation."""
    t = [
        mail_ticket(
            "m1",
            "Objednávka nedorazila",
            [
                inbound(
                    "m1a",
                    at(4, 9, 12),
                    JANA,
                    "Dobrý den,\nobjednávka č. 601123456 z 2024-03-01 nedorazila.\n"
                    "Platba z účtu CZ65 0800 0000 1920 0014 5399.\n\nJana Nováková\nTel.: 602 345 678",
                    to=["podpora@kolo-shop.cz"],
                    headers=delivered("podpora@kolo-shop.cz"),
                ),
                reply("m1b", at(4, 10, 5), "Dobrý den, balík je na cestě.", "m1a", JANA.email),
                inbound(
                    "m1c",
                    at(5, 8, 30),
                    JANA,
                    "Děkuji, dorazilo. Zkoušela jsem volat na 222 333 444, nikdo to nebral.",
                    to=["podpora@kolo-shop.cz"],
                    headers=delivered("podpora@kolo-shop.cz"),
                    in_reply_to="<m1b@mail.example>",
                ),
            ],
            JANA,
        ),
        mail_ticket(
            "m2",
            "Dotaz na velikost rámu",
            [
                inbound(
                    "m2a",
                    at(6, 14, 0),
                    TOMAS,
                    "Jaký rám pro výšku 180 cm?\nTomáš",
                    to=["info@kolo-shop.cz"],
                    cc=["kolega@firma-tomas.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz"],
                        "x-original-to": ["info@kolo-shop.cz"],
                    },
                ),
                reply(
                    "m2b",
                    at(6, 15, 30),
                    "Doporučujeme rám L. Zavolám vám zítra na 603 111 222.",
                    "m2a",
                    TOMAS.email,
                ),
            ],
            TOMAS,
        ),
        mail_ticket(
            "m3",
            "Reklamace přehazovačky",
            [
                inbound(
                    "m3a",
                    at(11, 11, 0),
                    MAREK,
                    "Dzień dobry, przerzutka nie działa.\n--\nMarek Kowalski\ntel. 22 123 45 67",
                    to=["reklamace@kolo-shop.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz"],
                        "x-original-to": ["reklamace@kolo-shop.cz"],
                    },
                ),
                reply(
                    "m3b",
                    at(11, 13, 0),
                    "Pošlete prosím fotografii.\n\n> przerzutka nie działa\n> tel. 731 222 333",
                    "m3a",
                    MAREK.email,
                ),
            ],
            MAREK,
            status="open",
        ),
        mail_ticket(
            "m4",
            "Вопрос о доставке в Россию",
            [
                inbound(
                    "m4a",
                    at(12, 16, 45),
                    IVAN,
                    "Здравствуйте! Доставляете ли вы в Москву?\n--\nИван Петров\n"
                    "Тел.: +7 (495) 123-45-67, бесплатно 8 (800) 555-35-35",
                    to=["obchod@stary-obchod.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz", "obchod@stary-obchod.cz"],
                        "x-forwarded-to": ["podpora@kolo-shop.cz"],
                        "x-forwarded-for": ["obchod@stary-obchod.cz podpora@kolo-shop.cz"],
                    },
                ),
            ],
            IVAN,
            status="pending",
        ),
        mail_ticket(
            "m5",
            "Kontaktní formulář: Dotaz na servis",
            [
                inbound(
                    "m5a",
                    at(13, 20, 10),
                    PersonRef(email="wordpress@kolo-shop.cz", name="WordPress"),
                    "Jméno: Marek Kowalski\nE-mail: marek.kowalski@wp.pl\nZpráva: Kiedy serwis?",
                    to=["podpora@kolo-shop.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz"],
                        "reply-to": ["Marek Kowalski <marek.kowalski@wp.pl>"],
                        "x-php-originating-script": ["1000:kontakt.php"],
                        "x-mailer": ["PHPMailer 6.8.0 (https://github.com/PHPMailer/PHPMailer)"],
                    },
                ),
            ],
            PersonRef(email="wordpress@kolo-shop.cz"),
        ),
        mail_ticket(
            "m6",
            "New review for Kolo Navigator",
            [
                inbound(
                    "m6a",
                    at(14, 3, 0),
                    PersonRef(email="no_reply@email.apple.com", name="App Store Connect"),
                    "A customer left a 2-star review of Kolo Navigator.",
                    to=["podpora@kolo-shop.cz"],
                    headers={"delivered-to": ["podpora@kolo-shop.cz"]},
                    is_auto=True,
                ),
            ],
            None,
        ),
        mail_ticket(
            "m7",
            "Novinky z velkoobchodu",
            [
                inbound(
                    "m7a",
                    at(15, 6, 0),
                    PersonRef(email="newsletter@velo-dodavatel.cz"),
                    "Nové ceníky na sezónu 2024.",
                    to=["podpora@kolo-shop.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz"],
                        "list-id": ["Novinky <novinky.velo-dodavatel.cz>"],
                        "precedence": ["bulk"],
                    },
                    is_auto=True,
                ),
            ],
            None,
        ),
        mail_ticket(
            "m8",
            "Nová objednávka č. 2024-0042",
            [
                inbound(
                    "m8a",
                    at(16, 7, 30),
                    PersonRef(email="objednavky@shoptet.cz"),
                    "Přijata nová objednávka 2024-0042.",
                    to=["podpora@kolo-shop.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz"],
                        "x-mailer": ["Shoptet"],
                        "auto-submitted": ["auto-generated"],
                    },
                    is_auto=True,
                ),
            ],
            None,
        ),
        mail_ticket(
            "m9",
            "Monitor is DOWN: kolo-shop.cz",
            [
                inbound(
                    "m9a",
                    at(17, 2, 15),
                    PersonRef(email="alert@uptimerobot.com"),
                    "Monitor kolo-shop.cz is down.",
                    to=["podpora@kolo-shop.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz"],
                        "auto-submitted": ["auto-generated"],
                    },
                    is_auto=True,
                ),
            ],
            None,
        ),
        mail_ticket(
            "m10",
            "Automatická odpověď: Objednávka nedorazila",
            [
                inbound(
                    "m10a",
                    at(18, 9, 0),
                    PersonRef(email="jana@novakova.cz", name="Jana Nováková"),
                    "Jsem mimo kancelář do 25. 3.",
                    to=["podpora@kolo-shop.cz"],
                    headers={
                        "delivered-to": ["podpora@kolo-shop.cz"],
                        "auto-submitted": ["auto-replied"],
                    },
                    is_auto=True,
                    in_reply_to="<not-in-this-mailbox@mail.example>",
                ),
            ],
            None,
        ),
        mail_ticket(
            "m11",
            "Faktura",
            [
                inbound(
                    "m11a",
                    at(19, 10, 0),
                    JANA,
                    "Prosím o fakturu. Objedn\ufffdvka 42.",
                    to=["podpora@kolo-shop.cz"],
                    headers=delivered("podpora@kolo-shop.cz"),
                ),
            ],
            JANA,
            status="solved",
        ),
    ]
    people = [
        PersonRec(
            native_id="jana",
            name="Jana Nováková",
            emails=["jana.novakova@seznam.cz", "jana@novakova.cz"],
        ),
        PersonRec(
            native_id="petr", name="Petr Dvořák", emails=["petr.dvorak@kolo-shop.cz"], role="agent"
        ),
    ]
    quarantined = [
        QuarantineRec("podpora.mbox#12", "undecodable headers: unknown charset x-mac-ce")
    ]
    return Batch(
        tickets=t, people=people, quarantined=quarantined, read=sum(len(x.messages) for x in t) + 1
    )


def _rest(
    nid: str,
    channel: str,
    via: str,
    when: datetime,
    subject: str,
    body: str,
    who: PersonRef,
    recipient: str | None = None,
) -> TicketRec:
    headers: dict[str, Any] = {
        "via": {"channel": via, "source": {"from": {}, "to": {}, "rel": None}}
    }
    if recipient:
        headers["recipient"] = recipient
    return TicketRec(
        native_id=nid,
        subject=subject,
        channel=channel,
        status="solved",
        requester=who,
        created_at=when,
        updated_at=when,
        messages=[
            MessageRec(
                native_id=f"{nid}/c1", created_at=when, author=who, body_text=body, headers=headers
            )
        ],
    )


def desk_batch() -> Batch:
    """A Zendesk-style source: chat, Facebook, phone and web-form tickets, one e-mail ticket."""
    eva = PersonRef(email="eva.svobodova@centrum.cz", name="Eva Svobodová", native_id="z-101")
    return Batch(
        tickets=[
            _rest(
                "z1",
                "chat",
                "chat",
                at(20, 10, 0),
                "Chat with Eva",
                "Dobrý den, máte skladem helmy?",
                eva,
            ),
            _rest(
                "z2",
                "social",
                "facebook",
                at(21, 19, 0),
                "Facebook message",
                "Otevíráte v sobotu?",
                eva,
            ),
            _rest(
                "z3",
                "phone",
                "voice",
                at(22, 9, 30),
                "Call from +420 777 000 111",
                "Volala kvůli reklamaci.",
                eva,
            ),
            _rest(
                "z4",
                "web",
                "web",
                at(25, 13, 0),
                "Help center form",
                "Chci změnit adresu doručení.",
                eva,
            ),
            _rest(
                "z5",
                "email",
                "email",
                at(26, 8, 0),
                "Re: doprava",
                "Kolik stojí doprava?",
                eva,
                recipient="podpora@kolo-shop.cz",
            ),
            TicketRec(
                native_id="z6",
                subject="Ticket without requester",
                channel="email",
                created_at=at(27, 8, 0),
                messages=[],
            ),
        ],
        read=6,
    )


def fill(store: Any, *, desk: bool = True) -> None:
    """Import the mailbox (and the helpdesk source) into ``store``."""
    store.ingestor("mbox:/data/podpora.mbox", None).ingest(mailbox_batch())
    if desk:
        store.ingestor("zendesk://kolo-shop", None).ingest(desk_batch())
