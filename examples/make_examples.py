"""Make deskmove's sample data: a multilingual helpdesk in the canonical CSV layout,
and two helpdesk-style ticket exports.

    python examples/make_examples.py            # rewrites examples/helpdesk and examples/exports

Deterministic (seeded): running it twice gives the same bytes. What it writes:

- ``helpdesk/``: tickets.csv, messages.csv, people.csv, attachments.csv and
  attachments/ — a few hundred tickets in Czech, Polish, Russian and English, with
  replies, internal notes, attachments (real PNG/PDF/text bytes), tags, custom
  fields, several organizations and customers who write from several addresses.
- ``exports/zendesk-tickets.csv``: a Zendesk-style ticket export, UTF-8 with BOM.
- ``exports/freshdesk-tickets.csv``: a Freshdesk-style ticket export, Windows-1250,
  ``;`` delimiter.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from deskmove.csvlayout import ATTACHMENTS, MESSAGES, PEOPLE, TICKETS

HERE = Path(__file__).resolve().parent
N_TICKETS = 320

ORGS = [
    ("Pekárna Novák s.r.o.", "pekarna-novak.cz", "cs"),
    ("Železářství Dvořák", "zelezarstvi.cz", "cs"),
    ("Sklep Wiśniewski sp. z o.o.", "wisniewski.pl", "pl"),
    ("Łódzkie Meble", "lodzkie-meble.pl", "pl"),
    ("ООО «Северный ветер»", "severveter.ru", "ru"),
    ("Harbour Books Ltd", "harbourbooks.co.uk", "en"),
]
FIRST = {
    "cs": ["Jana", "Petr", "Lucie", "Tomáš", "Kateřina", "Jiří", "Zuzana", "Ondřej"],
    "pl": ["Agnieszka", "Łukasz", "Małgorzata", "Paweł", "Zofia", "Grzegorz", "Żaneta"],
    "ru": ["Иван", "Ольга", "Сергей", "Наталья", "Дмитрий", "Екатерина"],
    "en": ["Emma", "Oliver", "Amelia", "Harry", "Sophie", "Jack"],
}
LAST = {
    "cs": ["Nováková", "Dvořák", "Černá", "Procházka", "Kučerová", "Šťastný"],
    "pl": ["Wiśniewska", "Kowalczyk", "Zieliński", "Wójcik", "Kamińska", "Łuczak"],
    "ru": ["Петров", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева"],
    "en": ["Smith", "O'Brien", "Taylor", "Brown", "Wilson", "Evans"],
}
TRANSLIT = str.maketrans(
    "áčďéěíňóřšťúůýžąćęłńśźżабвгдеёжзийклмнопрстуфхцчшщъыьэюяÁČĎÉĚÍŇÓŘŠŤÚŮÝŽĄĆĘŁŃŚŹŻ'",
    "acdeeinorstuuyzacelnszzabvgdeezzijklmnoprstufhccss_y_eyaACDEEINORSTUUYZACELNSZZ_",
)
SUBJECTS = {
    "cs": [
        "Objednávka č. {n} nedorazila",
        "Reklamace: rozbitá zásilka",
        "Faktura {n} — špatná částka",
        "Změna doručovací adresy",
        "Dotaz k vrácení zboží, prosím o radu",
    ],
    "pl": [
        "Zamówienie nr {n} nie dotarło",
        "Reklamacja: uszkodzona paczka",
        "Faktura {n} — zła kwota",
        "Zmiana adresu dostawy",
        "Pytanie o zwrot towaru",
    ],
    "ru": [
        "Заказ № {n} не пришёл",
        "Претензия: повреждённая посылка",
        "Счёт {n} — неверная сумма",
        "Изменение адреса доставки",
        "Вопрос о возврате товара",
    ],
    "en": [
        "Order #{n} has not arrived",
        "Complaint: parcel arrived damaged",
        "Invoice {n}: wrong amount",
        "Change of delivery address",
        'Question about returns, "30 days"?',
    ],
}
BODIES = {
    "cs": [
        "Dobrý den,\nobjednávka č. {n} stále nedorazila. Můžete to prosím ověřit?\n\nS pozdravem\n{name}",
        "Zásilka přišla poškozená, přikládám fotku. Chci výměnu, ne vrácení peněz.",
        "Na faktuře je 1 250,50 Kč, ale v košíku bylo 1 150,50 Kč; prosím o opravu.",
    ],
    "pl": [
        "Dzień dobry,\nzamówienie nr {n} wciąż nie dotarło. Proszę o sprawdzenie.\n\nPozdrawiam\n{name}",
        "Paczka przyszła uszkodzona, w załączniku zdjęcie. Proszę o wymianę.",
        "Na fakturze jest 1 250,50 zł, a w koszyku było 1 150,50 zł; proszę o korektę.",
    ],
    "ru": [
        "Здравствуйте!\nЗаказ № {n} до сих пор не пришёл. Проверьте, пожалуйста.\n\nС уважением,\n{name}",
        "Посылка пришла повреждённой, фото во вложении. Прошу замену, а не возврат.",
        "В счёте 1 250,50 ₽, а в корзине было 1 150,50 ₽; исправьте, пожалуйста.",
    ],
    "en": [
        "Hello,\norder #{n} still hasn't arrived. Could you check, please?\n\nThanks,\n{name}",
        "The parcel came damaged, photo attached. I'd like a replacement, not a refund.",
        'The invoice says £1,250.50 but the basket was £1,150.50; "please" fix it 🙏',
    ],
}
REPLIES = {
    "cs": "Dobrý den, děkujeme za zprávu. Zásilku jsme dohledali a posíláme ji znovu.",
    "pl": "Dzień dobry, dziękujemy za wiadomość. Paczkę odnaleźliśmy i wysyłamy ponownie.",
    "ru": "Здравствуйте, спасибо за обращение. Мы нашли посылку и отправляем её повторно.",
    "en": "Hi, thanks for getting in touch. We found the parcel and are sending it again.",
}
NOTES = [
    "Interní poznámka: zákazník volal, slíbili jsme dobropis.",
    "Notatka: sprawdzić u kuriera, numer przesyłki w CRM.",
    "Заметка: клиент VIP, ответить до конца дня.",
    "Internal: escalated to warehouse, see ticket in WMS; don't promise a date.",
]
OFFSET = {"cs": 60, "pl": 60, "ru": 180, "en": 0}
GROUPS = {"cs": "Podpora CZ", "pl": "Wsparcie PL", "ru": "Поддержка RU", "en": "Support EN"}
AGENTS = [
    ("Marie Horáková", "marie@shop.example", "+420 601 234 567"),
    ("Krzysztof Nowak", "krzysztof@shop.example", "+48 601 234 567"),
    ("Анна Волкова", "anna@shop.example", "+7 912 345 67 89"),
    ("Tom Harris", "tom@shop.example", "+44 20 7946 0958"),
]
STATUS_W = [("new", 3), ("open", 10), ("pending", 5), ("hold", 1), ("solved", 12), ("closed", 8)]
CHANNEL_W = [("email", 12), ("web", 5), ("phone", 2), ("chat", 2), ("social", 1)]


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def png(rng: random.Random) -> bytes:
    w = h = 8
    color = bytes(rng.randrange(256) for _ in range(3))
    raw = b"".join(b"\x00" + color * w for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def pdf(text: str) -> bytes:
    body = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/Contents 4 0 R>>endobj\n"
        + f"4 0 obj<</Length {len(body)}>>stream\n".encode()
        + body
        + b"\nendstream endobj\n%%EOF\n"
    )


def iso(dt: datetime, minutes: int | None) -> str:
    if minutes is None:
        return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return dt.astimezone(timezone(timedelta(minutes=minutes))).isoformat()


def write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


class Helpdesk:
    def __init__(self, seed: int = 2026) -> None:
        self.rng = random.Random(seed)
        self.people: dict[str, dict[str, str]] = {}
        self.customers: list[tuple[str, str, str]] = []  # (email, name, lang)
        self.tickets: list[list[str]] = []
        self.messages: list[list[str]] = []
        self.attachments: list[list[str]] = []
        self.files: dict[str, bytes] = {}

    def make_people(self) -> None:
        rng = self.rng
        for name, email, phone in AGENTS:
            self.people[email] = {
                "email": email,
                "name": name,
                "role": "agent",
                "organization": "",
                "phone": phone,
                "other_emails": "",
            }
        for i in range(140):
            org, domain, lang = (
                ORGS[(i * 5) % len(ORGS)] if i % 3 else (None, None, rng.choice(list(FIRST)))
            )
            first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
            local = f"{first}.{last}".lower().translate(TRANSLIT)
            email = (
                f"{local}{i}@{domain or rng.choice(['seznam.cz', 'wp.pl', 'mail.ru', 'gmail.com'])}"
            )
            others = [f"{local}.home{i}@gmail.com"] if i % 7 == 0 else []
            if i % 19 == 0:
                others.append(f"{local}{i}@outlook.com")
            phone = f"+420 7{rng.randrange(10**7, 10**8)}" if lang == "cs" and i % 2 else ""
            self.people[email] = {
                "email": email,
                "name": f"{first} {last}",
                "role": "customer",
                "organization": org or "",
                "phone": phone,
                "other_emails": " ".join(others),
            }
            self.customers.append((email, f"{first} {last}", lang))

    def make_tickets(self) -> None:
        rng = self.rng
        start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
        mid = 0
        for n in range(1, N_TICKETS + 1):
            email, name, lang = rng.choice(self.customers)
            agent = AGENTS[list(FIRST).index(lang)]
            created = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 300))
            status = pick(rng, STATUS_W)
            order = 40000 + n * 7
            subject = rng.choice(SUBJECTS[lang]).format(n=order)
            msgs, t = self.make_messages(n, mid, lang, email, name, agent, subject, created, order)
            mid += len(msgs)
            updated = t
            solved = updated if status in ("solved", "closed") else None
            org = self.people[email]["organization"]
            tags = sorted(
                {
                    lang,
                    rng.choice(["vip", "b2b", "eshop", "doprava", "zwrot", "возврат"]),
                    rng.choice(["", "urgent", "faktura"]),
                }
                - {""}
            )
            custom = {
                "order_number": str(order),
                "product": rng.choice(["Chléb", "Kłódka", "Самовар", "Book"]),
                "rating": rng.choice([None, 3, 4, 5]),
            }
            custom = {k: v for k, v in custom.items() if v is not None}
            flags = "spam" if n % 97 == 0 else ("auto" if n % 89 == 0 else "")
            self.tickets.append(
                [
                    str(n),
                    "legacy-desk" if n % 5 == 0 else "",
                    f"LD-{n}" if n % 5 == 0 else "",
                    subject,
                    status,
                    pick(rng, [("low", 2), ("normal", 8), ("high", 3), ("urgent", 1)]),
                    rng.choice(["question", "incident", "problem", ""]),
                    pick(rng, CHANNEL_W),
                    email,
                    agent[1] if status != "new" else "",
                    GROUPS[lang],
                    org,
                    " ".join(tags),
                    iso(created, 0),
                    iso(updated, 0),
                    iso(solved, 0) if solved else "",
                    str(len(msgs)),
                    json.dumps(custom, ensure_ascii=False, sort_keys=True),
                    flags,
                    "",
                ]
            )
            self.messages += msgs

    def make_messages(
        self,
        n: int,
        mid: int,
        lang: str,
        email: str,
        name: str,
        agent: tuple[str, str, str],
        subject: str,
        created: datetime,
        order: int,
    ) -> tuple[list[list[str]], datetime]:
        rng = self.rng
        out: list[list[str]] = []
        t = created
        first_id = f"<t{n}.{order}@{email.split('@')[1]}>"
        person = self.people[email]
        addresses = [email] + person["other_emails"].split()
        for i in range(rng.choice([1, 2, 2, 3, 3, 4, 5, 6])):
            kind = "in" if i == 0 else rng.choice(["out", "out", "in", "note"])
            mid += 1
            off = OFFSET[lang] if kind != "note" or lang != "en" else None
            if kind == "in":
                author, aname = rng.choice(addresses), name
                body = rng.choice(BODIES[lang]).format(n=order, name=name)
            elif kind == "out":
                author, aname, body = agent[1], agent[0], REPLIES[lang]
            else:
                author, aname, body = agent[1], agent[0], rng.choice(NOTES)
            html = f"<p>{body.replace(chr(10), '<br>')}</p>" if kind == "out" and i % 2 else ""
            msg_id = first_id if i == 0 else f"<m{mid}@shop.example>"
            n_att = self.add_attachments(mid, lang) if kind == "in" and rng.random() < 0.22 else 0
            out.append(
                [
                    str(mid),
                    str(n),
                    "",
                    msg_id if kind != "note" else "",
                    author,
                    aname,
                    "inbound" if kind == "in" else "outbound",
                    "false" if kind == "note" else "true",
                    iso(t, off),
                    subject if i == 0 else f"Re: {subject}",
                    body,
                    html,
                    str(n_att),
                    "support@shop.example" if kind == "in" else (email if kind == "out" else ""),
                    "",
                    first_id if i and kind != "note" else "",
                    first_id if i and kind != "note" else "",
                    "",
                    "",
                ]
            )
            t += timedelta(minutes=rng.randrange(5, 60 * 48))
        return out, t

    def add_attachments(self, mid: int, lang: str) -> int:
        rng = self.rng
        count = rng.choice([1, 1, 2])
        for k in range(count):
            kind = rng.choice(["png", "pdf", "txt"])
            if kind == "png":
                data, name, ctype = png(rng), f"fotka-{mid}-{k}.png", "image/png"
            elif kind == "pdf":
                data, name, ctype = pdf(f"Invoice {mid}"), f"faktura_{mid}.pdf", "application/pdf"
            else:
                text = {
                    "cs": "Číslo zásilky",
                    "pl": "Numer przesyłki",
                    "ru": "Номер посылки",
                    "en": "Tracking no.",
                }[lang]
                data, name, ctype = (
                    f"{text}: {rng.randrange(10**9)}\n".encode(),
                    f"zásilka {mid}.txt",
                    "text/plain; charset=utf-8",
                )
            sha = hashlib.sha256(data).hexdigest()
            rel = f"attachments/{sha[:2]}/{sha}"
            self.files[rel] = data
            self.attachments.append([str(mid), name, ctype, str(len(data)), sha, rel, "", "false"])
        return count

    def write(self, folder: Path) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        write_csv(folder / "tickets.csv", TICKETS, self.tickets)
        write_csv(folder / "messages.csv", MESSAGES, self.messages)
        write_csv(folder / "people.csv", PEOPLE, [list(p.values()) for p in self.people.values()])
        write_csv(folder / "attachments.csv", ATTACHMENTS, self.attachments)
        for rel, data in self.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)


# -- helpdesk-style exports ------------------------------------------------------------
ZENDESK_STATUS = {
    "new": "New",
    "open": "Open",
    "pending": "Pending",
    "hold": "On-hold",
    "solved": "Solved",
    "closed": "Closed",
}
ZENDESK_VIA = {
    "email": "Mail",
    "web": "Web form",
    "phone": "Phone call (incoming)",
    "chat": "Chat",
    "social": "Facebook Post",
}
FRESH_STATUS = {
    "new": "Open",
    "open": "Open",
    "pending": "Pending",
    "hold": "Waiting on Third Party",
    "solved": "Resolved",
    "closed": "Closed",
}
FRESH_SOURCE = {
    "email": "Email",
    "web": "Portal",
    "phone": "Phone",
    "chat": "Chat",
    "social": "Facebook",
}
FRESH_PRIORITY = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Urgent"}


def zendesk_export(desk: Helpdesk, path: Path) -> None:
    header = (
        "Summation column",
        "Id",
        "Requester",
        "Requester id",
        "Requester external id",
        "Requester email",
        "Requester domain",
        "Submitter",
        "Assignee",
        "Group",
        "Subject",
        "Tags",
        "Status",
        "Priority",
        "Via",
        "Ticket type",
        "Created at",
        "Updated at",
        "Assigned at",
        "Organization",
        "Due date",
        "Initially assigned at",
        "Solved at",
        "Resolution time",
        "Satisfaction Score",
        "Reopens",
        "Replies",
        "Order number [txt]",
        "Product [list]",
    )
    rows = []
    for t in desk.tickets[:60]:
        tid, subj, status, prio, ttype, channel, req, asg = (
            t[0],
            t[3],
            t[4],
            t[5],
            t[6],
            t[7],
            t[8],
            t[9],
        )
        p = desk.people[req]
        cf = json.loads(t[17])
        when = datetime.fromisoformat(t[13]).astimezone(timezone(timedelta(hours=1)))
        stamp = when.strftime("%Y-%m-%d %H:%M:%S %z")
        upd = (
            datetime.fromisoformat(t[14])
            .astimezone(timezone(timedelta(hours=1)))
            .strftime("%Y-%m-%d %H:%M:%S %z")
        )
        solved = datetime.fromisoformat(t[15]).strftime("%Y-%m-%d %H:%M:%S %z") if t[15] else ""
        rows.append(
            [
                "",
                str(1000 + int(tid)),
                p["name"],
                str(500000 + int(tid)),
                "",
                req,
                req.split("@")[1],
                p["name"],
                desk.people[asg]["name"] if asg else "",
                t[10],
                subj,
                t[12],
                ZENDESK_STATUS[status],
                prio.capitalize() if prio else "",
                ZENDESK_VIA[channel],
                ttype.capitalize(),
                stamp,
                upd,
                "",
                p["organization"],
                "",
                "",
                solved,
                "",
                "Not Offered",
                "0",
                "1",
                cf.get("order_number", ""),
                cf.get("product", ""),
            ]
        )
    rows.append(
        [
            "",
            "1999",
            "Broken Row",
            "",
            "",
            "broken@example.com",
            "example.com",
            "",
            "",
            "",
            "Ticket with an unknown status",
            "",
            "Archived",
            "Low",
            "Mail",
            "",
            "2025-03-01 10:00:00 +0100",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))


def freshdesk_export(desk: Helpdesk, path: Path) -> None:
    header = (
        "Ticket ID",
        "Subject",
        "Description",
        "Status",
        "Priority",
        "Source",
        "Type",
        "Agent",
        "Group",
        "Created time",
        "Due by Time",
        "Resolved time",
        "Closed time",
        "Last update time",
        "Initial response time",
        "Time tracked",
        "First response time (in hrs)",
        "Resolution time (in hrs)",
        "Agent interactions",
        "Customer interactions",
        "Resolution status",
        "First response status",
        "Tags",
        "Survey results",
        "Product",
        "Full name",
        "Email",
        "Contact ID",
        "Company Name",
        "Order number",
    )
    rows = []
    first = {m[1]: m for m in reversed(desk.messages)}
    picked = [t for t in desk.tickets if _cp1250(t, first[t[0]][10], desk)][:50]
    for t in picked:
        p = desk.people[t[8]]
        fmt = "%Y-%m-%d %H:%M:%S"
        local = timezone(timedelta(hours=1))

        def d(v: str, fmt: str = fmt, local: timezone = local) -> str:
            return datetime.fromisoformat(v).astimezone(local).strftime(fmt) if v else ""

        cf = json.loads(t[17])
        rows.append(
            [
                str(t[0]),
                t[3],
                first[t[0]][10],
                FRESH_STATUS[t[4]],
                FRESH_PRIORITY.get(t[5], "Low"),
                FRESH_SOURCE[t[7]],
                t[6].capitalize(),
                desk.people[t[9]]["name"] if t[9] else "",
                t[10],
                d(t[13]),
                "",
                d(t[15]) if t[4] == "solved" else "",
                d(t[15]) if t[4] == "closed" else "",
                d(t[14]),
                "",
                "00:00",
                "",
                "",
                "1",
                "1",
                "",
                "",
                ",".join(t[12].split()),
                "",
                "",
                p["name"],
                p["email"],
                str(700 + int(t[0])),
                p["organization"],
                cf.get("order_number", ""),
            ]
        )
    rows.append(
        [
            "2001",
            "Chybné datum",
            "",
            "Open",
            "Low",
            "Email",
            "",
            "",
            "",
            "31.02.2025 25:61",
            *[""] * 15,
            "Jan Chybný",
            "jan@chybny.cz",
            "",
            "",
            "",
        ]
    )
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("cp1250"))


def _cp1250(t: list[str], description: str, desk: Helpdesk) -> bool:
    text = "".join(t) + description + desk.people[t[8]]["name"] + desk.people[t[8]]["organization"]
    try:
        text.encode("cp1250")
        return not any("\u0400" <= ch <= "\u04ff" for ch in text)
    except UnicodeEncodeError:
        return False


def main() -> None:
    desk = Helpdesk()
    desk.make_people()
    desk.make_tickets()
    desk.write(HERE / "helpdesk")
    exports = HERE / "exports"
    exports.mkdir(exist_ok=True)
    zendesk_export(desk, exports / "zendesk-tickets.csv")
    freshdesk_export(desk, exports / "freshdesk-tickets.csv")
    print(
        f"{len(desk.tickets)} tickets, {len(desk.messages)} messages, {len(desk.people)} people, "
        f"{len(desk.attachments)} attachments -> {HERE}"
    )


if __name__ == "__main__":
    main()
