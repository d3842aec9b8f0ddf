"""The admin console under /admin: server-rendered pages on the app's own services.

`admin_blueprint(services)` builds the blueprint; `connector/app.py` mounts it. Each concern is a
module of `connector.admin.pages` with a Blueprint `bp` listed in `PAGES`; a listed module that
is not there (yet) is left out. A page module may also define:
- `NAV = ("nav.key", "endpoint.inside.bp", "viewer")`: its entry in the menu and the least role
  that sees it (the endpoint is relative to its own blueprint, e.g. "index");
- `TEXTS = {"en": {...}, "ru": {...}}`: its texts for `t("key")` (see i18n.py).

Every view needs a session except sign-in and the static files; every POST needs the CSRF token
(auth.py). Roles: `@require("operator")` on a view.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from connector.admin import auth, i18n
from connector.logs import mask

if TYPE_CHECKING:
    from connector.services import Services

PAGES = (
    "connector.admin.pages.overview:bp",
    "connector.admin.pages.dead_letters:bp",
    "connector.admin.pages.customers:bp",
    "connector.admin.pages.mappings:bp",
    "connector.admin.pages.loyalty:bp",
    "connector.admin.pages.sync:bp",
    "connector.admin.pages.alerts:bp",
    "connector.admin.pages.segments:bp",
    "connector.admin.pages.cascades:bp",
    "connector.admin.pages.audit:bp",
    "connector.admin.pages.accounts:bp",
)
PUBLIC = {"admin.signin", "admin.static", "admin.language"}


def accounts_for(services: Services) -> auth.Accounts:
    """The console's account store on the services' store, clock and settings."""
    settings = services.settings
    return auth.Accounts(
        services.engine,
        services.queue.clock,
        idle_seconds=settings.admin_session_idle_minutes * 60,
        max_seconds=settings.admin_session_max_hours * 3600,
        attempts=settings.admin_signin_attempts,
    )


def admin_blueprint(services: Services) -> Blueprint:
    admin = Blueprint(
        "admin",
        __name__,
        url_prefix="/admin",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    texts = i18n.base_texts()
    nav: list[tuple[str, str, str]] = []
    for ref in PAGES:
        module_name, attr = ref.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:  # the page is there but something it needs is not
                raise
            continue
        page: Blueprint = getattr(module, attr)
        admin.register_blueprint(page)
        i18n.merge(texts, getattr(module, "TEXTS", {}))
        entry = getattr(module, "NAV", None)
        if entry is not None:
            key, endpoint, role = entry
            nav.append((key, f"admin.{page.name}.{endpoint}", role))

    @admin.record_once
    def install(state: Any) -> None:
        state.app.extensions["connector_admin"] = {
            "accounts": accounts_for(services),
            "texts": texts,
            "nav": nav,
        }

    admin.before_request(_guard)
    admin.context_processor(_template_globals)
    admin.add_url_rule("/", "home", lambda: redirect(url_for("admin.overview.index")))
    admin.add_url_rule("/sign-in", "signin", _signin, methods=["GET", "POST"])
    admin.add_url_rule("/sign-out", "signout", _signout, methods=["POST"])
    admin.add_url_rule("/language/<lang>", "language", _language, methods=["POST"])
    for code in (400, 401, 403, 404, 405, 413, 429):  # before the app's JSON answers
        admin.register_error_handler(code, _error_page)
    admin.add_app_template_filter(_when, "when")
    admin.add_app_template_filter(_ago, "ago")
    admin.add_app_template_filter(mask, "mask")
    return admin


# -- every request ----------------------------------------------------------------------------


def _guard() -> Response | None:
    """A session for everything but the public views; the CSRF token on every POST."""
    g.admin_session = None
    if not _readable_query():
        abort(400)
    token = request.cookies.get(auth.COOKIE)
    if token:
        g.admin_session = auth.accounts().find(token)
    if request.endpoint not in PUBLIC and g.admin_session is None:
        if request.method in ("GET", "HEAD"):
            target = url_for("admin.signin", next=_here())
            response = redirect(target, 303)
            if token:  # an expired or unknown cookie
                response.delete_cookie(auth.COOKIE, path="/admin")
            return response
        abort(401)
    if request.method == "POST" and not auth.csrf_ok():
        abort(400)
    return None


def _template_globals() -> dict[str, Any]:
    state = current_app.extensions["connector_admin"]
    account = auth.current()
    return {
        "t": i18n.t,
        "lang": i18n.language(),
        "languages": i18n.LANGUAGES,
        "csrf_field": auth.csrf_field,
        "account": account,
        "notice": _notice(state["texts"]),
        "here": _here(),
        "nav": [
            (key, endpoint)
            for key, endpoint, role in state["nav"]
            if account is not None and account.may(role)
        ],
    }


def notice(endpoint: str, key: str, count: int | None = None, **args: Any) -> Response:
    """Redirect (303) after a POST to `endpoint`, which then shows the text `key` (with
    `{count}` filled) above its content: the console's flash message, with no cookie."""
    values: dict[str, Any] = {"notice": key, **args}
    if count is not None:
        values["count"] = count
    return redirect(url_for(endpoint, **values), 303)


def as_id(text: str | None) -> int | None:
    """A row id from a form or query field: plain ASCII digits within the store's range."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def _here() -> str:
    """The request's path and query, for the language switch to come back to."""
    if request.query_string and _readable_query():
        return f"{request.path}?{request.query_string.decode()}"
    return request.path


def _readable_query() -> bool:
    """False for a query string that is not UTF-8 (Werkzeug would raise on reading it)."""
    try:
        request.query_string.decode()
    except UnicodeDecodeError:
        return False
    return True


def _notice(texts: dict[str, dict[str, str]]) -> str | None:
    if not _readable_query():
        return None
    key = request.args.get("notice")
    if not key or key not in texts[i18n.DEFAULT]:  # only known texts, never the URL's words
        return None
    return i18n.t(key, count=as_id(request.args.get("count")) or 0)


def _error_page(error: HTTPException) -> Response:
    code = error.code or 500
    key = f"error.{code}" if code in (400, 401, 403, 404, 429) else "error.400"
    response = make_response(render_template("admin/error.html", code=code, key=key), code)
    return response


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


# -- signing in and out ---------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never another site (an open redirect)."""
    if not target:
        return url_for("admin.overview.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in target:
        return url_for("admin.overview.index")
    return target


def _set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/admin",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )


def _signin() -> Response:
    accounts = auth.accounts()
    message = None
    code = 200
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        address = auth.address()
        if accounts.limited(name[: auth.NAME_MAX], address):
            message, code = "signin.limited", 429
        else:
            account = accounts.verify(name, password, address)
            if account is None:
                message, code = "signin.refused", 401
            else:
                token = accounts.start(account, address)
                accounts.record(account.name, "sign-in", None, None, address)
                response = redirect(_safe_next(request.args.get("next")), 303)
                _set_cookie(response, auth.COOKIE, token)
                response.delete_cookie(auth.SIGNIN_COOKIE, path="/admin")
                return response
    elif request.args.get("expired"):
        message = "signin.expired"
    response = make_response(
        render_template("admin/signin.html", message=message, next=request.args.get("next")),
        code,
    )
    _set_cookie(response, auth.SIGNIN_COOKIE, auth.csrf_token(), max_age=3600)
    return response


def _signout() -> Response:
    token = request.cookies.get(auth.COOKIE)
    account = auth.current()
    if token:
        auth.accounts().end(token)
    if account is not None:
        auth.audit("sign-out")
    response = redirect(url_for("admin.signin"), 303)
    response.delete_cookie(auth.COOKIE, path="/admin")
    return response


def _language(lang: str) -> Response:
    if lang not in i18n.LANGUAGES:
        abort(404)
    response = redirect(_safe_next(request.form.get("next")), 303)
    response.set_cookie(
        i18n.COOKIE, lang, max_age=365 * 86400, path="/admin", samesite="Lax", httponly=True
    )
    return response
