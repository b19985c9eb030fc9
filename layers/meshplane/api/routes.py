"""The route table of the API, derived once from the botocore service model.

Nothing here is typed by hand: each operation's method, path template and
member locations come from `appmesh/2019-01-25`, and its input and output
shapes are the generated pydantic models of the same names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from meshplane.api.strict_json import shown
from meshplane.model import shapes
from meshplane.store.errors import NotFound

SERVICE = "appmesh"
API_VERSION = "2019-01-25"


@dataclass(frozen=True)
class Operation:
    """One App Mesh operation as botocore describes it."""

    name: str
    method: str
    pattern: re.Pattern[str]
    uri_members: tuple[str, ...]
    query_members: dict[str, tuple[str, str]]  # query name -> (member name, botocore shape type)
    body_members: frozenset[str]
    output_payload: str | None
    input_name: str
    output_name: str

    @property
    def input_model(self) -> type[shapes.AppMeshModel]:
        """Looked up on use: building the table must not build every operation's shapes (see `model.base`)."""
        model: type[shapes.AppMeshModel] = getattr(shapes, self.input_name)
        return model

    @property
    def output_model(self) -> type[shapes.AppMeshModel]:
        model: type[shapes.AppMeshModel] = getattr(shapes, self.output_name)
        return model


def _path_pattern(template: str) -> re.Pattern[str]:
    pieces = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        f"(?P<{piece[1:-1].rstrip('+')}>[^/]+)" if piece.startswith("{") else re.escape(piece) for piece in pieces
    )
    return re.compile(f"^{regex}$")


def _load_model() -> dict[str, Any]:
    """The App Mesh model from botocore's data, read from its own folder (`wiring.one_service_loader`): botocore's
    `Loader()` would first list every service folder to check that appmesh is among them."""
    from meshplane.pipeline.wiring import one_service_loader  # only when the table is first built

    model: dict[str, Any] = one_service_loader(None).load_service_model(SERVICE, "service-2", API_VERSION)
    return model


@lru_cache(maxsize=1)
def operations() -> tuple[Operation, ...]:
    """Every operation of the service model, built once per process."""
    model = _load_model()
    shape_defs = model["shapes"]
    table = []
    for name, op in sorted(model["operations"].items()):
        input_name = op["input"]["shape"]
        members = shape_defs[input_name]["members"]
        uri, query, body = [], {}, set()
        for member, spec in members.items():
            location = spec.get("location")
            if location == "uri":
                uri.append(member)
            elif location == "querystring":
                query[spec.get("locationName", member)] = (member, shape_defs[spec["shape"]]["type"])
            else:
                body.add(member)
        output_name = op["output"]["shape"]
        table.append(
            Operation(
                name=name,
                method=op["http"]["method"],
                pattern=_path_pattern(op["http"]["requestUri"]),
                uri_members=tuple(uri),
                query_members=query,
                body_members=frozenset(body),
                output_payload=shape_defs[output_name].get("payload"),
                input_name=input_name,
                output_name=output_name,
            )
        )
    return tuple(table)


def match(method: str, path: str) -> tuple[Operation, dict[str, str]]:
    """The operation serving `method path` and its decoded URI labels; NotFound otherwise."""
    path_matched = False
    for op in operations():
        found = op.pattern.match(path)
        if found is None:
            continue
        path_matched = True
        if op.method == method:
            return op, {label: unquote(value) for label, value in found.groupdict().items()}
    if path_matched:
        raise NotFound(f"{shown(method)} is not supported on {shown(path)}")
    raise NotFound(f"no App Mesh operation at {shown(path)}")


@dataclass(frozen=True)
class ProxyRoute:
    """One of meshplane's own proxy reads (`api.proxy_status`), beside the App Mesh operations."""

    name: str
    pattern: re.Pattern[str]
    method: str = "GET"


PROXY_ROUTES = (
    ProxyRoute("ListProxies", _path_pattern("/meshplane/v1/meshes/{meshName}/proxies")),
    ProxyRoute("DescribeProxyConfig",
               _path_pattern("/meshplane/v1/meshes/{meshName}/virtualNodes/{virtualNodeName}/config")),
    ProxyRoute("DescribeProxyConfig",
               _path_pattern("/meshplane/v1/meshes/{meshName}/virtualGateways/{virtualGatewayName}/config")),
)


def match_proxy_read(method: str, path: str) -> tuple[ProxyRoute, dict[str, str]] | None:
    """The proxy read at `method path` and its decoded labels; None when the path is none of them."""
    for route in PROXY_ROUTES:
        found = route.pattern.match(path)
        if found is not None:
            if method != route.method:
                raise NotFound(f"{shown(method)} is not supported on {shown(path)}")
            return route, {label: unquote(value) for label, value in found.groupdict().items()}
    return None
