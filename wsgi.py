"""WSGI entry point: ``gunicorn wsgi:app``; the ``flask`` command finds it too."""

import sys

from web import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    # One line naming the bad setting, not a traceback.
    print(f"framework-match: configuration error: {error}", file=sys.stderr)
    sys.exit(2)
