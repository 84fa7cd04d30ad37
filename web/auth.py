"""Who is signed in, and the access checks every view uses.

The signed session cookie holds the user's id and a stamp of their password hash; each
request loads the user into ``g.user`` (``None`` when signed out, when the account is
deactivated, or when the password has changed since the session began: a new password
signs out every other session). A user whose password an administrator chose is sent to
choose their own before any other page. Views declare their rule with a decorator; the rule lives
here, not in each view.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar, cast

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, abort, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from web.extensions import db
from web.models import User
from web.services.versions import remember_version, with_version

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "user_id"
#: What a user whose password an administrator chose may reach before choosing their own:
#: that page, signing out, the service's static files and pages about it.
OPEN_WHILE_CHANGING_PASSWORD = frozenset({
    "account.password", "auth.sign_out", "static", "main.healthz", "ops.readyz",
    "main.accessibility", "main.privacy", "main.cookies", "main.data_attribution",
})
STAMP_KEY = "password_stamp"
STAMP_CHARS = 16  # hex characters of the stamp: 64 bits, against guessing a match
# With the organisation: every signed-in page's header names it. And the matching index's
# data version, which most pages need next (the search form's choices, the results, the
# register's size on the home page): one query, not two.
_USER_BY_ID = with_version(
    sa.select(User).options(so.joinedload(User.organisation))
    .where(User.id == sa.bindparam("user_id"))
)


def init_app(app: Flask) -> None:
    """Load the signed-in user before each request and expose it to templates."""
    app.before_request(_load_user)
    app.context_processor(lambda: {"current_user": g.get("user")})


def _load_user() -> ResponseReturnValue | None:
    user_id = session.get(SESSION_KEY)
    row = (db.session.execute(_USER_BY_ID, {"user_id": user_id}).first()
           if isinstance(user_id, int) else None)
    user = None
    if row is not None:
        remember_version(row)
        user = row[0]
    g.user = (user if user is not None and user.active
              and _stamp_matches(session.get(STAMP_KEY), user) else None)
    # (The API answers bearer tokens, never this session: it is not redirected.)
    if (g.user is not None and g.user.must_change_password
            and request.endpoint not in OPEN_WHILE_CHANGING_PASSWORD
            and request.blueprint != "api"):
        return redirect(url_for("account.password"))
    return None


def password_stamp(user: User) -> str:
    """A short digest of ``user``'s password hash, kept in their sessions: it changes with
    the password, which ends the sessions begun before."""
    digest = hashlib.sha256(user.password_hash.encode("utf-8")).hexdigest()
    return digest[:STAMP_CHARS]


def _stamp_matches(stamp: object, user: User) -> bool:
    return isinstance(stamp, str) and hmac.compare_digest(stamp, password_stamp(user))


def current_user() -> User | None:
    """The signed-in user, if any."""
    return cast(User | None, g.get("user"))


def start_session(target: MutableMapping[str, Any], user: User) -> None:
    """Fill an emptied session ``target`` for ``user``: their id and password stamp."""
    target[SESSION_KEY] = user.id
    target[STAMP_KEY] = password_stamp(user)


def sign_in(user: User) -> None:
    """Start a fresh session for ``user`` (clearing the old one against session fixation).

    Called again after the user changes their password, so that this session goes on
    while every other one ends."""
    session.clear()
    start_session(session, user)
    session.permanent = True


def sign_out() -> None:
    """End the session."""
    session.clear()


def login_required(view: F) -> F:
    """Send signed-out visitors to the sign-in page, then back here.

    :raise 302: to sign in when nobody is signed in.
    """

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def admin_required(view: F) -> F:
    """Only framework admins.

    :raise 302: to sign in when nobody is signed in.
    :raise 403: for a signed-in member.
    """

    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None or not user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapped)
