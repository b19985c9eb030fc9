"""Errors of the credential exchange, in App Mesh's shapes: HTTP status + `x-amzn-ErrorType` + `{"message"}`."""

from __future__ import annotations


class ExchangeError(Exception):
    status = 500
    error_type = "InternalServerErrorException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ExchangeError):
    status, error_type = 400, "BadRequestException"


class Forbidden(ExchangeError):
    status, error_type = 403, "ForbiddenException"


class NotFound(ExchangeError):
    status, error_type = 404, "NotFoundException"


class TooManyRequests(ExchangeError):
    status, error_type = 429, "TooManyRequestsException"


class ServiceUnavailable(ExchangeError):
    status, error_type = 503, "ServiceUnavailableException"


def access_denied(principal: str, action: str, resource: str) -> Forbidden:
    """IAM's own wording, so the message reads like any other AccessDenied."""
    return Forbidden(f"User: {principal} is not authorized to perform: {action} on resource: {resource}")
