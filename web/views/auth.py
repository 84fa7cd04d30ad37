"""Signing in and out."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.security import check_password_hash, generate_password_hash

from web import auth
from web.extensions import db, limiter
from web.forms.auth import SignInForm
from web.models import User

bp = Blueprint("auth", __name__)

#: Shown for an unknown email, a wrong password and a deactivated account alike, so the
#: page does not tell anyone which email addresses have accounts.
WRONG_CREDENTIALS = "Your email address or password is wrong"
#: Sign-in attempts per client address: enough for a person mistyping, too few for guessing.
SIGN_IN_LIMIT = "10 per minute;50 per hour"


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_LIMIT, methods=["POST"])
def sign_in() -> ResponseReturnValue:
    """The sign-in form; on success, back to the page that asked for it (or search)."""
    next_url = safe_next_url(request.args.get("next"))
    if auth.current_user() is not None and request.method == "GET":
        return redirect(next_url or url_for("search.search"))
    form = SignInForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            auth.sign_in(user)
            return redirect(next_url or url_for("search.search"))
        form.email.errors = [*form.email.errors, WRONG_CREDENTIALS]
    status = 400 if form.errors else 200
    return render_template("auth/sign_in.html", form=form, next_url=next_url), status


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """End the session (a POST with the CSRF token, so no link can sign anyone out)."""
    auth.sign_out()
    flash("You have signed out.", "success")
    return redirect(url_for("main.home"))


def authenticate(email: str, password: str) -> User | None:
    """The active user with ``email`` and ``password``, or None.

    Checks a password hash even when there is no such user, so the time taken does not
    tell whether an email address has an account.
    """
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash("not a real password")


def safe_next_url(target: str | None) -> str | None:
    """``target`` if it is a path on this site ("/search?x=1"), else None.

    Refuses absolute URLs, scheme-relative ones ("//evil.example"), backslash tricks
    ("/\\evil.example") and control characters, so the sign-in page cannot be used to send
    people to another site.
    """
    if not target or len(target) > 2000:
        return None
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
