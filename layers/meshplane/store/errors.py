"""Domain errors of the store and the API, one per App Mesh exception.

`code` is the App Mesh exception name without the `Exception` suffix; the API
layer turns it into the status and `x-amzn-ErrorType` header botocore expects.
"""

from __future__ import annotations


class MeshplaneError(Exception):
    """Base of every error a client may see; the message is shown as is."""

    code = "InternalServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(MeshplaneError):
    code = "BadRequest"


class NotFound(MeshplaneError):
    code = "NotFound"


class Conflict(MeshplaneError):
    code = "Conflict"


class ResourceInUse(MeshplaneError):
    code = "ResourceInUse"


class LimitExceeded(MeshplaneError):
    code = "LimitExceeded"


class TooManyTags(MeshplaneError):
    code = "TooManyTags"


class TooManyRequests(MeshplaneError):
    code = "TooManyRequests"


class Forbidden(MeshplaneError):
    code = "Forbidden"


class InternalServerError(MeshplaneError):
    code = "InternalServerError"
