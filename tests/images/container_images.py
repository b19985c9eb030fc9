"""Build both images with `make images` and run them with podman: the ADS container serves gRPC on loopback, the
sidecar container renders its bootstrap, passes `envoy --mode validate`, gets its config from that ADS container and
carries traffic, and each image's own HEALTHCHECK passes.

No base image is pulled from a registry: the base is a Debian bookworm root filesystem that mmdebstrap assembles
from Debian's packages (what debian:bookworm-slim is made of), imported with `podman import`. The build itself
installs Debian packages and meshplane's PyPI dependencies.

Not collected by `pytest tests` (its name does not start with `test_`): it takes minutes and needs podman,
mmdebstrap and the Debian and PyPI mirrors. Run it with `make images-test`; a missing tool fails it with the
package to install.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery.harness import Aws, Publisher
from delivery.scenario import Scenario
from delivery.test_ads_traffic import answered_by
from meshplane.localnet.waiting import wait_until
from support import Lab
from support.ports import free_port

from .native import REPO

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(2400)]
BASE = "localhost/meshplane-test-base:bookworm"
VERSION = "test"
ADS_IMAGE = f"localhost/meshplane-ads:{VERSION}"
SIDECAR_IMAGE = f"localhost/meshplane-envoy:{VERSION}"


def require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    assert found, f"{tool} is missing: apt-get install -y {package}"
    return found


def runtime_flags() -> list[str]:
    """Flags every podman build and run gets here: runc where installed (crun refuses hybrid cgroup hosts), and
    rlimits within this process's own, which an unprivileged runtime cannot raise."""
    flags = ["--runtime", "runc"] if shutil.which("runc") else []
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 20000)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 1024)
    return [*flags, "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def pip_cert_flags() -> list[str]:
    """pip's CA bundle for the build when this host uses its own (a TLS-inspecting proxy), mounted read-only."""
    bundle = os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE")
    if not bundle or not Path(bundle).is_file():
        return []
    path = Path(bundle).resolve()
    return ["-v", f"{path.parent}:/etc/host-certs:ro", "--build-arg", f"PIP_CERT=/etc/host-certs/{path.name}"]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert result.returncode == 0, f"podman {' '.join(args)}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


def base_image(workdir: Path) -> str:
    """A bookworm minbase root filesystem from Debian's packages, as a local image (made once, then reused)."""
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return BASE
    tarball = workdir / "bookworm-minbase.tar"
    built = subprocess.run([require("mmdebstrap", "mmdebstrap"), "--variant=minbase", "--mode=root", "bookworm",
                            str(tarball), "http://deb.debian.org/debian"], capture_output=True, text=True,
                           timeout=900, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    podman("import", "--change", 'CMD ["bash"]', str(tarball), BASE, timeout=300)
    return BASE


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Both images, built by `make images` from this working tree."""
    require("podman", "podman")
    base = base_image(tmp_path_factory.mktemp("base"))
    flags = " ".join([*runtime_flags(), *pip_cert_flags()])
    built = subprocess.run(["make", "images", "CONTAINER=podman", f"IMAGE_BASE={base}", f"IMAGE_VERSION={VERSION}",
                            "IMAGE_REGISTRY=localhost/", f"IMAGE_BUILD_FLAGS={flags}"], cwd=REPO,
                           capture_output=True, text=True, timeout=2400, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    return ADS_IMAGE, SIDECAR_IMAGE


class Containers:
    """Detached containers on the host network (loopback is shared), removed at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def run(self, image: str, *args: str, env: dict[str, str] | None = None) -> str:
        name = f"meshplane-test-{uuid.uuid4().hex[:8]}"
        env_flags = [flag for key, value in (env or {}).items() for flag in ("-e", f"{key}={value}")]
        podman("run", "-d", "--name", name, "--network", "host", *runtime_flags(), *env_flags, image, *args)
        self.names.append(name)
        return name

    def healthy(self, name: str) -> bool:
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state != "running":
            raise AssertionError(f"{name} is {state}:\n{podman('logs', name, check=False).stderr[-3000:]}")
        return podman("healthcheck", "run", name, check=False).returncode == 0

    def close(self) -> None:
        for name in self.names:
            podman("rm", "-f", "-t", "2", name, check=False)


@pytest.fixture
def containers() -> Iterator[Containers]:
    running = Containers()
    try:
        yield running
    finally:
        running.close()


def test_the_images_run_as_their_users_with_the_sidecar_volumes_owned_by_envoy(images: tuple[str, str]) -> None:
    ads, sidecar = images
    assert podman("run", "--rm", *runtime_flags(), ads, "id", "-u").stdout.strip() == "10001"
    owners = podman("run", "--rm", *runtime_flags(), "--entrypoint", "stat", sidecar, "-c", "%u %a %n",
                    "/etc/meshplane/identity", "/etc/envoy/xds").stdout.split("\n")  # fmt: skip
    assert owners[:2] == ["1337 750 /etc/meshplane/identity", "1337 750 /etc/envoy/xds"]
    version = podman("run", "--rm", *runtime_flags(), "--entrypoint", "envoy", sidecar, "--version").stdout
    assert "/1.40." in version
    dev_tools = podman("run", "--rm", *runtime_flags(), ads, "sh", "-c", "ls /opt/meshplane/bin").stdout.split()
    assert "meshplane" in dev_tools and not {"pytest", "moto_server", "envoy", "sam"} & set(dev_tools)


def test_the_sidecar_renders_a_bootstrap_that_envoy_validates(images: tuple[str, str]) -> None:
    _, sidecar = images
    script = ("meshplane bootstrap --node-id mesh/shop/virtualNode/web --ads-address ads.internal:18000 --ads-delta "
              "> /tmp/envoy.json && envoy --mode validate -c /tmp/envoy.json -l error")  # fmt: skip
    result = podman("run", "--rm", *runtime_flags(), "--entrypoint", "sh", sidecar, "-c", script, check=False)
    assert result.returncode == 0 and "OK" in result.stdout, result.stdout + result.stderr


def test_the_sidecar_container_gets_its_config_from_the_ads_container_and_carries_traffic(
    images: tuple[str, str], containers: Containers, lab: Lab, aws: Aws, publisher: Publisher
) -> None:
    ads_image, sidecar = images
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot())
    port = free_port()
    aws_env = {key: value for key, value in aws.env().items() if key != "MESHPLANE_BUCKET"}
    ads = containers.run(ads_image, "meshplane", "ads", "--host", "127.0.0.1", f"--port={port}", "--bucket",
                         aws.bucket, "--queue-url", aws.queue_url, "--no-preload", env=aws_env)  # fmt: skip
    wait_until(lambda: containers.healthy(ads), 60, interval=1, what="the ADS container's health check")
    address = lab.pool.allocate((15000, 15001, 9901))
    try:
        envoy = containers.run(sidecar, "--mode", "ads", "--ads-address", f"127.0.0.1:{port}", "--bind-address",
                               address, env={"APPMESH_VIRTUAL_NODE_NAME": scenario.front.path,
                                             "ENVOY_LOG_LEVEL": "warning"})  # fmt: skip
        wait_until(lambda: _admin_live(containers, envoy, address), 60, interval=1, what="the sidecar to be LIVE")
        assert containers.healthy(envoy), "the image's HEALTHCHECK (admin /ready)"
        assert [answered_by(address)() for _ in range(3)] == ["back-v1"] * 3
    finally:
        lab.pool.release(address)


def _admin_live(containers: Containers, name: str, address: str) -> bool:
    """Envoy's /ready on its bind address, asked from inside the container (curl ships in the image)."""
    containers.healthy(name)  # raises with the logs if the container stopped
    ready = podman("exec", name, "curl", "-fsS", f"http://{address}:9901/ready", check=False)
    return ready.returncode == 0 and ready.stdout.strip() == "LIVE"
