"""Base classes shared by every generated App Mesh shape."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class AppMeshModel(BaseModel):
    """A structure of the App Mesh API: camelCase on the wire, unknown fields refused.

    `strict` keeps JSON `"5"` from passing as the integer 5, so a wrong type is a
    400 that names the field.  `defer_build` keeps Lambda cold starts small:
    a model's validator is built the first time it is used.
    """

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        strict=True,
        defer_build=True,
        frozen=False,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready camelCase form, without unset members."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class AppMeshUnion(AppMeshModel):
    """A botocore union: exactly one member must be set."""

    @model_validator(mode="after")
    def _exactly_one_member(self) -> AppMeshUnion:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            members = ", ".join(f.alias or n for n, f in type(self).model_fields.items())
            raise ValueError(f"exactly one of [{members}] must be set, got {len(chosen)}")
        return self

    @property
    def member(self) -> tuple[str, Any]:
        """The (python attribute name, value) of the member that is set."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise ValueError("empty union")


class AppMeshError(AppMeshModel):
    """An error shape; the API layer turns these into HTTP responses."""

    http_status: ClassVar[int] = 400


Factory = Callable[[], type[AppMeshModel]]


def lazy_module(
    module_name: str,
) -> tuple[Callable[..., Callable[[Factory], Factory]], Callable[[str], type[AppMeshModel]], Callable[[], list[str]]]:
    """`(shape, __getattr__, __dir__)` for a module whose classes are built on first lookup (PEP 562).

    Why: a cold start that built every generated class paid for all 228 while
    using a handful.  `@shape(*deps)` registers a factory `_<Name>`; looking up
    `<Name>` builds the classes its fields name first (their annotations are
    resolved in the module's namespace), then the class, and stores it in the module.
    """
    factories: dict[str, tuple[Factory, tuple[str, ...]]] = {}
    lock = threading.RLock()  # the local API server is threaded: one class object per name

    def shape(*deps: str) -> Callable[[Factory], Factory]:
        def register(factory: Factory) -> Factory:
            factories[factory.__name__.removeprefix("_")] = (factory, deps)
            return factory

        return register

    def build(name: str) -> type[AppMeshModel]:
        if name not in factories:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module = sys.modules[module_name]
        with lock:
            built = module.__dict__.get(name)
            if built is None:
                factory, deps = factories[name]
                for dep in deps:
                    getattr(module, dep)
                built = factory()
                built.__qualname__ = name
                setattr(module, name, built)
        return built  # type: ignore[no-any-return]

    def names() -> list[str]:
        return sorted({*vars(sys.modules[module_name]), *factories})

    return shape, build, names
