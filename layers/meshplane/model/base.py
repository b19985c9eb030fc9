"""Base classes shared by every generated App Mesh shape."""

from __future__ import annotations

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
