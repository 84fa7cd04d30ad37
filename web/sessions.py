"""Flask's signed-cookie sessions, with the signing serializer made once per set of keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask.sessions import SecureCookieSessionInterface

if TYPE_CHECKING:
    from flask import Flask
    from itsdangerous import URLSafeTimedSerializer


class SessionInterface(SecureCookieSessionInterface):
    """:class:`~flask.sessions.SecureCookieSessionInterface`, same cookies, same checks.

    Flask builds a new serializer (and its signer's settings) twice in every request, to
    open the session and to save it, API calls included. This one keeps the serializer
    for as long as the secret key and its fallbacks stay the same: replacing either makes
    a new one at the next request.
    """

    def __init__(self) -> None:
        # The keys and their serializer in one tuple: threads read and replace it whole.
        self._cached: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            cached = self._cached = (keys, super().get_signing_serializer(app))
        return cached[1]
