"""The identity directory a proxy's Envoy reads its ADS credentials from, shared by `meshplane identity`
(which writes it) and `meshplane bootstrap` (which points Envoy at it).

    <root>/current -> gen-<n>/              the live generation (a relative symlink)
    <root>/gen-<n>/cert.pem, key.pem, ca.pem
    <root>/ads-client-certificate.json      SDS: the TlsCertificate, files under current/
    <root>/ads-trusted-ca.json              SDS: the CA the server certificate must chain to

Envoy's file-based SDS watches <root> (`watched_directory`). A renewal writes a new
generation, then renames a new symlink over `current`: one MovedTo event in <root>,
after which Envoy reads the certificate, key and CA of one generation together (Envoy's
documented key rotation), so it never pairs a new certificate with an old key.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from envoy.config.core.v3.config_source_pb2 import ApiVersion, ConfigSource
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse
from google.protobuf import json_format

CERTIFICATE_SECRET = "meshplane_ads_client_certificate"
TRUSTED_CA_SECRET = "meshplane_ads_trusted_ca"
KEEP_GENERATIONS = 2  # the live one and the one before, which Envoy may still be reading


@dataclass(frozen=True)
class IdentityLayout:
    root: Path

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def certificate(self) -> Path:
        return self.current / "cert.pem"

    @property
    def private_key(self) -> Path:
        return self.current / "key.pem"

    @property
    def trusted_ca(self) -> Path:
        return self.current / "ca.pem"

    @property
    def certificate_sds(self) -> Path:
        return self.root / "ads-client-certificate.json"

    @property
    def trusted_ca_sds(self) -> Path:
        return self.root / "ads-trusted-ca.json"

    def _source(self, path: Path) -> ConfigSource:
        source = ConfigSource(resource_api_version=ApiVersion.V3)
        source.path_config_source.path = str(path)
        source.path_config_source.watched_directory.path = str(self.root)
        return source

    def certificate_source(self) -> ConfigSource:
        return self._source(self.certificate_sds)

    def trusted_ca_source(self) -> ConfigSource:
        return self._source(self.trusted_ca_sds)

    def certificate_secret(self) -> Secret:
        secret = Secret(name=CERTIFICATE_SECRET)
        tls = secret.tls_certificate
        tls.certificate_chain.filename = str(self.certificate)
        tls.private_key.filename = str(self.private_key)
        tls.watched_directory.path = str(self.root)
        return secret

    def trusted_ca_secret(self) -> Secret:
        secret = Secret(name=TRUSTED_CA_SECRET)
        context = secret.validation_context
        context.trusted_ca.filename = str(self.trusted_ca)
        context.watched_directory.path = str(self.root)
        return secret

    def has_credentials(self) -> bool:
        return self.certificate.is_file() and self.certificate_sds.is_file()


def _sds_document(secret: Secret) -> bytes:
    response = DiscoveryResponse()
    response.resources.add().Pack(secret)
    return json_format.MessageToJson(response).encode()


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace(path: Path, data: bytes) -> None:
    """Rename a complete file over `path` (a MovedTo event for the watcher), only if its bytes change."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data:
            return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    _write(tmp, data, 0o644)
    tmp.replace(path)


def install(layout: IdentityLayout, chain: bytes, key: bytes, ca: bytes) -> Path:
    """Make a new generation live: files first, then the symlink swap, then the SDS files that point at it."""
    layout.root.mkdir(parents=True, exist_ok=True)
    generation = layout.root / f"gen-{time.time_ns()}"
    generation.mkdir(mode=0o700)
    _write(generation / "key.pem", key, 0o600)
    _write(generation / "cert.pem", chain, 0o644)
    _write(generation / "ca.pem", ca, 0o644)
    link = layout.root / ".current.tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(generation.name)
    link.replace(layout.current)
    _replace(layout.certificate_sds, _sds_document(layout.certificate_secret()))
    _replace(layout.trusted_ca_sds, _sds_document(layout.trusted_ca_secret()))
    _prune(layout, generation)
    return generation


def _prune(layout: IdentityLayout, live: Path) -> None:
    older = sorted((p for p in layout.root.glob("gen-*") if p != live), key=lambda p: p.name)
    for stale in older[: max(0, len(older) - (KEEP_GENERATIONS - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
