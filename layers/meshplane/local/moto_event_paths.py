"""EventBridge's input paths in the emulator are parsed once each, not once per event and target.

To deliver an event to an SQS target, moto fills its input template from eight JSONPath
expressions, and `jsonpath_ng.ext.parse` builds a new parser (its lexer and grammar tables)
for every expression of every event: most of the emulator's CPU in a PutEvents of one
ConfigPublished. The expressions are always the same few strings and a parsed path is
only read (`find`), so each is parsed once and kept.
"""

from __future__ import annotations

import functools

_INSTALLED = "_meshplane_cached"
CACHED_PATHS = 512


def install() -> None:
    import jsonpath_ng.ext

    # jsonpath_ng.ext re-exports `parse` without declaring it, which mypy refuses as an attribute
    parse = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    if getattr(parse, _INSTALLED, False):
        return
    cached = functools.lru_cache(maxsize=CACHED_PATHS)(parse)
    setattr(cached, _INSTALLED, True)
    setattr(jsonpath_ng.ext, "parse", cached)  # noqa: B010
