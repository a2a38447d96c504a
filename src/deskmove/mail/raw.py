"""A raw mail as a source read it, and :func:`parse_raw`: the one step from its bytes to a
:class:`ParsedMail` (or the reason it is quarantined).

The parse worker processes (:mod:`deskmove.mail.parseworker`) load this module and
what parsing needs, nothing of threading, the batcher or the store: a worker's start
is part of every import's first batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deskmove.errors import DeskmoveError, MailParseError
from deskmove.mail.parse import ParsedMail, parse_mail
from deskmove.textclean import strip_nul_fields
from deskmove.textfold import fold_message


@dataclass(slots=True)
class RawMail:
    raw: bytes
    native_id: str  # stable per source: e.g. "INBOX/<uidvalidity>/<uid>" or "offset:1234"
    fallback_date: datetime | None = None  # IMAP INTERNALDATE, mbox From_ line date, file mtime
    folder: str | None = None
    labels: list[str] = field(default_factory=list)  # Gmail labels -> tags


def parse_raw(raw: RawMail, blobs: Any, now: datetime) -> ParsedMail | str:
    """One raw mail parsed, or the reason it is quarantined; raises only when the store fails.

    ``blobs`` takes the mail's blobs (a :class:`BlobWriter`, or anything with its put and
    put_stream). Runs in the importing process or in a parse worker process
    (:mod:`deskmove.mail.parseworker`).
    """
    try:
        parsed = parse_mail(raw.raw, blobs, fallback_date=raw.fallback_date, now=now)
    except MailParseError as exc:
        return str(exc)
    except DeskmoveError:
        raise  # the store itself failed (disk full): stop, nothing is lost
    except Exception as exc:  # noqa: BLE001 - a parser bug must not lose a mail
        return f"could not be parsed ({type(exc).__name__}: {str(exc)[:200]})"
    for name in strip_nul_fields(parsed):  # before any key is made from them
        parsed.notes.append(f"NUL characters stripped from the {name.replace('_', ' ')}")
    # folded here, in the worker processes, so the importing process only appends it
    parsed.folded = fold_message(parsed.subject or None, parsed.body_text, parsed.body_html)
    return parsed
