"""``flask tokens``: create, list and revoke API tokens from the command line."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from web.extensions import db
from web.models import User

tokens = AppGroup("tokens", help="Create, list and revoke API bearer tokens.")


def _user_by_email(email: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    return user


@tokens.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for, e.g. the calling system.")
def tokens_create(email: str, name: str) -> None:
    """Create a token for the user EMAIL and print its secret (shown this once)."""
    from web.services.tokens import TokenError, create_token

    user = _user_by_email(email)
    try:
        token, secret = create_token(user, name=name, by_system=True)
    except TokenError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Created token {token.id} ({token.name}) for {user.email}.", err=True)
    click.echo("Copy the secret now: it is not stored and cannot be shown again.", err=True)
    # The secret alone on stdout, so a script can capture it: TOKEN=$(flask tokens create …)
    click.echo(secret)


@tokens.command("list")
@click.argument("email")
def tokens_list(email: str) -> None:
    """List the tokens of the user EMAIL (never their secrets)."""
    from web.services.tokens import list_tokens

    user = _user_by_email(email)
    found = list_tokens(user)
    if not found:
        click.echo(f"{user.email} has no API tokens.")
        return
    for token in found:
        used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        state = (f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at
                 else "active")
        click.echo(f"{token.id}\t{token.prefix}…\t{token.name}\tcreated "
                   f"{token.created_at:%Y-%m-%d %H:%M}\tlast used {used}\t{state}")


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1, max=2**31 - 1))
def tokens_revoke(token_id: int) -> None:
    """Revoke the token TOKEN_ID for good."""
    from web.services.tokens import get_token, revoke_token

    token = get_token(token_id)
    if token is None:
        raise click.ClickException(f"no token with id {token_id}")
    if not revoke_token(token, by_system=True):
        click.echo(f"Token {token_id} was already revoked.")
        return
    db.session.commit()
    click.echo(f"Revoked token {token_id} ({token.name}) of {token.user.email}.")


__all__ = ["tokens"]
