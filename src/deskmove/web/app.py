"""The workspace application: security headers, sessions, CSRF, languages, error pages.

``create_app(project)`` builds the FastAPI app; ``factory()`` is what uvicorn's
workers import (the project folder comes from ``DESKMOVE_SERVE_PROJECT``).
Every route but the login page and the static files requires a session; every
POST requires the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from deskmove.config import Project
from deskmove.errors import DeskmoveError, StoreError, UsageError
from deskmove.store import Store, worklist
from deskmove.store import workspace as ws
from deskmove.web import i18n, render
from deskmove.web.mailout import SmtpConfig, smtp_config

HERE = Path(__file__).parent
SESSION_COOKIE = "deskmove_session"
LOGIN_CSRF_COOKIE = "deskmove_login"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Pages: nothing but our own script and styles; no frames of others, no inline script.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
# A mail body (inside a sandboxed frame): no script at all, images only from us unless asked.
BODY_CSP = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:{remote}; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'; sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox"
)


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, scripts get 401."""


class Forbidden(Exception):
    pass


@dataclass
class Settings:
    project: Project
    store: Store
    smtp: SmtpConfig | None
    presence_seconds: float = 5.0
    counts: worklist.CountCache = field(default_factory=worklist.CountCache)
    _cache: dict[str, tuple[float, Any]] = field(default_factory=dict)

    def cached(self, key: str, fn: Any, ttl: float = 30.0) -> Any:
        """Pickers' contents (agents, groups, channels, sources) are read at most every ``ttl`` s."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or now - hit[0] > ttl:
            hit = (now, fn())
            self._cache[key] = hit
        return hit[1]

    def forget(self) -> None:
        self._cache.clear()


def _static_version() -> str:
    h = hashlib.sha256()
    for p in sorted((HERE / "static").glob("*")):
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


def create_app(
    project: Project,
    store: Store | None = None,
    *,
    presence_seconds: float = 5.0,
    write_wait: float = 5.0,
) -> FastAPI:
    store = store or Store.open(project.store_url, project.blob_root)
    store.limit_lock_wait(write_wait)  # a page that writes says "busy" soon, not in 30 s
    settings = Settings(project, store, smtp_config(project), presence_seconds)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.env = _environment()
    app.state.static_version = _static_version()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        h = response.headers
        h.setdefault("Content-Security-Policy", PAGE_CSP)
        h.setdefault("X-Frame-Options", "DENY")
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if request.url.scheme == "https":
            h["Strict-Transport-Security"] = "max-age=31536000"
        if not request.url.path.startswith("/static/"):
            h.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": "login required"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error_page(request, 403, "This page is for admins.", str(exc) or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(
                request, 404, "Not found.", exc.detail if exc.detail != "Not Found" else None
            )
        if exc.status_code == 403:
            return error_page(request, 403, "Refused.", exc.detail)
        return error_page(request, exc.status_code, "The request was refused.", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ())[1:]) or "form"
            problems.append(f"{loc}: {e.get('msg', 'invalid')}")
        return error_page(request, 400, "The form is not right.", "; ".join(problems))

    @app.exception_handler(UsageError)
    async def usage_error(request: Request, exc: UsageError) -> Response:
        return error_page(request, 400, "The form is not right.", str(exc))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        response = error_page(request, 503, "The store is busy; try again in a moment.", str(exc))
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(DeskmoveError)
    async def deskmove_error(request: Request, exc: DeskmoveError) -> Response:
        return error_page(request, 500, "Something went wrong.", str(exc))

    from deskmove.web import routes_admin, routes_tickets, routes_work

    app.include_router(routes_admin.public)
    for module in (routes_tickets, routes_work, routes_admin):
        app.include_router(
            module.router, dependencies=[Depends(require_user), Depends(require_csrf)]
        )
    return app


def factory() -> FastAPI:
    """For uvicorn workers: the project named by DESKMOVE_SERVE_PROJECT."""
    project = Project.load(os.environ.get("DESKMOVE_SERVE_PROJECT", "."))
    return create_app(
        project, presence_seconds=float(os.environ.get("DESKMOVE_PRESENCE_SECONDS", "5"))
    )


# -- request context ------------------------------------------------------------------
def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def store_of(request: Request) -> Store:
    return request.app.state.settings.store


def require_user(request: Request) -> ws.Account:
    token = request.cookies.get(SESSION_COOKIE, "")
    found = ws.session_user(store_of(request), token) if token else None
    if found is None:
        raise LoginRequired()
    request.state.user, request.state.csrf = found
    return found[0]


async def require_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            sent = str(form.get("csrf", ""))
    if not sent or not hmac.compare_digest(sent, request.state.csrf):
        raise StarletteHTTPException(
            403, "The form's security token is missing or stale: reload the page and try again."
        )


def require_admin(request: Request) -> ws.Account:
    user: ws.Account = request.state.user
    if not user.is_admin:
        raise Forbidden()
    return user


def _wants_json(request: Request) -> bool:
    return (
        "application/json" in request.headers.get("accept", "")
        or request.headers.get("x-requested-with") == "fetch"
    )


def language(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return i18n.negotiate(request.headers.get("accept-language"), user.language if user else None)


def viewer_zone(request: Request) -> Any:
    user = getattr(request.state, "user", None)
    return render.zone((user.timezone if user else None) or request.cookies.get("tz"))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def context(request: Request, **extra: Any) -> dict[str, Any]:
    lang = language(request)
    tr = i18n.translations(lang)
    tz = viewer_zone(request)
    user = getattr(request.state, "user", None)
    return {
        "request": request,
        "user": user,
        "csrf": getattr(request.state, "csrf", ""),
        "lang": lang,
        "languages": i18n.LANGUAGES,
        "_": tr.gettext,
        "ngettext": lambda one, many, n: tr.ngettext(one, many, n) % {"num": n},
        "tz": tz,
        "when": lambda dt: render.local_time(dt, tz, lang),
        "original": render.original_time,
        "iso": lambda dt: dt.isoformat() if dt else "",
        "v": request.app.state.static_version,
        **extra,
    }


def page(request: Request, name: str, status: int = 200, **extra: Any) -> HTMLResponse:
    template = request.app.state.env.get_template(name)
    return HTMLResponse(template.render(context(request, **extra)), status_code=status)


def error_page(request: Request, status: int, title: str, detail: str | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": title, "detail": detail}, status_code=status)
    try:
        if not hasattr(request.state, "user"):
            token = request.cookies.get(SESSION_COOKIE, "")
            found = ws.session_user(store_of(request), token) if token else None
            if found:
                request.state.user, request.state.csrf = found
    except DeskmoveError:
        pass
    return page(request, "error.html", status, code=status, title=title, detail=detail)


def new_token() -> str:
    return secrets.token_urlsafe(24)
