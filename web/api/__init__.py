"""The JSON API at ``/api/v1``: bearer-token authenticated, documented by OpenAPI 3.1.

``blueprint`` holds the blueprint, ``schemas`` the pydantic models that validate requests
and describe responses, ``routing`` the :func:`~web.api.routing.operation` decorator that
ties them to views, ``openapi`` the document built from both, and ``views`` the endpoints.
"""

from web.api import views  # noqa: F401  (registers the operations on the blueprint)
from web.api.blueprint import bp

__all__ = ["bp"]
