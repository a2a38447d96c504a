"""Write examples/mailbox.mbox: a shared support mailbox, as a small shop's team leaves it.

A few hundred mails in Czech, Polish, Russian and English, in the charsets such
mail really comes in (windows-1250, iso-8859-2, koi8-r, windows-1251, utf-8, one
mislabelled), with RFC 2047 subjects and names. It holds agent replies from the
support address, threads with References, customers answering months-old threads,
attachments and an inline image, an auto-reply and a bounce, mail to two aliases
(support@ and podpora@) and to info@, a forward from an old address
(X-Forwarded-To / Delivered-To), a web contact form (noreply@, the customer in
Reply-To), app-store review notifications, and phone numbers in signatures.

Deterministic: run it again and the file is byte for byte the same.

    python examples/make_mailbox.py            # writes examples/mailbox.mbox
    python examples/make_mailbox.py OUT.mbox

Import it with a project whose deskmove.toml says:

    [mail]
    support_addresses = ["support@shop.example", "podpora@shop.example", "info@shop.example"]
    support_domains = ["shop.example"]
"""

from __future__ import annotations

import base64
import random
import sys
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

SUPPORT = "support@shop.example"
ALIASES = ["support@shop.example", "podpora@shop.example", "info@shop.example"]
START = datetime(2024, 1, 8, 8, 0, tzinfo=UTC)

AGENTS = [
    ("Marie Horáková", "+420 601 234 567", "cs"),
    ("Krzysztof Nowak", "+48 601 234 567", "pl"),
    ("Анна Волкова", "+7 912 345-67-89", "ru"),
    ("Tom Harris", "+44 20 7946 0958", "en"),
]
CUSTOMERS = {
    "cs": [
        ("Jan Novák", "jan.novak@seznam.example"),
        ("Petra Dvořáková", "petra.dvorakova@email.example"),
        ("Tomáš Černý", "tomas.cerny@centrum.example"),
        ("Lucie Procházková", "lucie@prochazkova.example"),
        ("Jiří Kučera", "jiri.kucera@firma.example"),
        ("Eva Veselá", "eva.vesela@post.example"),
    ],
    "pl": [
        ("Agnieszka Wiśniewska", "agnieszka.w@wp.example"),
        ("Paweł Zieliński", "pawel.zielinski@onet.example"),
        ("Małgorzata Wójcik", "m.wojcik@interia.example"),
        ("Łukasz Kamiński", "lukasz@kaminski.example"),
    ],
    "ru": [
        ("Дмитрий Смирнов", "d.smirnov@yandex.example"),
        ("Ольга Кузнецова", "olga.k@mail.example"),
        ("Сергей Попов", "s.popov@rambler.example"),
    ],
    "en": [
        ("Sarah Miller", "sarah.miller@gmail.example"),
        ("James O'Brien", "james@obrien.example"),
        ("Priya Patel", "priya.patel@outlook.example"),
    ],
}
CHARSETS = {
    "cs": ["windows-1250", "iso-8859-2", "utf-8", "windows-1250"],
    "pl": ["iso-8859-2", "utf-8", "windows-1250"],
    "ru": ["koi8-r", "windows-1251", "utf-8"],
    "en": ["us-ascii", "utf-8"],
}
PHONES = {
    "cs": "+420 777 123 4{:02d}",
    "pl": "+48 22 123 45 {:02d}",
    "ru": "+7 (495) 123-45-{:02d}",
    "en": "+44 7700 900{:03d}",
}
TOPICS = {
    "cs": [
        (
            "Objednávka č. {n} nedorazila",
            "Dobrý den,\nmoje objednávka č. {n} stále nedorazila. Můžete prosím zjistit, kde je?",
        ),
        (
            "Reklamace – rozbitý hrnek",
            "Dobrý den,\nhrnek z objednávky {n} přišel rozbitý. Posílám fotku. Prosím o výměnu.",
        ),
        ("Faktura na firmu", "Dobrý den,\npotřeboval bych fakturu na firmu, IČO 2745{n}. Děkuji."),
        (
            "Změna doručovací adresy",
            "Dobrý den,\nmůžete prosím změnit adresu doručení u objednávky {n}? Přestěhovali jsme se do Brna.",
        ),
    ],
    "pl": [
        (
            "Zamówienie nr {n} – brak przesyłki",
            "Dzień dobry,\nzamówienie nr {n} jeszcze nie dotarło. Proszę o sprawdzenie.",
        ),
        (
            "Zwrot towaru",
            "Dzień dobry,\nchciałbym zwrócić towar z zamówienia {n}. Jak mam to zrobić?",
        ),
        (
            "Płatność nie przeszła",
            "Dzień dobry,\npłatność za zamówienie {n} została pobrana dwa razy. Proszę o zwrot.",
        ),
    ],
    "ru": [
        (
            "Заказ №{n} не пришёл",
            "Здравствуйте!\nМой заказ №{n} до сих пор не пришёл. Подскажите, пожалуйста, где он?",
        ),
        ("Возврат денег", "Здравствуйте!\nПрошу вернуть деньги за заказ {n}, товар не подошёл."),
        ("Вопрос по доставке", "Здравствуйте!\nДоставляете ли вы в Калининград? Заказ {n}."),
    ],
    "en": [
        (
            "Order #{n} has not arrived",
            "Hi,\nmy order #{n} still hasn't arrived. Could you check where it is?",
        ),
        ("Wrong size", "Hello,\nI received the wrong size for order {n}. Can I swap it?"),
        ("Invoice request", "Hi,\ncould you send me a VAT invoice for order {n}?"),
    ],
}
REPLY = {
    "cs": (
        "Re",
        "Dobrý den,\nděkujeme za zprávu, objednávku {n} jsme prověřili a ozveme se.\n\nS pozdravem",
    ),
    "pl": (
        "Odp",
        "Dzień dobry,\ndziękujemy za wiadomość, sprawdzamy zamówienie {n}.\n\nPozdrawiamy",
    ),
    "ru": ("Отв", "Здравствуйте!\nСпасибо за обращение, мы проверяем заказ {n}.\n\nС уважением"),
    "en": (
        "Re",
        "Hi,\nthanks for getting in touch, we are looking into order {n}.\n\nBest regards",
    ),
}
THANKS = {
    "cs": "Děkuji, už to dorazilo.",
    "pl": "Dziękuję, wszystko dotarło.",
    "ru": "Спасибо, всё получил.",
    "en": "Thanks, it arrived today.",
}
LATER = {
    "cs": "Dobrý den, píšu znovu k této objednávce – stejný problém se opakuje.",
    "pl": "Dzień dobry, wracam do tej sprawy – problem się powtórzył.",
    "ru": "Здравствуйте, пишу снова по этому заказу – проблема повторилась.",
    "en": "Hi, writing again about this order - the same problem happened again.",
}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


class Writer:
    """Builds raw mails and appends them to an mboxrd file."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mails: list[tuple[datetime, str, bytes]] = []
        self.count = 0

    def mid(self, domain: str) -> str:
        self.count += 1
        return f"<{self.count:05d}.{self.rng.getrandbits(40):010x}@{domain}>"

    def add(self, when: datetime, sender: str, raw: bytes) -> None:
        self.mails.append((when, sender, raw))

    def write(self, path: Path) -> None:
        with path.open("wb") as fh:
            for when, sender, raw in sorted(self.mails, key=lambda m: m[0]):
                stamp = when.strftime("%a %b %e %H:%M:%S %Y")
                fh.write(f"From {sender} {stamp}\n".encode())
                for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
                    if line.lstrip(b">").startswith(b"From "):
                        line = b">" + line  # mboxrd quoting
                    fh.write(line + b"\n")
                fh.write(b"\n")


def fits(text: str, charset: str) -> str:
    """The charset when it can hold the text (as a real mailer would pick), else utf-8."""
    try:
        text.encode("ascii" if charset == "us-ascii" else charset)
        return charset
    except UnicodeEncodeError:
        return "utf-8"


def addr(name: str, email: str, charset: str) -> str:
    if name.isascii():
        return f'"{name}" <{email}>' if "'" in name else f"{name} <{email}>"
    return f"{Header(name, fits(name, charset)).encode()} <{email}>"


def subject_header(text: str, charset: str) -> str:
    if text.isascii():
        return text
    return Header(text, fits(text, charset)).encode()


def headers(**fields: str | None) -> list[str]:
    names = {
        "frm": "From",
        "to": "To",
        "cc": "Cc",
        "subject": "Subject",
        "date": "Date",
        "mid": "Message-ID",
        "irt": "In-Reply-To",
        "refs": "References",
        "reply_to": "Reply-To",
    }
    return [f"{names.get(k, k)}: {v}" for k, v in fields.items() if v]


def text_body(
    text: str, charset: str, label: str | None = None, cte: str = "8bit"
) -> tuple[list[str], bytes]:
    charset = fits(text, charset)
    if label is None or charset == "utf-8":
        label = charset
    data = text.replace("\n", "\r\n").encode(charset)
    if data.isascii():
        cte = "7bit"
    elif cte == "base64":
        data = base64.encodebytes(data).replace(b"\n", b"\r\n")
    elif cte == "quoted-printable":
        import quopri

        data = quopri.encodestring(data).replace(b"\n", b"\r\n")
    ct = [f"Content-Type: text/plain; charset={label}", f"Content-Transfer-Encoding: {cte}"]
    return ct, data


def build(head: list[str], ct: list[str], body: bytes, extra: list[str] = ()) -> bytes:  # type: ignore[assignment]
    lines = [*head, *extra, "MIME-Version: 1.0", *ct]
    return "\r\n".join(lines).encode("ascii") + b"\r\n\r\n" + body


def with_attachment(
    ct: list[str], body: bytes, name: str, ctype: str, data: bytes, n: int
) -> tuple[list[str], bytes]:
    b = f"----=_Part_{n}_shop"
    parts = (
        f"--{b}\r\n".encode()
        + "\r\n".join(ct).encode()
        + b"\r\n\r\n"
        + body
        + b"\r\n"
        + f'--{b}\r\nContent-Type: {ctype}; name="{name}"\r\n'.encode()
        + f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode()
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
        + f"--{b}--\r\n".encode()
    )
    return [f'Content-Type: multipart/mixed; boundary="{b}"'], parts


def conversations(w: Writer) -> None:
    rng = w.rng
    when = START
    order = 24000
    for i in range(95):
        lang = rng.choice(["cs", "cs", "cs", "pl", "pl", "ru", "ru", "en"])
        name, email = rng.choice(CUSTOMERS[lang])
        charset = CHARSETS[lang][i % len(CHARSETS[lang])]
        label = "iso-8859-1" if (lang == "cs" and i % 17 == 5) else None  # a mislabelled mail
        topic, text = rng.choice(TOPICS[lang])
        order += rng.randint(3, 40)
        when += timedelta(hours=rng.randint(2, 60), minutes=rng.randint(0, 59))
        alias = ALIASES[0] if i % 5 else ALIASES[1 if lang == "cs" else 2]
        phone = PHONES[lang].format(i % 100)
        body = text.format(n=order) + f"\n\n{name}\ntel. {phone}\n"
        q_id = w.mid(email.split("@")[1])
        subj = topic.format(n=order)
        ct, data = text_body(
            body, charset, label, rng.choice(["8bit", "quoted-printable", "base64"])
        )
        if i % 7 == 3:
            ct, data = with_attachment(
                ct, data, "foto.png" if lang != "en" else "photo.png", "image/png", PNG, i
            )
        elif i % 11 == 4:
            ct, data = with_attachment(ct, data, f"faktura-{order}.pdf", "application/pdf", PDF, i)
        head = headers(
            frm=addr(name, email, charset),
            to=alias,
            subject=subject_header(subj, charset),
            date=format_datetime(when),
            mid=q_id,
        )
        extra = (
            ["X-Mailer: Microsoft Outlook 16.0"]
            if i % 3 == 0
            else ["User-Agent: Thunderbird/115.8.0"]
        )
        w.add(when, email, build(head, ct, data, [f"Delivered-To: {alias}", *extra]))
        refs = [q_id]
        prefix, reply = REPLY[lang]
        agent, agent_phone, _ = next(a for a in AGENTS if a[2] == lang)
        t = when
        for round_ in range(rng.choice([1, 1, 2, 2, 3])):
            t += timedelta(hours=rng.randint(1, 20))
            a_id = w.mid("shop.example")
            a_body = (
                reply.format(n=order) + f"\n{agent}\nZákaznická podpora / Support\n{agent_phone}\n"
            )
            a_charset = "utf-8"
            ct, data = text_body(a_body, a_charset, cte="quoted-printable")
            head = headers(
                frm=addr(f"{agent} (Shop)", SUPPORT, a_charset),
                to=addr(name, email, a_charset),
                subject=subject_header(f"{prefix}: {subj}", a_charset),
                date=format_datetime(t),
                mid=a_id,
                irt=refs[-1],
                refs=" ".join(refs),
            )
            w.add(t, SUPPORT, build(head, ct, data, ["X-Mailer: Shop Helpdesk Mailer 2.1"]))
            refs.append(a_id)
            if round_ == 0 and i % 13 == 6:  # the customer is away
                ooo = {
                    "cs": "Automatická odpověď",
                    "pl": "Odpowiedź automatyczna",
                    "ru": "Автоматический ответ",
                    "en": "Automatic reply",
                }[lang]
                t2 = t + timedelta(minutes=1)
                ct, data = text_body(
                    f"{ooo}: jsem mimo kancelář do pondělí."
                    if lang == "cs"
                    else f"{ooo}: out of office.",
                    "utf-8",
                )
                head = headers(
                    frm=addr(name, email, "utf-8"),
                    to=SUPPORT,
                    subject=subject_header(f"{ooo}: {prefix}: {subj}", "utf-8"),
                    date=format_datetime(t2),
                    mid=w.mid(email.split("@")[1]),
                    irt=a_id,
                    refs=" ".join(refs),
                )
                w.add(
                    t2,
                    email,
                    build(head, ct, data, ["Auto-Submitted: auto-replied", "X-Autoreply: yes"]),
                )
            t += timedelta(hours=rng.randint(1, 30))
            c_id = w.mid(email.split("@")[1])
            c_text = THANKS[lang] if round_ else "Děkuji, čekám." if lang == "cs" else THANKS[lang]
            ct, data = text_body(
                f"{c_text}\n\n{name}\n{phone}\n\n> {reply.format(n=order).splitlines()[0]}", charset
            )
            head = headers(
                frm=addr(name, email, charset),
                to=SUPPORT,
                subject=subject_header(f"{prefix}: {subj}", charset),
                date=format_datetime(t),
                mid=c_id,
                irt=a_id,
                refs=" ".join(refs),
            )
            w.add(t, email, build(head, ct, data))
            refs.append(c_id)
        if i % 9 == 2:  # the customer comes back to the old thread months later
            t += timedelta(days=rng.randint(60, 200))
            ct, data = text_body(LATER[lang] + f"\n\n{name}", charset)
            head = headers(
                frm=addr(name, email, charset),
                to=SUPPORT,
                subject=subject_header(f"{prefix}: {subj}", charset),
                date=format_datetime(t),
                mid=w.mid(email.split("@")[1]),
                irt=refs[-1],
                refs=" ".join(refs),
            )
            w.add(t, email, build(head, ct, data))


def specials(w: Writer) -> None:
    day = START + timedelta(days=90)
    # a web contact form: sent by the site as noreply@, the customer in Reply-To
    for k, (name, email) in enumerate(
        [("Veronika Malá", "veronika.mala@seznam.example"), ("Adam Kowalski", "adam.k@wp.example")]
    ):
        t = day + timedelta(days=k * 20, hours=3)
        body = f"Nový dotaz z kontaktního formuláře\n\nJméno: {name}\nE-mail: {email}\nTelefon: +420 603 555 1{k}1\nZpráva: Dobrý den, máte skladem model X200?\n"
        ct, data = text_body(body, "utf-8", cte="quoted-printable")
        head = headers(
            frm="Web shop.example <noreply@shop.example>",
            to=SUPPORT,
            reply_to=addr(name, email, "utf-8"),
            subject=subject_header("Nový dotaz z kontaktního formuláře", "utf-8"),
            date=format_datetime(t),
            mid=w.mid("web.shop.example"),
        )
        w.add(
            t,
            "noreply@shop.example",
            build(
                head,
                ct,
                data,
                ["X-PHP-Originating-Script: 33:contact-form.php", "X-Mailer: PHPMailer 6.8.0"],
            ),
        )
    # app-store review notifications
    for k, (store_from, subj) in enumerate(
        [
            (
                "App Store Connect <no_reply@email.apple.com>",
                "A customer left a 2-star review of Shop for iOS",
            ),
            (
                "Google Play Console <noreply-play-console@google.com>",
                "New review for Shop (cz.shop.app): ★★☆☆☆",
            ),
        ]
    ):
        t = day + timedelta(days=30 + k * 7)
        ct, data = text_body(
            f'{subj}\n\n"Aplikace padá při platbě kartou." — Petr, Czech Republic\n\nReply to this review in the console.',
            "utf-8",
        )
        head = headers(
            frm=store_from,
            to=ALIASES[2],
            subject=subject_header(subj, "utf-8"),
            date=format_datetime(t),
            mid=w.mid("email.apple.com" if k == 0 else "google.com"),
        )
        w.add(
            t,
            "noreply",
            build(
                head,
                ct,
                data,
                [
                    "Auto-Submitted: auto-generated",
                    "List-Unsubscribe: <https://appstoreconnect.apple.com/unsubscribe>",
                ],
            ),
        )
    # a forward from the shop's old address (the old mailbox forwards to support@)
    t = day + timedelta(days=12, hours=5)
    ct, data = text_body(
        "Dobrý den,\npíšu na starou adresu, platí ještě záruka na kávovar? Objednávka 19877.\n\nKarel Svoboda\n+420 731 000 222\n",
        "windows-1250",
    )
    head = headers(
        frm=addr("Karel Svoboda", "karel.svoboda@volny.example", "windows-1250"),
        to="objednavky@eshop-stary.example",
        subject=subject_header("Záruka na kávovar", "windows-1250"),
        date=format_datetime(t),
        mid=w.mid("volny.example"),
    )
    w.add(
        t,
        "karel.svoboda@volny.example",
        build(
            head,
            ct,
            data,
            [
                "Delivered-To: support@shop.example",
                "X-Forwarded-To: support@shop.example",
                "X-Forwarded-For: objednavky@eshop-stary.example support@shop.example",
                "X-Original-To: objednavky@eshop-stary.example",
            ],
        ),
    )
    # a bounce of an agent reply
    t = day + timedelta(days=40)
    b = "bounce-boundary-1"
    body = (
        f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system at host mx.shop.example.\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n<jan.novak@seznam.invalid>: host not found\r\n"
        f"--{b}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.shop.example\r\n\r\n"
        f"Final-Recipient: rfc822; jan.novak@seznam.invalid\r\nAction: failed\r\nStatus: 5.1.2\r\n"
        f"--{b}\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@shop.example\r\nTo: jan.novak@seznam.invalid\r\nSubject: Re: Objednavka\r\n"
        f"--{b}--\r\n"
    ).encode()
    head = headers(
        frm="Mail Delivery System <MAILER-DAEMON@mx.shop.example>",
        to=SUPPORT,
        subject="Undelivered Mail Returned to Sender",
        date=format_datetime(t),
        mid=w.mid("mx.shop.example"),
    )
    w.add(
        t,
        "MAILER-DAEMON",
        build(
            head,
            [f'Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"'],
            body,
            ["Auto-Submitted: auto-replied"],
        ),
    )
    # an HTML mail with an inline image, in koi8-r, to the info@ alias
    t = day + timedelta(days=50)
    html = '<html><body><p>Здравствуйте!</p><p>Посмотрите на фото упаковки:</p><img src="cid:photo1@mail.example"><p>Ольга<br>+7 (812) 555-01-02</p></body></html>'
    b = "rel-boundary-2"
    body = (
        f"--{b}\r\nContent-Type: text/html; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
        + base64.encodebytes(html.encode("koi8-r")).replace(b"\n", b"\r\n")
        + f'--{b}\r\nContent-Type: image/png\r\nContent-ID: <photo1@mail.example>\r\nContent-Disposition: inline; filename="upakovka.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode()
        + base64.encodebytes(PNG).replace(b"\n", b"\r\n")
        + f"--{b}--\r\n".encode()
    )
    head = headers(
        frm=addr("Ольга Кузнецова", "olga.k@mail.example", "koi8-r"),
        to=ALIASES[2],
        subject=subject_header("Повреждённая упаковка", "koi8-r"),
        date=format_datetime(t),
        mid=w.mid("mail.example"),
    )
    w.add(
        t,
        "olga.k@mail.example",
        build(head, [f'Content-Type: multipart/related; boundary="{b}"'], body),
    )
    # a newsletter someone subscribed the support address to
    t = day + timedelta(days=55)
    ct, data = text_body("Our spring sale starts now!", "utf-8")
    head = headers(
        frm="Packaging Weekly <news@packaging-weekly.example>",
        to=SUPPORT,
        subject="Spring sale: 20% off boxes",
        date=format_datetime(t),
        mid=w.mid("packaging-weekly.example"),
    )
    w.add(
        t,
        "news",
        build(
            head,
            ct,
            data,
            [
                "Precedence: bulk",
                "List-Unsubscribe: <https://packaging-weekly.example/u/123>",
                "List-Id: <news.packaging-weekly.example>",
            ],
        ),
    )


def main(out: Path) -> None:
    w = Writer(random.Random(2024))
    conversations(w)
    specials(w)
    w.write(out)
    print(f"wrote {len(w.mails)} mails to {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("mailbox.mbox"))
