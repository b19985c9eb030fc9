"""EventBridge's input paths parsed once each (`moto_event_paths`) fill every template as moto does."""

from __future__ import annotations

from typing import Any

import jsonpath_ng.ext
import pytest
from meshplane.local import moto_event_paths
from moto.events.utils import EventTemplateParser

EVENTS: list[dict[str, Any]] = [
    {"id": "1", "time": 1796315894, "detail-type": "ConfigPublished", "source": "meshplane.pipeline",
     "region": "us-east-1", "account": "123456789012", "resources": [], "detail": {"node": "a", "n": [1, 2]},
     "ingestion-time": 1},
    {"id": "2", "time": 1796315895, "detail-type": "Other", "source": "aws.servicediscovery",
     "region": "us-east-1", "account": "123456789012", "resources": ["arn:x"], "detail": {}, "ingestion-time": 2},
]
TEMPLATE = ('{"who": "<who>", "kind": "<kind>", "whole": <aws.events.event.json>}',
            {"who": "$.detail.node", "kind": "$.detail-type"})


def _filled() -> list[Any]:
    return [EventTemplateParser.parse(template, paths, event)
            for template, paths in [(None, {}), TEMPLATE] for event in EVENTS[:1]] + [
        EventTemplateParser.parse(None, {}, event) for event in EVENTS]


def test_templates_are_filled_as_moto_fills_them(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_event_paths.install()
    cached = _filled()
    monkeypatch.setattr(jsonpath_ng.ext, "parse", jsonpath_ng.ext.parse.__wrapped__)
    assert cached == _filled()
    assert cached[1]["who"] == "a" and cached[1]["kind"] == "ConfigPublished"


def test_each_path_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from jsonpath_ng.ext.parser import ExtendedJsonPathParser

    moto_event_paths.install()
    jsonpath_ng.ext.parse.cache_clear()
    parsed: list[str] = []
    original = ExtendedJsonPathParser.parse
    monkeypatch.setattr(ExtendedJsonPathParser, "parse", lambda self, path: parsed.append(path) or original(self, path))
    for _ in range(5):
        _filled()
    assert len(parsed) == len(set(parsed)) == len(set(EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP.values())
                                                  | set(TEMPLATE[1].values()))
