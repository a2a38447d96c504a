"""Login and logout, the agent's own settings, the metrics page, and the admins' pages."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from deskmove.errors import UsageError
from deskmove.model import utcnow
from deskmove.store import workspace as ws
from deskmove.store.engine import redact_url
from deskmove.web import auth, i18n, metrics
from deskmove.web.app import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    error_page,
    language,
    new_token,
    page,
    require_admin,
    settings_of,
    store_of,
)

public = APIRouter()
router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/tickets"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(request: Request, status: int = 200, **extra: object) -> Response:
    token = new_token()
    response = page(
        request,
        "login.html",
        status,
        login_csrf=token,
        next=_safe_next(request.query_params.get("next")),
        **extra,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        max_age=3600,
        path="/login",
    )
    return response


@public.get("/login")
def login_page(request: Request) -> Response:
    return _login_form(request)


@public.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/tickets",
) -> Response:
    store = store_of(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf or not cookie or not hmac.compare_digest(csrf, cookie):
        return _login_form(
            request,
            403,
            error="The form's security token is missing or stale: try again.",
            email=email,
        )
    email = email.strip().lower()
    keys = [f"email:{email}", f"ip:{_client(request)}"]
    wait = ws.login_wait(store, keys)
    if wait:
        response = _login_form(
            request,
            429,
            error="Too many failed logins. Wait {minutes} minutes and try again.",
            minutes=max(1, (wait + 59) // 60),
            email=email,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    found = ws.password_hash_of(store, email) if email else None
    ok = auth.verify_password(found[1] if found else auth.dummy_hash(), password)
    if not (found and ok):
        ws.login_failed(store, keys)
        return _login_form(request, 401, error="Wrong e-mail or password.", email=email)
    ws.login_succeeded(store, keys)
    if auth.needs_rehash(found[1]):
        ws.set_password_hash(store, found[0], auth.hash_password(password))
    token, _csrf = ws.create_session(store, found[0])
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=int(ws.SESSION_MAX.total_seconds()),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    ws.end_session(store_of(request), request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/tickets", status_code=303)


# -- the agent's own settings -----------------------------------------------------------
@router.get("/settings")
def my_settings(request: Request, saved: str = "") -> Response:
    return page(request, "settings.html", zones=_zones(), saved=saved)


def _zones() -> list[str]:
    return sorted(
        z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))
    )


@router.post("/settings")
def save_settings(
    request: Request,
    language: Annotated[str, Form(max_length=10)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    store = store_of(request)
    user = request.state.user
    if language and language not in i18n.LANGUAGES:
        raise UsageError(
            f"unknown language '{language}'", f"choose one of: {', '.join(i18n.LANGUAGES)}"
        )
    if timezone and timezone not in available_timezones():
        raise UsageError(f"unknown time zone '{timezone}'", "choose one from the list")
    ws.set_preferences(store, user.id, language=language, timezone=timezone)
    if new_password:
        found = ws.password_hash_of(store, user.email)
        if not found or not auth.verify_password(found[1], password):
            return error_page(
                request, 400, "The form is not right.", "The current password is wrong."
            )
        ws.set_password_hash(store, user.id, auth.hash_password(new_password))
    return RedirectResponse("/settings?saved=1", status_code=303)


# -- metrics ------------------------------------------------------------------------
@router.get("/metrics")
def metrics_page(request: Request, weeks: int = 12) -> Response:
    weeks = max(1, min(weeks, 104))
    since = utcnow() - timedelta(weeks=weeks)
    data = metrics.compute(store_of(request), since, weeks)
    _ = i18n.translations(language(request)).gettext
    week = [w["label"] for w in data.weeks]
    charts = [
        (_("Backlog by status"), [(_(s), n) for s, n in data.backlog_status], ""),
        (_("Backlog by age"), data.backlog_age, ""),
        (
            _("New tickets per week"),
            list(zip(week, [w["created"] for w in data.weeks], strict=True)),
            "",
        ),
        (
            _("Median first response per week (hours)"),
            list(zip(week, [w["first_h"] for w in data.weeks], strict=True)),
            " h",
        ),
        (
            _("Median resolution per week (hours)"),
            list(zip(week, [w["res_h"] for w in data.weeks], strict=True)),
            " h",
        ),
    ]
    svgs = [(title, metrics.bar_chart(items, title, unit)) for title, items, unit in charts]
    return page(request, "metrics.html", m=data, weeks=weeks, charts=svgs)


# -- admins -----------------------------------------------------------------------------
@router.get("/admin/users")
def users_page(
    request: Request, _admin: Annotated[ws.Account, Depends(require_admin)], error: str = ""
) -> Response:
    return page(request, "admin_users.html", users=ws.list_users(store_of(request)), error=error)


@router.post("/admin/users")
def users_add(
    request: Request,
    _admin: Annotated[ws.Account, Depends(require_admin)],
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form(max_length=10)] = "agent",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ws.add_user(
        store_of(request),
        email=email,
        password_hash=auth.hash_password(password),
        role=role,
        name=name or None,
    )
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/remove")
def users_remove(
    request: Request,
    admin: Annotated[ws.Account, Depends(require_admin)],
    email: Annotated[str, Form(max_length=320)],
) -> Response:
    if email.strip().lower() == admin.email:
        raise UsageError(
            "you cannot remove your own account",
            "ask another admin, or use `deskmove users remove`",
        )
    ws.remove_user(store_of(request), email)
    settings_of(request).forget()
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/settings")
def admin_settings(
    request: Request, _admin: Annotated[ws.Account, Depends(require_admin)]
) -> Response:
    s = settings_of(request)
    return page(
        request,
        "admin_settings.html",
        smtp=s.smtp.describe() if s.smtp else None,
        store_url=redact_url(s.project.store_url),
        root=str(s.project.root),
    )
