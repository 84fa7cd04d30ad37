"""Flask extensions, created unbound and initialised in the app factory."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from web.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
# No default limits: only the routes that need one (sign-in) declare it. Storage is per
# process unless RATELIMIT_STORAGE_URI points at a shared store (e.g. redis://).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
