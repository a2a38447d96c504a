"""The IMAP wire layer under :mod:`deskmove.sources.imap`: a read-only imaplib client.

Only read-only commands are ever sent: LOGIN/AUTHENTICATE, LIST, STATUS, EXAMINE
and ``UID FETCH`` of ``BODY.PEEK[…]``, ``RFC822.SIZE``, ``INTERNALDATE`` — never
SELECT, STORE, COPY, MOVE, EXPUNGE or a non-PEEK body fetch, so no flag on the
server changes (``\\Seen`` included). Every socket wait is bounded by
``timeout``; every failure becomes a :mod:`deskmove.errors` class that names the
server and never the password.
"""

from __future__ import annotations

import base64
import imaplib
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from deskmove.errors import (
    AuthError,
    FatalRemoteError,
    RemoteUnavailable,
    RetriableError,
    UsageError,
)

# imaplib refuses lines over 1 MB; a FETCH of a large folder's sizes or a long
# header line is bigger than that. Literals (message bodies) are read by size.
imaplib._MAXLINE = max(imaplib._MAXLINE, 64 * 1024 * 1024)

TLS_MODES = ("implicit", "starttls", "none")
FINGERPRINT_FIELDS = ("MESSAGE-ID", "DATE", "FROM", "SUBJECT")


# -- modified UTF-7 (RFC 3501 5.1.3) ---------------------------------------------------
def encode_mailbox(name: str) -> str:
    """``Čeština`` -> ``&AQw-e&AWE-tina``: the wire form of a folder name."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            b64 = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + b64.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_mailbox(wire: str) -> str:
    """The reverse of :func:`encode_mailbox`; a malformed name is returned unchanged."""

    def one(m: re.Match[str]) -> str:
        chunk = m.group(1)
        if not chunk:
            return "&"
        b64 = chunk.replace(",", "/")
        try:
            return base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return m.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", one, wire)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- parsing ----------------------------------------------------------------------------
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"'
)
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_STATUS_ITEM = re.compile(rb"([A-Z]+) (\d+)")
_LIST = re.compile(rb'\((?P<flags>[^)]*)\) (?P<delim>"(?:\\.|[^"])*"|NIL) (?P<name>.*)$')


def parse_internaldate(meta: bytes) -> datetime | None:
    m = _INTERNALDATE.search(meta)
    if not m:
        return None
    day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
    month = _MONTHS.get(mon.decode().title())
    if month is None:
        return None
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == b"-" else 1)
    try:
        local = datetime(int(year), month, int(day), int(hh), int(mm), int(ss))
    except ValueError:
        return None
    return local.replace(tzinfo=timezone(offset)).astimezone(UTC)


def _unquote(token: bytes) -> str:
    token = token.strip()
    if token.startswith(b'"') and token.endswith(b'"'):
        token = re.sub(rb"\\(.)", rb"\1", token[1:-1])
    return token.decode("utf-8", "replace")


@dataclass(slots=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int
    messages: int
    highestmodseq: int | None = None


@dataclass(slots=True)
class Fetched:
    uid: int
    size: int
    internaldate: datetime | None
    data: bytes  # the whole message (BODY[]) or the fingerprint header fields


@dataclass(slots=True)
class Folder:
    name: str  # decoded
    flags: frozenset[str]


# -- the client -------------------------------------------------------------------------
class ImapClient:
    """One logged-in, read-only IMAP session."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: str,
        timeout: float = 60.0,
        cafile: str | None = None,
    ) -> None:
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self.cafile = cafile
        self.where = f"{host}:{port}"
        self.imap: imaplib.IMAP4 | None = None
        self.capabilities: set[str] = set()

    # connection ---------------------------------------------------------------------
    def connect(self) -> None:
        try:
            self._connect()
        except BaseException:
            if self.imap is not None:  # a half-open session (e.g. STARTTLS refused)
                imap, self.imap = self.imap, None
                try:
                    imap.shutdown()
                except OSError:
                    pass
            raise

    def _context(self) -> ssl.SSLContext | None:
        if self.tls == "none":
            return None
        try:
            return ssl.create_default_context(cafile=self.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"cannot read the CA file {self.cafile} ({_reason(exc)})",
                "name a PEM file with the server's CA certificate in ?cafile=PATH",
            ) from exc

    def _connect(self) -> None:
        ctx = self._context()
        try:
            if self.tls == "implicit":
                self.imap = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=ctx, timeout=self.timeout
                )
            else:
                self.imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
                if self.tls == "starttls":
                    self._starttls(ctx)
        except ssl.SSLCertVerificationError as exc:
            raise FatalRemoteError(
                f"the TLS certificate of {self.where} is not trusted ({exc.verify_message})",
                "install the server's CA on this machine or name it with ?cafile=PATH",
            ) from exc
        except ssl.SSLError as exc:
            raise FatalRemoteError(
                f"the TLS handshake with {self.where} failed ({exc.reason or exc})",
                "check the port and ?tls=: implicit TLS is usually port 993, STARTTLS port 143",
            ) from exc
        except TimeoutError as exc:
            raise RemoteUnavailable(
                f"{self.where} did not answer within {self.timeout:g}s",
                "check the host and port (and ?tls=: a TLS port waits silently for a plain client)",
            ) from exc
        except (OSError, EOFError, imaplib.IMAP4.error) as exc:
            raise RemoteUnavailable(
                f"cannot reach the IMAP server {self.where} ({_reason(exc)})",
                "check the host and port, and that the server is up; then run again",
            ) from exc
        self.capabilities = {c.upper() for c in self.imap.capabilities}

    def _starttls(self, ctx: ssl.SSLContext | None) -> None:
        assert self.imap is not None
        if "STARTTLS" not in self.imap.capabilities:
            raise FatalRemoteError(
                f"{self.where} does not offer STARTTLS",
                "use ?tls=implicit (usually port 993), or ?tls=none on a trusted network only",
            )
        self.imap.starttls(ssl_context=ctx)

    def login(self, user: str, password: str, variable: str) -> None:
        assert self.imap is not None
        if "LOGINDISABLED" in self.capabilities and "AUTH=PLAIN" not in self.capabilities:
            raise FatalRemoteError(
                f"{self.where} accepts no password over an unencrypted connection",
                "use ?tls=starttls (port 143) or ?tls=implicit (port 993)",
            )
        try:
            if "AUTH=PLAIN" in self.capabilities:
                cred = b"\0" + user.encode() + b"\0" + password.encode()
                self.imap.authenticate("PLAIN", lambda _: cred)
            else:
                self.imap._encoding = "utf-8"  # LOGIN with a non-ASCII password
                self.imap.login(user, password)
        except imaplib.IMAP4.abort as exc:
            raise self._lost("logging in", exc) from exc
        except imaplib.IMAP4.error:
            raise AuthError(
                f"the IMAP server {self.where} refused the login for {user}",
                f"check the user and the password in {variable}",
            ) from None
        except OSError as exc:
            raise self._lost("logging in", exc) from exc
        with self._wire("reading the capabilities") as imap:
            _, code = imap.response("CAPABILITY")  # sent with the login's OK, mostly
            if not code or code[0] is None:
                _, code = imap.capability()
        self.capabilities = set(code[-1].decode("ascii", "replace").upper().split())

    def close(self) -> None:
        if self.imap is None:
            return
        imap, self.imap = self.imap, None
        try:
            imap.logout()
        except (OSError, EOFError, imaplib.IMAP4.error):
            try:
                imap.shutdown()
            except OSError:
                pass

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.capabilities or "QRESYNC" in self.capabilities

    def _lost(self, doing: str, exc: BaseException) -> RetriableError:
        return RetriableError(
            f"lost the connection to {self.where} while {doing} ({_reason(exc)})",
            "what was imported so far is kept; run the same command again to continue",
        )

    @contextmanager
    def _wire(self, doing: str) -> Iterator[imaplib.IMAP4]:
        """The session, with network failures turned into a :class:`RetriableError`."""
        if self.imap is None:
            raise RetriableError(f"no connection to {self.where}", "run again")
        try:
            yield self.imap
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            imap, self.imap = self.imap, None
            try:
                imap.shutdown()
            except OSError:
                pass
            raise self._lost(doing, exc) from exc
        except imaplib.IMAP4.error as exc:  # a BAD answer: the server will not do it
            raise FatalRemoteError(
                f"{self.where} rejected a command while {doing} ({_reason(exc)})",
                "check the server's log; please report this if the server is standard",
            ) from exc

    # folders --------------------------------------------------------------------------
    def folders(self) -> list[Folder]:
        with self._wire("listing folders") as imap:
            typ, data = imap.list('""', "*")
        out = []
        for item in data if typ == "OK" else []:
            if isinstance(item, tuple):  # the name came as a literal
                m, name = _LIST.match(item[0].rstrip(b"{0123456789}").rstrip()), item[1]
                raw = name.decode("utf-8", "replace")
            else:
                m = _LIST.match(item or b"")
                raw = _unquote(m.group("name")) if m else ""
            if m and raw:
                flags = frozenset(f.decode().lower() for f in m.group("flags").split())
                out.append(Folder(decode_mailbox(raw), flags))
        return out

    def status(self, folder: str) -> FolderStatus | None:
        """STATUS of a folder, or None when it does not exist."""
        items = "UIDVALIDITY UIDNEXT MESSAGES" + (" HIGHESTMODSEQ" if self.condstore else "")
        with self._wire(f"reading the status of {folder}") as imap:
            typ, data = imap.status(quote(encode_mailbox(folder)), f"({items})")
        if typ != "OK" or not data or data[0] is None:
            return None
        line = data[-1] if isinstance(data[-1], bytes) else b" ".join(data[-1])
        values = {k.decode(): int(v) for k, v in _STATUS_ITEM.findall(line.rpartition(b"(")[2])}
        return FolderStatus(
            values.get("UIDVALIDITY", 0),
            values.get("UIDNEXT", 0),
            values.get("MESSAGES", 0),
            values.get("HIGHESTMODSEQ"),
        )

    def examine(self, folder: str) -> int:
        """Open a folder read-only (EXAMINE); returns its UIDVALIDITY."""
        with self._wire(f"opening {folder}") as imap:
            typ, data = imap.select(quote(encode_mailbox(folder)), readonly=True)
            if typ != "OK":
                raise RetriableError(
                    f"{self.where} would not open {folder} read-only ({_text(data)})",
                    "run again; if it persists, check the folder on the server",
                )
            _, value = imap.response("UIDVALIDITY")
        return int(value[0]) if value and value[0] else 0

    # fetching -------------------------------------------------------------------------
    def uid_sizes(self, folder: str, after: int) -> list[tuple[int, int]]:
        """(uid, RFC822.SIZE) of every message with a UID above ``after``, in UID order."""
        out = [(f.uid, f.size) for f in self._fetch(folder, f"{after + 1}:*", "(UID RFC822.SIZE)")]
        return sorted(x for x in out if x[0] > after)  # `N:*` may return the last UID

    def fetch_bodies(self, folder: str, first: int, last: int) -> list[Fetched]:
        items = "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])"
        return self._fetch(folder, f"{first}:{last}", items)

    def fetch_fingerprints(self, folder: str, first: int, last: int) -> list[Fetched]:
        items = f"(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({' '.join(FINGERPRINT_FIELDS)})])"
        return self._fetch(folder, f"{first}:{last}", items)

    def _fetch(self, folder: str, uids: str, items: str) -> list[Fetched]:
        with self._wire(f"fetching {folder} (UIDs {uids})") as imap:
            typ, data = imap.uid("FETCH", uids, items)
        if typ != "OK":
            raise RetriableError(
                f"{self.where} refused to fetch {folder} (UIDs {uids}): {_text(data)}",
                "run again; if it persists, check the server's log",
            )
        return list(_parse_fetch(data))


def _parse_fetch(data: list) -> Iterator[Fetched]:
    """imaplib's FETCH data: ``(meta, literal)`` tuples, each followed by a closing ``b')…'``."""
    i, n = 0, len(data)
    while i < n:
        item = data[i]
        i += 1
        if isinstance(item, tuple):
            meta, body = item[0], item[1]
            if i < n and isinstance(data[i], bytes):  # items sent after the literal
                meta, i = meta + b" " + data[i], i + 1
        elif isinstance(item, bytes):
            meta, body = item, b""
        else:
            continue
        uid, size = _UID.search(meta), _SIZE.search(meta)
        if uid is None:
            continue  # an unsolicited FETCH (e.g. another client's flag change)
        date = parse_internaldate(meta) if b"INTERNALDATE" in meta else None
        yield Fetched(int(uid.group(1)), int(size.group(1)) if size else len(body), date, body)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _text(data: list) -> str:
    parts = [d.decode("utf-8", "replace") for d in data or [] if isinstance(d, bytes)]
    return " ".join(parts)[:200] or "no reason given"
