"""The database models, one module per area; import them from here."""

from web.models.api_token import ApiToken
from web.models.audit import AuditEvent
from web.models.base import Base
from web.models.cpv import CpvCode
from web.models.framework import Framework, Lot
from web.models.member import MemberOrganisation, OrganisationType, Role, Site, User
from web.models.reference import DataVersion, ThesaurusGroup
from web.models.shortlist import Shortlist, ShortlistEntry, ShortlistStatus
from web.models.social_value import SocialValueCatalogue, SocialValueOption, SocialValueTheme
from web.models.supplier import (
    Accreditation,
    Commitment,
    Contact,
    NotDuplicate,
    Supplier,
    supplier_lots,
)

__all__ = [
    "Accreditation",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Commitment",
    "Contact",
    "CpvCode",
    "DataVersion",
    "Framework",
    "Lot",
    "MemberOrganisation",
    "NotDuplicate",
    "OrganisationType",
    "Role",
    "Shortlist",
    "ShortlistEntry",
    "ShortlistStatus",
    "Site",
    "SocialValueCatalogue",
    "SocialValueOption",
    "SocialValueTheme",
    "Supplier",
    "ThesaurusGroup",
    "User",
    "supplier_lots",
]
