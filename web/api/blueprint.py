"""The API blueprint, exempt from CSRF: it authenticates with bearer tokens, never cookies."""

from flask import Blueprint

from web.api.problems import ApiProblem, problem_response
from web.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
bp.register_error_handler(ApiProblem, problem_response)
