"""Run the audit: collect, build the checklist and plan, apply the consultant's ticks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from deskmove.audit import checklist, plan, quality
from deskmove.audit.capabilities import capabilities
from deskmove.audit.checks import apply_checks, set_check
from deskmove.audit.evidence import NOT_SEEN, SECTIONS, Evidence, Item, Report
from deskmove.audit.formats import FORMATS, render
from deskmove.audit.known import load_known_senders
from deskmove.audit.notice import customer_impact
from deskmove.audit.parallel import ParallelScan
from deskmove.audit.phones import infer_region
from deskmove.audit.scan import Context, load_context
from deskmove.config import Project
from deskmove.errors import ConfigError
from deskmove.gcpause import fewer_collections
from deskmove.store import Store
from deskmove.store.audit import AuditQueries

__all__ = [
    "FORMATS",
    "NOT_SEEN",
    "SECTIONS",
    "Evidence",
    "Item",
    "Report",
    "check",
    "render",
    "run_audit",
]


def run_audit(project: Project, store: Store, *, now: datetime | None = None) -> Report:
    """Read the store and build the checklist and plan (with saved ticks and notes)."""
    now = now or datetime.now(UTC)
    with store.audit() as db, fewer_collections():
        ctx = _context(project, db)
        # Workers scan the later messages (on a big store) while this process scans the
        # first ones and then runs the plan's queries.
        scan = ParallelScan(db, ctx).start()
        try:
            sources = db.source_connections()
            activity = plan.activity(db, now, project.root)
            heat = plan.heatmap(db)
            volume = plan.volume(db)
            data_quality = quality.quality(db, max(now, datetime.now(UTC)))
            found = scan.finish()
        finally:
            scan.close()
        sections, items, extras = checklist.build(db, ctx, found)
        report = Report(
            project=str(project.root),
            generated_at=now,
            sections=sections,
            items=items,
            extras=extras,
            plan={
                "volume": volume,
                "quality": data_quality,
                "capabilities": capabilities(project, sources),
                "activity": activity,
                "cutover": heat,
            },
        )
        rest = any(
            s["scheme"] in ("zendesk", "freshdesk") for s in report.plan["capabilities"]["sources"]
        )
        report.plan["customers"] = customer_impact(items, activity, heat["window"], rest)
        apply_checks(db, report)
    return report


def check(
    project: Project, store: Store, item_id: str, *, checked: bool = True, note: str | None = None
) -> Item:
    """Tick (or untick) one checklist item, with an optional note; returns the item."""
    report = run_audit(project, store)
    with store.audit() as db:
        return set_check(db, report, item_id, checked=checked, note=note)


def _context(project: Project, db: AuditQueries) -> Context:
    settings = project.section("audit")
    extra = settings.get("known_senders")
    if extra is not None and not isinstance(extra, str):
        raise ConfigError("[audit] known_senders must be a path", 'write known_senders = "my.yaml"')
    known = load_known_senders(project.root / extra if extra else None)
    ctx = Context(
        support_addresses=set(project.support_addresses),
        support_domains=set(project.support_domains),
        known=known,
        region=None,
    )
    load_context(db, ctx)
    ctx.region = _region(settings, ctx, db)
    return ctx


def _region(settings: dict, ctx: Context, db: AuditQueries) -> str | None:
    """[audit] region, else the country the team's own domains (or most people's) suggest."""
    import phonenumbers

    region = settings.get("region")
    if region:
        region = str(region).upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(
                f"[audit] region = '{region}' is not a country code",
                "use a two-letter code such as CZ, PL or RU",
            )
        return region
    own = list(ctx.support_domains) + [a.rpartition("@")[2] for a in ctx.support_addresses]
    own += [e.rpartition("@")[2] for pid in ctx.agents for e in ctx.emails.get(pid, [])]
    if infer_region(own):
        return infer_region(own)
    return infer_region(addr.rpartition("@")[2] for addr in db.some_addresses(20000))


SUFFIXES = {
    "md": "md",
    "markdown": "md",
    "htm": "html",
    "html": "html",
    "json": "json",
    "pdf": "pdf",
}


def default_format(out: Path | None) -> str:
    """The format an output file's suffix asks for (Markdown without --out); a suffix
    that names no format is refused rather than filled with Markdown."""
    if out is None:
        return "md"
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in SUFFIXES:
        from deskmove.errors import UsageError

        raise UsageError(
            f"cannot tell the format from --out {out.name}",
            "end it in .md, .html, .json or .pdf, or add --format md|html|json|pdf",
        )
    return SUFFIXES[suffix]
