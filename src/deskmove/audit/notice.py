"""What customers will notice at the switch, and a draft notice to send them."""

from __future__ import annotations

from typing import Any

from deskmove.audit.evidence import Item
from deskmove.audit.formats import days as days_text


def customer_impact(
    items: list[Item], activity: dict[str, Any], window: dict[str, Any] | None, rest_source: bool
) -> dict[str, Any]:
    """Points customers will notice, built from the channels found, and a draft notice."""
    emails = [i.id.partition(":")[2] for i in items if i.section == "emails"]
    forms = [i for i in items if i.section == "forms"]
    phones = [i.title.split(" (")[0] for i in items if i.id.startswith("phone:+")]
    chats = [i for i in items if i.section == "chat-social"]
    days = activity["delta_window_days"]
    points = []
    if emails:
        points.append(
            f"Replies to old threads still go to {_join(emails)}: keep these addresses delivering "
            f"to the new helpdesk — at least {days_text(days)} after the switch (90% of conversations end "
            "within that time), better for good."
        )
    points.append(
        "Ticket numbers change: the new helpdesk gives new numbers; customers quoting an old "
        "number are found through the original id deskmove keeps with every ticket."
    )
    points.append(
        "Automatic replies and notifications look different (sender name, wording, layout); "
        "set up the new helpdesk's templates before the switch."
    )
    if rest_source:
        points.append(
            "Links to the old helpdesk's portal (ticket links in old e-mails, help-center "
            "articles) stop working unless they are redirected."
        )
    if forms:
        points.append(
            "Contact-form submissions must reach the new helpdesk: change each form's recipient."
        )
    if phones:
        points.append(
            f"Phone numbers stay the same ({_join(phones)}) if the lines are routed, not replaced."
        )
    if chats:
        points.append(
            "The chat widget or social inbox changes owner: conversations open at the switch may restart."
        )
    return {"points": points, "draft": _draft(emails, phones, window)}


def _draft(emails: list[str], phones: list[str], window: dict[str, Any] | None) -> str:
    when = (
        f"on [DATE], {window['start'].split(' ')[1]}–{window['end'].split(' ')[1]} "
        f"({window['start'].split(' ')[0]})"
        if window
        else "on [DATE] at [TIME]"
    )
    contact = _join(emails) if emails else "[SUPPORT ADDRESS]"
    lines = [
        "Subject: Our customer support is moving to a new system",
        "",
        "Dear customer,",
        "",
        f"{when[0].upper()}{when[1:]} we are moving our customer support to a new system, so that we can "
        "answer you faster. You do not need to do anything:",
        "",
        f"- You can keep writing to {contact}, and replies to earlier messages still reach us.",
    ]
    if phones:
        lines.append(f"- Our phone numbers stay the same: {_join(phones)}.")
    lines += [
        "- Your ticket history moves with us; new replies may carry a new ticket number.",
        "- During the switch, answers may take a little longer.",
        "",
        "Thank you for your patience,",
        "[TEAM NAME]",
    ]
    return "\n".join(lines)


def _join(values: list[str]) -> str:
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]
