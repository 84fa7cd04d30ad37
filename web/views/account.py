"""The signed-in user's account: who they are, their password (changed after giving the
current one) and API tokens (list, create with the secret shown once, revoke)."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput, GovTextInput
from wtforms import StringField, SubmitField
from wtforms.validators import InputRequired, Length

from web import auth
from web.auth import login_required
from web.db_setup import commit_then, commit_then_redirect
from web.extensions import limiter
from web.forms.auth import ChangePasswordForm
from web.forms.validators import NoControlCharacters
from web.models import ApiToken
from web.services import accounts
from web.services import tokens as service
from web.views.auth import SIGN_IN_LIMIT

bp = Blueprint("account", __name__, url_prefix="/account")
MAX_TOKEN_ID = 2**31 - 1  # ids are 32-bit in PostgreSQL
#: Password changes per client address: the form checks the current password, so it is
#: limited as signing in is, against guessing it from a session left open.
PASSWORD_CHANGE_LIMIT = SIGN_IN_LIMIT


class CreateTokenForm(FlaskForm):
    """Name a new API token."""

    name = StringField(
        "Token name", widget=GovTextInput(),
        description="What will use it, for example “Housing repairs system”",
        validators=[InputRequired("Enter a name for the token"),
                    Length(max=service.MAX_NAME_CHARS,
                           message=f"Use {service.MAX_NAME_CHARS} characters or fewer"),
                    NoControlCharacters("Token name must not contain control characters")],
    )
    submit = SubmitField("Create token", widget=GovSubmitInput())


class RevokeTokenForm(FlaskForm):
    """Revoke one token (the form is only its CSRF token)."""


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """The signed-in user's details, with links to change their password and to API tokens."""
    return render_template("account/index.html")


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limiter.limit(PASSWORD_CHANGE_LIMIT, methods=["POST"])
def password() -> ResponseReturnValue:
    """Change your password: the current one, then the new one twice. This session goes on;
    every other session of the account ends."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(g.user, current=form.current_password.data or "",
                                     new=form.new_password.data or "")
        except accounts.WrongPasswordError as error:
            form.current_password.errors = [_sentence(str(error))]
        except accounts.AccountError as error:
            form.new_password.errors = [_sentence(str(error))]
        else:
            auth.sign_in(g.user)  # this session, stamped with the new password
            return commit_then_redirect(
                url_for(".index"),
                "Your password has been changed. Anywhere else you were signed in, you "
                "have been signed out.")
    status = 400 if form.errors else 200
    return render_template("account/password.html", form=form), status


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens() -> ResponseReturnValue:
    """List the user's API tokens; create one and show its secret this once."""
    form = CreateTokenForm()
    secret = None
    created = None
    if form.validate_on_submit():
        try:
            created, secret = service.create_token(g.user, name=form.name.data or "")
        except service.TokenError as error:
            form.name.errors = [str(error)]
        else:
            # The page (with the new token, flushed) is made before the commit, so that a
            # restart cutting the commit off still shows the secret of the token it kept
            page = _tokens_page(CreateTokenForm(formdata=None), secret, created)
            return commit_then(lambda: page)
    return _tokens_page(form, secret, created)


def _tokens_page(form: CreateTokenForm, secret: str | None,
                 created: ApiToken | None) -> ResponseReturnValue:
    status = 400 if form.errors else 200
    response = render_template(
        "account/tokens.html", form=form, tokens=service.list_tokens(g.user), secret=secret,
        created=created, revoke_form=RevokeTokenForm(),
    )
    # The secret is rendered into this page only (never into the session or a flash):
    # keep the page out of every cache.
    return response, status, {"Cache-Control": "no-store"}


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one of the user's tokens."""
    form = RevokeTokenForm()
    token = service.get_token(token_id, user=g.user) if token_id <= MAX_TOKEN_ID else None
    if token is None:
        abort(404)
    if not form.validate_on_submit():
        abort(400)
    if service.revoke_token(token):
        return commit_then_redirect(url_for(".tokens"),
                                    f"Token “{token.name}” revoked: it no longer works.")
    return redirect(url_for(".tokens"), code=303)
