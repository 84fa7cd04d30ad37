"""framework-match's matching engine: rank suppliers for a need and explain every score.

Pure domain code (numpy, rapidfuzz, geopy, snowballstemmer; no web or database imports)::

    thesaurus = Thesaurus.from_groups([("external wall insulation", "ewi")])
    index = Index.build(suppliers, thesaurus=thesaurus)
    response = search(index, Query("external wall insulation", 53.41, -2.98, radius_km=50))
    for r in response.results:
        print(r.rank, r.name, round(r.score, 1), [c.contribution for c in r.components])

``matcher.store`` saves a built index to a file and maps it back (``save_index``,
``load_index``), so that several processes share one copy.
"""

from .cpv import normalise_cpv
from .index import DEFAULT_CAPABILITY, CapabilityParams, Index
from .models import (
    COMPONENT_NAMES,
    DEFAULT_DECAY,
    DEFAULT_SCALE_KM,
    DEFAULT_WEIGHTS,
    Accreditation,
    Commitment,
    ComponentScore,
    DecayCurve,
    MatchResult,
    Query,
    SearchResponse,
    SocialValueChoice,
    SocialValueItem,
    SocialValueOption,
    SupplierRecord,
    Weights,
)
from .search import ALGORITHM_VERSION, EXCLUSION_REASONS, search
from .text import Thesaurus

__all__ = [
    "ALGORITHM_VERSION",
    "COMPONENT_NAMES",
    "DEFAULT_CAPABILITY",
    "DEFAULT_DECAY",
    "DEFAULT_SCALE_KM",
    "DEFAULT_WEIGHTS",
    "EXCLUSION_REASONS",
    "Accreditation",
    "CapabilityParams",
    "Commitment",
    "ComponentScore",
    "DecayCurve",
    "Index",
    "MatchResult",
    "Query",
    "SearchResponse",
    "SocialValueChoice",
    "SocialValueItem",
    "SocialValueOption",
    "SupplierRecord",
    "Thesaurus",
    "Weights",
    "normalise_cpv",
    "search",
]
