"""Accounts in the UI: log-in and log-out, the gate in front of every page, roles."""
from __future__ import annotations

import re
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from ..accesslog import set_caller
from ..appctx import current_node
from ..i18n import gettext
from ..logs import get_logger, shown
from .. import users
from ..users import check_login
from . import blueprint, sessions, throttle
from .forms import LanguageForm, LoginForm, PostForm
from ..incident_index import backfill
from ..reaction_index import backfill as backfill_reactions

OPEN_ENDPOINTS = {"web.login", "web.static"}

log = get_logger(__name__)


class Analyst(UserMixin):
    def __init__(self, name: str, role: str, session_token: str, language: str | None = None):
        self.id = session_token  # what Flask-Login keeps in the cookie: never the name
        self.name = name
        self.role = role
        self.language = language  # None: the browser's Accept-Language decides (node/i18n.py)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _load_user(session_token: str) -> Analyst | None:
    # Looked up on every request, so a log-out, a removed account or a changed role applies at once.
    row = sessions.user_of(current_node().store, session_token)
    return Analyst(row["name"], row["role"], session_token, row["language"]) if row else None


@blueprint.record_once
def _set_up(state) -> None:
    app = state.app
    manager = LoginManager()
    manager.login_view = "web.login"
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    manager.init_app(app)
    # CSRF is checked by each FlaskForm, not app-wide (TAXII clients carry no token);
    # templates still need the token for forms that are only a button.
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
    with app.app_context():
        backfill(current_node().store)
        backfill_reactions(current_node().store)


@blueprint.before_request
def require_account():
    if request.endpoint in OPEN_ENDPOINTS:  # before current_user: loading it on the log-in page
        return None                        # would clear the session's remember-me state
    if current_user.is_authenticated:
        set_caller("user", current_user.name)
        return None
    return redirect(url_for("web.login", next=request.full_path if request.query_string else request.path))


def admin_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)
    return wrapped


# C0 controls, DEL and C1 controls: browsers drop some of them (tab, newline) before
# parsing, so "/\t/evil.com" would become "//evil.com".
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _is_local_path(target: str) -> bool:
    """True only for a path on this site, judged the way a browser reads a Location header:
    one leading "/", not "//"; no backslash (browsers read "\\" as "/", so "/\\evil.com" is
    "//evil.com"); no control character; no percent-encoded "/" or "\\" straight after the
    leading "/" (a proxy or a later decode could turn it into "//"); and with backslashes
    read as slashes, still no scheme and no host."""
    if not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or _CONTROL.search(target):
        return False
    if target[1:4].lower() in ("%2f", "%5c"):
        return False
    parts = urlsplit(target.replace("\\", "/"))
    return not parts.scheme and not parts.netloc


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never redirect a fresh log-in to another origin."""
    if isinstance(target, str) and target and _is_local_path(target):
        return target
    return url_for("web.incident_list")


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        store = current_node().store
        name, address = form.name.data, request.remote_addr
        wait = throttle.seconds_blocked(store, address, name)
        if wait:
            form.form_errors.append(gettext("Too many failed log-in attempts. Try again in %(minutes)s min.",
                                            minutes=(wait + 59) // 60))
            status = 429
            log.warning("UI log-in refused (too many failures) for user %s from %s", shown(name, 32), address)
        else:
            row = check_login(store, name, form.password.data)
            if row is None:
                throttle.record_failure(store, address, name)
                form.form_errors.append(gettext("Wrong user name or password."))
                status = 401
                log.warning("UI log-in failed for user %s from %s", shown(name, 32), address)
            else:
                throttle.clear(store, address, name)
                login_user(Analyst(row["name"], row["role"], sessions.start(store, row["name"])))
                set_caller("user", row["name"])
                log.info("UI log-in: user %s from %s", row["name"], address)
                return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@blueprint.route("/logout", methods=["POST"])
def logout():
    if PostForm().validate_on_submit():
        sessions.end(current_node().store, current_user.get_id())
        logout_user()
        flash(gettext("You are logged out."))
        return redirect(url_for("web.login"))
    abort(400)


@blueprint.route("/language", methods=["POST"])
def set_language():
    """The language picker in the header: kept in the account, then back to the page."""
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    users.set_language(current_node().store, current_user.name, form.language.data or None)
    return redirect(_safe_next(form.next.data))


@blueprint.route("/")
def home():
    return redirect(url_for("web.incident_list"))
