"""The authorization section refuses bad input at the location the API's BadRequest names."""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.model.policy.authorization import Authorization
from pydantic import ValidationError


def _refused(body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        Authorization.model_validate(body)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return ".".join(str(part) for part in errors[0]["loc"]), errors[0]["msg"]


def test_a_node_caller_is_its_spiffe_id_in_the_sections_trust_domain() -> None:
    section = Authorization.model_validate({"trustDomain": "corp.example", "rules": [
        {"action": "ALLOW", "from": [{"virtualNode": "front"}, {"virtualGateway": "edge"}]}]})
    callers = section.rules[0].from_ or []
    assert [c.spiffe_id(section.trust_domain, "shop") for c in callers] == [
        "spiffe://corp.example/mesh/shop/virtualNode/front", "spiffe://corp.example/mesh/shop/virtualGateway/edge"]
    assert section.wire()["rules"][0]["from"][0] == {"virtualNode": "front"}


@pytest.mark.parametrize(("body", "where", "says"), [
    ({"rules": []}, "rules", "at least 1 item"),
    ({"rules": [{"action": "ALLOW", "from": [{}]}]}, "rules.0.from.0", "exactly one of subjectAlternativeName"),
    ({"rules": [{"action": "ALLOW", "from": [{"virtualNode": "a", "virtualGateway": "b"}]}]}, "rules.0.from.0",
     "exactly one of"),
    ({"rules": [{"action": "ALLOW", "from": [{"subjectAlternativeName": {"exact": "a", "type": "EMAIL"}}]}]},
     "rules.0.from.0.subjectAlternativeName.type", "'DNS', 'URI' or 'ANY'"),
    ({"rules": [{"action": "ALLOW", "from": [{"virtualNode": "a/b"}]}]}, "rules.0.from.0.virtualNode", ""),
    ({"rules": [{"action": "ALLOW", "to": {"paths": [{"prefix": "api"}]}}]}, "rules.0.to.paths.0",
     "must start with '/'"),
    ({"rules": [{"action": "ALLOW", "to": {"methods": ["GET", "GET"]}}]}, "rules.0.to", "a method twice"),
    ({"rules": [{"action": "ALLOW", "to": {"methods": ["FETCH"]}}]}, "rules.0.to.methods.0", "Input should be"),
    ({"rules": [{"action": "ALLOW", "to": {}}]}, "rules.0.to", "at least one of paths or methods"),
    ({"rules": [{"name": "x", "action": "ALLOW"}, {"name": "x", "action": "DENY", "to": {"methods": ["GET"]}}]},
     "", "two rules have the same name"),
    ({"trustDomain": "Corp/Example", "rules": [{"action": "ALLOW"}]}, "", "a SPIFFE trust domain"),
    ({"rules": [{"action": "ALLOW", "from": [{"virtualNode": "a"}]}, {"action": "DENY", "from": [
        {"virtualNode": "a"}]}]}, "", "rules[1]: denies exactly what an ALLOW rule allows"),
])
def test_bad_input_names_the_field(body: dict[str, Any], where: str, says: str) -> None:
    location, message = _refused(body)
    assert location == where and says in message, (location, message)
