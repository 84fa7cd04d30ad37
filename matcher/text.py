"""Text analysis: the same pipeline for supplier profiles and for needs.

Steps: Unicode → ASCII fold and lower case; split on anything that is not a letter or digit;
drop English stop words, one-letter tokens and long numbers (dates, references, values);
Snowball English stemming (``insulating``, ``insulation`` → ``insul``). The surface form of
every token is kept beside its stem so that results can highlight the words the supplier
actually wrote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import snowballstemmer

__all__ = ["Analyzer", "STOP_WORDS", "Thesaurus", "fold"]

_TOKEN_RE = re.compile(r"[a-z0-9]+")

#: Longest all-digit token kept: 4 digits keeps "PAS 2035", "ISO 9001", years drop out by IDF,
#: while postcodes' numbers and notice references (6+ digits) carry no capability.
MAX_NUMBER_DIGITS = 4

#: English stop words (the classic Glasgow/scikit-learn list, trimmed of words that carry
#: meaning in building trades such as "fire", "system", "interest" and "bill").
STOP_WORDS: frozenset[str] = frozenset(
    [
        "a", "about", "above", "across", "after", "afterwards", "again", "against", "all",
        "almost", "alone", "along", "already", "also", "although", "always", "am", "among",
        "amongst", "amoungst", "amount", "an", "and", "another", "any", "anyhow", "anyone",
        "anything", "anyway", "anywhere", "are", "around", "as", "at", "back", "be", "became",
        "because", "become", "becomes", "becoming", "been", "before", "beforehand", "behind",
        "being", "below", "beside", "besides", "between", "beyond", "both", "but", "by", "can",
        "cannot", "cant", "co", "con", "could", "couldnt", "de", "describe", "detail", "do",
        "done", "down", "due", "during", "each", "eg", "eight", "either", "eleven", "else",
        "elsewhere", "empty", "enough", "etc", "even", "ever", "every", "everyone", "everything",
        "everywhere", "except", "few", "fifteen", "fifty", "first", "five", "for", "former",
        "formerly", "forty", "found", "four", "from", "front", "further", "get", "give", "go",
        "had", "has", "hasnt", "have", "he", "hence", "her", "here", "hereafter", "hereby",
        "herein", "hereupon", "hers", "herself", "him", "himself", "his", "how", "however",
        "hundred", "i", "ie", "if", "in", "inc", "indeed", "into", "is", "it", "its", "itself",
        "keep", "last", "latter", "latterly", "least", "less", "ltd", "made", "many", "may", "me",
        "meanwhile", "might", "mill", "mine", "more", "moreover", "most", "mostly", "move", "much",
        "must", "my", "myself", "name", "namely", "neither", "never", "nevertheless", "next",
        "nine", "no", "nobody", "none", "noone", "nor", "not", "nothing", "now", "nowhere", "of",
        "off", "often", "on", "once", "one", "only", "onto", "or", "other", "others", "otherwise",
        "our", "ours", "ourselves", "out", "over", "own", "part", "per", "perhaps", "please",
        "put", "rather", "re", "same", "see", "seem", "seemed", "seeming", "seems", "serious",
        "several", "she", "should", "show", "side", "since", "sincere", "six", "sixty", "so",
        "some", "somehow", "someone", "something", "sometime", "sometimes", "somewhere", "still",
        "such", "take", "ten", "than", "that", "the", "their", "them", "themselves", "then",
        "thence", "there", "thereafter", "thereby", "therefore", "therein", "thereupon", "these",
        "they", "thick", "thin", "third", "this", "those", "though", "three", "through",
        "throughout", "thru", "thus", "to", "together", "too", "top", "toward", "towards",
        "twelve", "twenty", "two", "un", "under", "until", "up", "upon", "us", "very", "via",
        "was", "we", "well", "were", "what", "whatever", "when", "whence", "whenever", "where",
        "whereafter", "whereas", "whereby", "wherein", "whereupon", "wherever", "whether", "which",
        "while", "whither", "who", "whoever", "whole", "whom", "whose", "why", "will", "with",
        "within", "without", "would", "yet", "you", "your", "yours", "yourself", "yourselves",
    ]
)


def fold(text: str) -> str:
    """Lower-case ``text`` and fold accents and typographic characters to ASCII."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


class Analyzer:
    """Turns text into stems; caches the stemmer per surface word (vocabularies are small)."""

    __slots__ = ("_stem_cache", "_stemmer")

    def __init__(self) -> None:
        self._stemmer = snowballstemmer.stemmer("english")
        self._stem_cache: dict[str, str | None] = {}

    def __getstate__(self) -> dict[str, str | None]:
        # The stemmer is a C object that cannot be pickled; a new one stems the same.
        return self._stem_cache

    def __setstate__(self, state: dict[str, str | None]) -> None:
        self._stemmer = snowballstemmer.stemmer("english")
        self._stem_cache = state

    def words(self, text: str) -> list[str]:
        """Surface tokens of ``text`` after folding, without stop words or noise."""
        return [w for w in _TOKEN_RE.findall(fold(text)) if self.stem(w) is not None]

    def stem(self, word: str) -> str | None:
        """The stem of a folded surface ``word``, or ``None`` when it carries no meaning."""
        try:
            return self._stem_cache[word]
        except KeyError:
            pass
        stem: str | None
        if len(word) < 2 or word in STOP_WORDS or (
            word.isdigit() and len(word) > MAX_NUMBER_DIGITS
        ):
            stem = None
        else:
            stem = self._stemmer.stemWord(word)
        self._stem_cache[word] = stem
        return stem

    def stems(self, text: str) -> list[str]:
        """Stems of ``text`` in order (stop words dropped)."""
        out = []
        for word in _TOKEN_RE.findall(fold(text)):
            stem = self.stem(word)
            if stem is not None:
                out.append(stem)
        return out

    def raw_words(self, text: str) -> list[str]:
        """Folded tokens of ``text`` before any filtering."""
        return _TOKEN_RE.findall(fold(text))


@dataclass(frozen=True, slots=True)
class Thesaurus:
    """Groups of equivalent phrases: ``("external wall insulation", "ewi")``.

    A supplier whose text contains any phrase of a group also matches every other phrase of
    the group: indexing adds one *concept* term per group found, and a need mentioning any of
    the group's phrases searches for that concept too.
    """

    groups: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_groups(cls, groups: Iterable[Sequence[str]]) -> Thesaurus:
        """Build from an iterable of phrase groups; groups with fewer than two phrases are kept
        (harmless) so that callers can grow them later."""
        return cls(tuple(tuple(str(p) for p in g if str(p).strip()) for g in groups if g))

    def phrase_stems(self, analyzer: Analyzer) -> list[tuple[tuple[str, ...], int]]:
        """Each phrase as its stem sequence with its group number (empty phrases dropped)."""
        out = []
        for number, group in enumerate(self.groups):
            for phrase in group:
                stems = tuple(analyzer.stems(phrase))
                if stems:
                    out.append((stems, number))
        return out


def concept_term(group: int) -> str:
    """The index term standing for thesaurus group ``group`` (cannot collide with a stem)."""
    return f"~g{group}"
