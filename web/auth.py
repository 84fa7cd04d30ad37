"""Who is signed in, and the access checks every view uses.

The signed session cookie holds the user's id; each request loads the user into
``g.user`` (``None`` when signed out or the account is deactivated). Views declare their
rule with a decorator; the rule lives here, not in each view.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, abort, g, redirect, request, session, url_for

from web.extensions import db
from web.models import User
from web.services.versions import remember_version, with_version

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "user_id"
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


def _load_user() -> None:
    user_id = session.get(SESSION_KEY)
    row = (db.session.execute(_USER_BY_ID, {"user_id": user_id}).first()
           if isinstance(user_id, int) else None)
    user = None
    if row is not None:
        remember_version(row)
        user = row[0]
    g.user = user if user is not None and user.active else None


def current_user() -> User | None:
    """The signed-in user, if any."""
    return cast(User | None, g.get("user"))


def sign_in(user: User) -> None:
    """Start a fresh session for ``user`` (clearing the old one against session fixation)."""
    session.clear()
    session[SESSION_KEY] = user.id
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
