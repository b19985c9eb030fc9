"""The one line an operator sees when a command fails for a reason outside meshplane's code.

Missing credentials, an endpoint that does not answer, a bucket or table that does not exist,
a file that cannot be read: each is something to fix where the command runs, and a traceback
would only bury the sentence that says what.  Anything else is a bug and keeps its traceback.
botocore is never imported here unless one of its exceptions is already in hand.
"""

from __future__ import annotations

NO_CREDENTIALS = ("no AWS credentials found (environment variables, shared credentials and config files, SSO, "
                  "container or instance role)")  # fmt: skip
# AWS answers that no retry can change: the resource is not there, or the credentials are not valid.
_PERMANENT_CODES = frozenset({
    "NoSuchBucket", "ResourceNotFoundException", "InvalidAccessKeyId", "UnrecognizedClientException",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException",
})  # fmt: skip


def describe(exc: BaseException) -> str | None:
    """One line for a failure the operator can fix, following `raise ... from` causes; None for anything else."""
    line = _own_line(exc)
    if line is not None:
        return line
    inner = describe(exc.__cause__) if exc.__cause__ is not None else None
    return None if inner is None else f"{_first_line(str(exc))}: {inner}"


def cause_line(exc: BaseException) -> str:
    """The line of the AWS, file or network failure behind `exc` (itself included), else `exc`'s own first line."""
    cause: BaseException | None = exc
    while cause is not None:
        line = _own_line(cause)
        if line is not None:
            return line
        cause = cause.__cause__
    return _first_line(str(exc))


def aws_error_code(exc: BaseException) -> str | None:
    """The error code of the AWS answer behind `exc` (itself included), or None when AWS gave no answer."""
    cause: BaseException | None = exc
    while cause is not None:
        response = getattr(cause, "response", None) if _is_aws(cause) else None
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", "")) or None
        cause = cause.__cause__
    return None


def needs_operator(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a setup no retry can fix: credentials, the endpoint, a missing resource.

    Throttling, server errors and access denied are not: they may pass, or (access denied on a key
    the caller may not list) may mean only that an object is not there.
    """
    cause: BaseException | None = exc
    while cause is not None:
        if _is_aws(cause):
            from botocore.exceptions import (
                ClientError,
                EndpointConnectionError,
                NoCredentialsError,
                NoRegionError,
                PartialCredentialsError,
                ProfileNotFound,
            )

            if isinstance(cause, ClientError):
                return aws_error_code(cause) in _PERMANENT_CODES
            return isinstance(cause, (NoCredentialsError, PartialCredentialsError, ProfileNotFound, NoRegionError,
                                      EndpointConnectionError))  # fmt: skip
        cause = cause.__cause__
    return False


def _own_line(exc: BaseException) -> str | None:
    if _is_aws(exc):
        from botocore.exceptions import NoCredentialsError

        return NO_CREDENTIALS if isinstance(exc, NoCredentialsError) else _first_line(str(exc))
    if isinstance(exc, OSError):  # files, sockets and permissions: always about the host, never the code
        if exc.filename is not None:
            return f"{exc.filename}: {exc.strerror or _first_line(str(exc))}"
        return _first_line(str(exc))
    return None


def _is_aws(exc: BaseException) -> bool:
    """A botocore or boto3 exception, told by its module so that neither needs importing."""
    return type(exc).__module__.partition(".")[0] in ("botocore", "boto3")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "(no message)"
