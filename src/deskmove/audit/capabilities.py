"""What each adapter family can export and import, and what is lost on the way.

What a *target* loses is not written here: each target declares what of the
store it writes (``Target.carried``, over ``deskmove.targets.base.CONTENT``) and
the rest is listed as lost, so the plan follows the code. This table keeps the
sources' side and the vendors' caveats that are not a missing field (``import_notes``:
what Zendesk's Ticket Import API and Freshdesk's API v2 do on their own).
"""

from __future__ import annotations

from typing import Any

from deskmove.config import Project
from deskmove.errors import DeskmoveError

_MAIL_EXPORTS = [
    "every message with its original date, sender's UTC offset, To/Cc and threading headers",
    "the raw original mail (kept in the blob store)",
    "attachments and inline images",
    "conversations rebuilt from Message-ID / In-Reply-To / References",
]
_MAIL_LOST = [
    "no status, priority, assignee, group or tags: mail has none",
    "internal notes do not exist in mail",
]

# exports / export_lost: reading from it; imports / import_lost: writing to it.
CAPABILITIES: dict[str, dict[str, Any]] = {
    "csv": {
        "label": "CSV (canonical layout)",
        "source": True,
        "target": True,
        "exports": [
            "tickets with status, priority, type, channel, tags, custom fields, dates",
            "messages (text and HTML) with author, direction, public/internal",
            "people with name, role, organization, phone",
            "attachments (files beside the CSV)",
        ],
        "export_lost": [
            "a helpdesk's own CSV export (read through a mapping) has no To/Cc, "
            "threading headers or mail headers, so the channel audit sees less; the "
            "canonical layout keeps them"
        ],
        "imports": ["everything the canonical layout holds, read back without loss"],
        "import_notes": [],
    },
    "mbox": {
        "label": "mbox file",
        "source": True,
        "target": True,
        "exports": _MAIL_EXPORTS,
        "export_lost": _MAIL_LOST,
        "imports": [],
        "import_notes": [],
    },
    "maildir": {
        "label": "Maildir / .eml folder",
        "source": True,
        "target": False,
        "exports": _MAIL_EXPORTS + ["the folder each message was in"],
        "export_lost": _MAIL_LOST,
        "imports": [],
        "import_notes": [],
    },
    "imap": {
        "label": "IMAP mailbox (read-only)",
        "source": True,
        "target": False,
        "exports": _MAIL_EXPORTS
        + ["the IMAP folder of each message; new mail by UID for delta sync"],
        "export_lost": _MAIL_LOST + ["flags (read, answered) are not carried over"],
        "imports": [],
        "import_notes": [],
    },
    "zendesk": {
        "label": "Zendesk-style REST API",
        "source": True,
        "target": True,
        "exports": [
            "tickets with status, priority, type, tags, custom fields, via channel",
            "public comments and internal notes with authors and dates",
            "users (several identities), organizations, groups",
            "attachments",
        ],
        "export_lost": [
            "configuration (triggers, macros, views, SLAs) is not part of the history",
            "satisfaction ratings and side conversations are not read",
            "the raw mail of e-mail tickets",
        ],
        "imports": [
            "tickets through the Ticket Import API: created_at, updated_at, solved_at and each "
            "comment's created_at are kept",
            "comments with author and public/internal flag",
            "attachments (uploaded first, then linked)",
            "users, organizations, groups",
        ],
        "import_notes": [
            "the original channel: imported tickets show as created through the API",
            "dates before 1970 are raised to 1970",
            "triggers may run on imported tickets that are not closed: import them closed or "
            "turn customer-facing triggers off during the import",
        ],
    },
    "freshdesk": {
        "label": "Freshdesk REST API v2",
        "source": True,
        "target": True,
        "exports": [
            "tickets with status, priority, source channel, tags, custom fields",
            "conversations (replies and private notes) with authors and dates",
            "contacts, companies, groups",
            "attachments",
        ],
        "export_lost": [
            "configuration (automations, canned responses) is not part of the history",
            "the raw mail of e-mail tickets",
        ],
        "imports": ["tickets, replies and notes, contacts, companies, attachments"],
        "import_notes": [
            "the public API stamps tickets and replies with the time of the call: "
            "deskmove writes the original date and author at the top of each text",
            "automations and e-mail notifications can fire on API-created tickets: turn "
            "them off for the import",
        ],
    },
}
ALIASES = {"imaps": "imap", "eml": "maildir"}


def scheme_of(project: Project, connection: str) -> str | None:
    """The adapter family behind a store connection name or spec."""
    try:
        scheme = project.connection(connection).scheme
    except DeskmoveError:
        scheme = connection.partition(":")[0].lower() if ":" in connection else None
    return ALIASES.get(scheme or "", scheme)


def capabilities(project: Project, sources: list[str]) -> dict[str, Any]:
    """The sources the store was filled from, the configured targets, and the full table."""
    used = [{"connection": c, "scheme": scheme_of(project, c)} for c in sources]
    sync = project.section("sync")
    targets = [{"connection": c, "scheme": scheme_of(project, c)} for c in sync.get("targets", [])]
    for entry in used + targets:
        entry.update(CAPABILITIES.get(entry["scheme"] or "", {"label": "unknown adapter"}))
    for entry in targets:
        entry["import_lost"] = _target_losses(project, entry["connection"], entry)
    return {"sources": used, "targets": targets, "table": _with_installed(project)}


def _target_losses(project: Project, name_or_spec: str, row: dict[str, Any]) -> list[str]:
    """What the target writes decides what is lost; then the vendor's own caveats."""
    from deskmove.registry import target_for

    try:
        target = target_for(project.connection(name_or_spec), project)
    except DeskmoveError as exc:
        return [f"not known: the target cannot be set up ({exc.message})"]
    lost = [f"{words}: not written by this target" for words in target.lost()]
    return lost + list(row.get("import_notes", []))


def _example_spec(scheme: str, rest: set[str]) -> str:
    return f"{scheme}://example" if scheme in rest else f"{scheme}:/nonexistent/{scheme}"


def _with_installed(project: Project) -> dict[str, dict[str, Any]]:
    """The table, with whether this deskmove has each side installed, and for each
    installed target what it does not write."""
    from deskmove.registry import SOURCES, TARGETS, rest_specs

    rest = set(rest_specs())
    table = {}
    for scheme, row in CAPABILITIES.items():
        names = {scheme} | {a for a, s in ALIASES.items() if s == scheme}
        target = bool(names & (set(TARGETS) | rest))
        table[scheme] = {
            **row,
            "target": target,
            "source_installed": bool(names & (set(SOURCES) | rest)),
            "target_installed": target,
            "import_lost": _target_losses(project, _example_spec(scheme, rest), row)
            if target
            else [],
        }
    return table
