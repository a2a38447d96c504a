"""A real SMTP server for the workspace tests (aiosmtpd on 127.0.0.1, a free port)."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from tests.ports import free_port


class Inbox:
    """Collects what the server received: (envelope from, recipients, parsed message)."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], EmailMessage]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        self.arrived.set()
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, ready_timeout=10
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
