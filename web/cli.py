"""Flask CLI commands (``flask --help`` lists them).

The command groups live beside what they operate on; this module registers them and holds
the small ones: ``flask demo load`` and ``flask users create``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from web.extensions import db
from web.models import Framework, MemberOrganisation, Role, User

DEMO_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "demo"

demo = AppGroup("demo", help="Demo data: a housing-sector framework with fictional suppliers.")
users = AppGroup("users", help="Create and manage user accounts.")


def init_app(app: Flask) -> None:
    """Register every command group on ``app``."""
    from web.cpv_cli import cpv
    from web.match_cli import match
    from web.postcodes.cli import postcodes
    from web.suppliers_cli import suppliers
    from web.tokens_cli import tokens

    for command in (demo, users, postcodes, suppliers, match, tokens, cpv):
        app.cli.add_command(command)


@demo.command("load")
@click.option(
    "--fixtures",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEMO_FIXTURES,
    show_default=True,
    help="Folder holding the demo files.",
)
@click.option("--once", is_flag=True, help="Do nothing if a framework is already loaded.")
def demo_load(fixtures: Path, once: bool) -> None:
    """Load the demo framework, catalogue, suppliers and members (idempotent)."""
    from web.postcodes import get_directory
    from web.services.demo import DemoError, load_demo

    if once and db.session.scalar(sa.select(Framework.id).limit(1)) is not None:
        click.echo("A framework is already loaded; skipping the demo data.")
        return
    started = time.perf_counter()
    directory = get_directory(current_app)
    with click.progressbar(length=100, label="Loading demo data") as bar:
        try:
            summary = load_demo(fixtures, directory=directory, progress=bar.update)
        except DemoError as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(summary.describe())
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")


@users.command("create")
@click.argument("email")
@click.option("--name", required=True, help="The person's full name.")
@click.option("--organisation", help="Member organisation name (required for members).")
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), default=Role.MEMBER.value,
    show_default=True,
)
@click.password_option(help="Password (prompted, hidden, if not given).")
def users_create(email: str, name: str, organisation: str | None, role: str, password: str) -> None:
    """Create a user who can sign in."""
    from web.services.accounts import AccountError, create_user

    org = None
    if organisation:
        org = db.session.scalar(
            sa.select(MemberOrganisation).where(MemberOrganisation.name == organisation)
        )
        if org is None:
            click.echo(f"Error: no member organisation named {organisation!r}.", err=True)
            sys.exit(1)
    try:
        user = create_user(email=email, name=name, role=Role(role), organisation=org,
                           password=password)
    except AccountError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email}.")



@users.command("set-password")
@click.argument("email")
@click.password_option(help="The new password (prompted, hidden, if not given).")
def users_set_password(email: str, password: str) -> None:
    """Give a user a new password (one who has forgotten theirs, even the last admin).

    Every session they had ends. Audited as ``user.password_set`` by the system."""
    from web.services.admin import AdminError, set_user_password

    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        click.echo(f"Error: no user with email {email!r}.", err=True)
        sys.exit(1)
    try:
        set_user_password(user, password, actor=None)
    except AdminError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"Set a new password for {user.email}.")

__all__ = ["init_app"]
