"""Offline GB postcode directory: postcode, sector or outcode -> WGS84 point and local authority.

Built once from the ONS Postcode Directory subset on PyPI (or an OS Code-Point Open
zip) into a compact memory-mapped file; lookups are binary searches taking
microseconds. Northern Ireland is excluded (separately licensed). Only ``cli.py``
imports Flask.
"""

from .build import BuildStats, build_directory
from .cache import clear_directory_cache, directory_path_for, get_directory
from .directory import Location, PostcodeDirectory, default_directory_path
from .errors import (
    DirectoryUnavailable,
    PostcodeError,
    PostcodeFormatError,
    PostcodeNotFound,
)
from .normalise import normalise_postcode
from .sources import ATTRIBUTION, CODEPOINT_ATTRIBUTION

__all__ = [
    "ATTRIBUTION",
    "CODEPOINT_ATTRIBUTION",
    "BuildStats",
    "DirectoryUnavailable",
    "Location",
    "PostcodeDirectory",
    "PostcodeError",
    "PostcodeFormatError",
    "PostcodeNotFound",
    "build_directory",
    "clear_directory_cache",
    "default_directory_path",
    "directory_path_for",
    "get_directory",
    "normalise_postcode",
]
