"""Address headers (From, To, Cc, Reply-To, Sender, Return-Path) to ``(name, email)`` pairs.

Read as mail clients read them, in one pass over the value (linear in its
length, whatever brackets, quotes or comments are left open):

- the address in angle brackets wins, so a display name that itself holds an
  ``@`` (``jan@shop.example via Helpdesk <noreply@helpdesk.example>``) stays
  the name;
- an unquoted comma inside an encoded word (``=?utf-8?Q?Nov=C3=A1k,_Jan?=``)
  does not split the entry;
- groups (``undisclosed-recipients:;``) and source routes are dropped, comments
  become the name when there is no other (``jan@example.cz (Jan Novák)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deskmove.mail.charsets import decode_header_value

MAX_HEADER = 1 << 20  # an address header longer than this is cut (with a note)
MAX_ADDRESSES = 10_000  # more recipients than this are cut (with a note)

# One plain "Name <addr>" or bare addr: most mail. Possessive quantifiers keep it linear.
_SIMPLE = re.compile(
    r'\s*+(?:([^"<>,;:()\\@]*+)<([^<>\s,;:()"\\@]++@[^<>\s,;:()"\\@]++)>'
    r'|([^<>\s,;:()"\\@]++@[^<>\s,;:()"\\@]++))\s*+'
)
_PLAIN = re.compile(r'[^"(<,;:=\\]+|[=\\]')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*+)"?', re.DOTALL)
_ENCODED = re.compile(r"=\?[^?\s]{1,80}\?[bBqQ]\?[^?]*\?=")
_AROUND_DOT = re.compile(r"\s*+([.@])\s*+")  # "jdoe@test   . example" is one address
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(slots=True)
class _Entry:
    phrase: list[str] = field(default_factory=list)  # top-level text, in order
    quoted: list[str] = field(default_factory=list)  # quoted strings among it
    comments: list[str] = field(default_factory=list)
    angle: str | None = None


def parse_addresses(values: list[str], notes: list[str] | None = None) -> list[tuple[str, str]]:
    """Every address in the header values, as ``(decoded name, lower-case email)``."""
    out: list[tuple[str, str]] = []
    for value in values:
        text = value.replace("\r", " ").replace("\n", " ")
        if len(text) > MAX_HEADER:
            _note(notes, f"an address header of {len(text):,} characters was cut")
            text = text[:MAX_HEADER]
        simple = _SIMPLE.fullmatch(text)
        if simple:
            if simple.group(2):
                out.append((decode_header_value(simple.group(1)).strip(), _email(simple.group(2))))
            else:
                out.append(("", _email(simple.group(3))))
            continue
        for entry in _entries(text):
            pair = _pair(entry)
            if pair is not None:
                out.append(pair)
    if len(out) > MAX_ADDRESSES:
        _note(notes, f"{len(out):,} addresses in one header; kept the first {MAX_ADDRESSES:,}")
        out = out[:MAX_ADDRESSES]
    return out


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None and text not in notes:
        notes.append(text)


def _entries(s: str) -> list[_Entry]:
    """Split an address list at top-level commas, reading quotes, comments and brackets once."""
    entries: list[_Entry] = []
    cur = _Entry()
    i, n = 0, len(s)
    no_gt_after = n + 1  # once no ">" follows some position, none follows any later one
    while i < n:
        c = s[i]
        if c == '"':
            m = _QUOTED.match(s, i)
            assert m is not None  # the pattern matches any string starting with a quote
            inner = _ESCAPE.sub(r"\1", m.group(1))
            cur.phrase.append(inner)
            cur.quoted.append(inner)
            i = m.end()
        elif c == "(":
            i = _comment(s, i, cur)
        elif c == "<":
            j = s.find(">", i + 1) if i < no_gt_after else -1
            if j == -1:
                no_gt_after = min(no_gt_after, i)
                j = n
            cur.angle = s[i + 1 : j]
            i = j + 1
        elif c in ",;":
            entries.append(cur)
            cur = _Entry()
            i += 1
        elif c == ":":  # "Group name:" - the name is not an address
            cur = _Entry()
            i += 1
        else:
            m = _ENCODED.match(s, i) if c == "=" else None
            m = m or _PLAIN.match(s, i)
            assert m is not None
            cur.phrase.append(m.group())
            i = m.end()
    entries.append(cur)
    return entries


def _comment(s: str, i: int, cur: _Entry) -> int:
    depth, j, n = 0, i, len(s)
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                break
        j += 1
    cur.comments.append(s[i + 1 : min(j, n)].strip())
    return j + 1


def _pair(entry: _Entry) -> tuple[str, str] | None:
    phrase = "".join(entry.phrase)
    if entry.angle is not None:
        angle = _without_comments(entry.angle) if "(" in entry.angle else entry.angle
        addr = angle.rpartition(":")[2]  # drop a source route "@a,@b:"
        name = phrase
    else:
        unquoted = "".join(p for p in entry.phrase if p not in entry.quoted)
        tokens = _join_address_atoms(unquoted).split() or phrase.split()
        hits = [t for t in tokens if "@" in t]
        if not hits:
            hits = [q.strip() for q in entry.quoted if "@" in q and " " not in q.strip()]
            tokens = []
        if not hits:
            return None
        addr = hits[-1]
        name = " ".join(t for t in tokens if t is not addr)
    email = _email(addr)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        return None
    name = decode_header_value(name).strip().strip('"').strip()
    if not name and entry.comments:
        name = decode_header_value(entry.comments[0]).strip()
    return name, email


def _join_address_atoms(text: str) -> str:
    """Spaces around dots in the address part go (``jdoe@test . example``), not in the name."""
    at = text.find("@")
    if at == -1:
        return text
    start = max(text.rfind(" ", 0, at), text.rfind("\t", 0, at)) + 1
    return text[:start] + _AROUND_DOT.sub(r"\1", text[start:])


def _without_comments(text: str) -> str:
    """``pete(his account)@silly.test(his host)`` → ``pete@silly.test``."""
    out, depth = [], 0
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(c)
    return "".join(out)


def _email(addr: str) -> str:
    text = "".join(decode_header_value(addr).split()).strip("<>\"'").lower()
    if not text.isascii():
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text
