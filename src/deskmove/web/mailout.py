"""Replies out through the SMTP relay named in deskmove.toml's [smtp] section.

    [smtp]
    host = "smtp.example.com"
    port = 587
    tls = "starttls"            # "implicit" (port 465), "starttls" or "none"
    user = "support@example.com"
    password = { env = "DESKMOVE_SMTP_PASSWORD" }   # the default variable
    from = "Support <support@example.com>"          # default: the first support address
    timeout = 30                                    # seconds for connecting and each reply

A reply is built once, with its own Message-ID, In-Reply-To and References, and
sent with a deadline; whatever goes wrong comes back as :class:`SendFailed`
with a message for the agent (never the password).
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

from deskmove.errors import ConfigError

if TYPE_CHECKING:
    from deskmove.config import Project

TLS_MODES = ("implicit", "starttls", "none")
KNOWN_KEYS = {"host", "port", "tls", "user", "password", "from", "timeout"}


class SendFailed(Exception):
    """The relay did not take the reply; the message says why, for the draft."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: str
    user: str | None
    password_env: str
    sender: str
    timeout: float

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    def describe(self) -> dict[str, Any]:
        """What the settings page shows: everything but the password itself."""
        return {
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "user": self.user or "",
            "password": f"from ${self.password_env}"
            + ("" if os.environ.get(self.password_env) else " (not set)"),
            "from": self.sender,
            "timeout": self.timeout,
        }


def smtp_config(project: Project) -> SmtpConfig | None:
    """The [smtp] section, checked; None when there is none (replies then stay drafts)."""
    sec = project.section("smtp") if "smtp" in project.config else None
    if not sec:
        return None
    unknown = sorted(set(sec) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"[smtp] has an unknown key '{unknown[0]}'",
            f"valid keys are: {', '.join(sorted(KNOWN_KEYS))}",
        )
    host = sec.get("host")
    if not host or not isinstance(host, str):
        raise ConfigError("[smtp] has no host", 'add host = "smtp.example.com"')
    tls = str(sec.get("tls", "starttls"))
    if tls not in TLS_MODES:
        raise ConfigError(
            f"[smtp] tls = '{tls}' is not known", f"use one of: {', '.join(TLS_MODES)}"
        )
    default_port = {"implicit": 465, "starttls": 587, "none": 25}[tls]
    try:
        port = int(sec.get("port", default_port))
        timeout = float(sec.get("timeout", 30))
    except (TypeError, ValueError) as exc:
        raise ConfigError("[smtp] port and timeout must be numbers", "e.g. port = 587") from exc
    pw = sec.get("password")
    if pw is not None and not (isinstance(pw, dict) and "env" in pw):
        raise ConfigError(
            '[smtp] password must be a reference like { env = "NAME" }',
            "secrets are read from the environment; never write them in deskmove.toml",
        )
    password_env = str(pw["env"]) if pw else "DESKMOVE_SMTP_PASSWORD"
    sender = sec.get("from") or (
        project.support_addresses[0] if project.support_addresses else None
    )
    if not sender:
        raise ConfigError(
            "[smtp] has no from address and [mail] support_addresses is empty",
            'add from = "Support <support@example.com>" under [smtp]',
        )
    user = sec.get("user")
    return SmtpConfig(
        host, port, tls, str(user) if user else None, password_env, str(sender), timeout
    )


def new_message_id(config: SmtpConfig | None, fallback_domain: str = "deskmove.invalid") -> str:
    domain = config.sender_address.rpartition("@")[2] if config else fallback_domain
    return make_msgid(domain=domain or fallback_domain)


def build_reply(
    config: SmtpConfig,
    *,
    agent_name: str | None,
    to: list[str],
    cc: list[str],
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None,
    references: list[str],
) -> EmailMessage:
    msg = EmailMessage()
    name, addr = parseaddr(config.sender)
    msg["From"] = formataddr((agent_name or name or "", addr)) if (agent_name or name) else addr
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg["Auto-Submitted"] = "no"
    msg.set_content(body, charset="utf-8")
    return msg


def send(config: SmtpConfig, msg: EmailMessage) -> None:
    """Hand the message to the relay, within the configured deadline."""
    password = os.environ.get(config.password_env) if config.user else None
    if config.user and not password:
        raise SendFailed(
            f"the SMTP password is not set — set {config.password_env} for deskmove serve"
        )
    try:
        if config.tls == "implicit":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with client:
            if config.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.user:
                client.login(config.user, password or "")
            refused = client.send_message(msg)
            if refused:
                raise SendFailed(f"the relay refused {', '.join(sorted(refused))}")
    except smtplib.SMTPAuthenticationError as exc:
        raise SendFailed(f"the SMTP relay refused the login ({exc.smtp_code})") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendFailed(
            f"the relay refused the recipients {', '.join(sorted(exc.recipients))}"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise SendFailed(f"the relay said {exc.smtp_code} {text}") from exc
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        raise SendFailed(f"SMTP failed: {exc}") from exc
    except TimeoutError as exc:
        raise SendFailed(
            f"the SMTP relay {config.host}:{config.port} did not answer within {config.timeout:g} s"
        ) from exc
    except (OSError, socket.gaierror) as exc:
        raise SendFailed(
            f"cannot reach the SMTP relay {config.host}:{config.port}: {exc.strerror or exc}"
        ) from exc
