"""API tokens: create (the secret is shown once), list, revoke, and authenticate a request.

A token is ``fm_`` followed by 32 random bytes, base64url-encoded (43 characters). Only its
sha256 is stored. A plain hash is enough here, unlike for passwords: the secret has 256 bits
of entropy, so there is nothing for a slow KDF to protect against guessing, and a fast hash
keeps authentication to one indexed lookup per request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.extensions import db
from web.models import ApiToken, User
from web.models.base import utcnow
from web.services.audit import record_event
from web.services.versions import remember_version, with_version

__all__ = [
    "MAX_NAME_CHARS",
    "SECRET_PREFIX",
    "TokenError",
    "authenticate",
    "create_token",
    "get_token",
    "hash_secret",
    "list_tokens",
    "revoke_token",
    "touch_token",
]

SECRET_PREFIX = "fm_"  # marks our secrets, so secret scanners and people can recognise them
SECRET_BYTES = 32  # 256 bits from the OS CSPRNG
SHOWN_PREFIX_CHARS = 10  # "fm_" and 7 characters of the secret: enough to tell tokens apart
MAX_NAME_CHARS = 100  # ApiToken.name is String(100)
# A secret is 46 characters; anything much longer is not one of ours (and is not hashed).
MAX_SECRET_CHARS = 200
# Writing last_used_at on every request would turn each API read into a write; to the
# minute is all a person reviewing their tokens needs.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Every API call runs this; built once, it is not constructed and cache-keyed per call.
# It reads the matching index's data version too: a search, most API calls, needs it next.
_TOKEN_BY_HASH = with_version(
    sa.select(ApiToken).options(so.joinedload(ApiToken.user))
    .where(ApiToken.token_hash == sa.bindparam("token_hash"))
)


class TokenError(ValueError):
    """A token cannot be created or changed as asked; the message says why."""


def hash_secret(secret: str) -> str:
    """The sha256 hex digest of ``secret``: what is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(user: User, *, name: str, by_system: bool = False) -> tuple[ApiToken, str]:
    """Create and flush a token for ``user``, audited as ``api_token.created`` (by the user,
    or by the system when ``by_system``: the command line); return it and its secret.

    The secret is returned this once and never stored: whoever creates the token must copy
    it now. The audit event names the token by its id, name and shown prefix only.

    :raise TokenError: an empty or too long name, or a deactivated user.
    """
    name = (name or "").strip()
    if not name:
        raise TokenError("Enter a name for the token, for example the system that will use it")
    if len(name) > MAX_NAME_CHARS:
        raise TokenError(f"Use {MAX_NAME_CHARS} characters or fewer for the name")
    if not user.active:
        raise TokenError("A deactivated user cannot have API tokens")
    secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(
        user=user, name=name, token_hash=hash_secret(secret),
        prefix=secret[:SHOWN_PREFIX_CHARS], created_at=utcnow(),
    )
    db.session.add(token)
    db.session.flush()
    _record(token, "api_token.created", actor=None if by_system else user)
    return token, secret


def list_tokens(user: User) -> list[ApiToken]:
    """``user``'s tokens, active ones first, newest first."""
    return list(db.session.scalars(
        sa.select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                  ApiToken.id.desc())
    ))


def get_token(token_id: int, *, user: User | None = None) -> ApiToken | None:
    """The token ``token_id`` (only if it belongs to ``user``, when given)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (user is not None and token.user_id != user.id):
        return None
    return token


def revoke_token(token: ApiToken, *, by_system: bool = False) -> bool:
    """Revoke ``token`` for good and flush, audited as ``api_token.revoked`` (by its user,
    or by the system when ``by_system``); return False if it was already revoked."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    db.session.flush()
    _record(token, "api_token.revoked", actor=None if by_system else token.user)
    return True


def _record(token: ApiToken, action: str, *, actor: User | None) -> None:
    record_event(action, actor=actor, organisation_id=token.user.organisation_id,
                 object_type="api_token", object_id=token.id,
                 details={"name": token.name, "prefix": token.prefix,
                          "user_id": token.user_id})


def authenticate(secret: str) -> ApiToken | None:
    """The active token whose secret is ``secret``, with an active user; else None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > MAX_SECRET_CHARS:
        return None
    # The lookup is by hash, so response timing reveals nothing about stored secrets: an
    # attacker cannot steer the hash of their guess towards a stored one.
    # The user comes in the same query: every API call needs it.
    row = db.session.execute(_TOKEN_BY_HASH, {"token_hash": hash_secret(secret)}).first()
    if row is None:
        return None
    remember_version(row)
    token = row[0]
    if token.revoked_at is not None or not token.user.active:
        return None
    return token


def touch_token(token: ApiToken, *, now: dt.datetime | None = None) -> bool:
    """Record that ``token`` was used (to the minute) and flush; True if that changed it."""
    now = now or utcnow()
    last = token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC timestamps
        last = last.replace(tzinfo=dt.UTC)
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return False
    token.last_used_at = now
    db.session.flush()
    return True
