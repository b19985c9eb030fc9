"""Every Dockerfile in the repository is hadolint-clean, every rule it ignores says why on the line above, and the
images agree with the code that runs in them (entrypoint path, UID, the volume paths task definitions mount)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from meshplane.bootstrap.command import ENTRYPOINT, HEALTH_CHECK
from meshplane.bootstrap.options import DEFAULT_FILE_DIR
from meshplane.bootstrap.platforms import IGNORED_UID
from meshplane.identity.defaults import DEFAULT_IDENTITY_DIR

from .native import IMAGE_DIR, REPO

HADOLINT = str(Path(sys.executable).with_name("hadolint"))
SKIPPED = {".git", ".venv", ".venv-checkov", ".aws-sam", "node_modules"}
IGNORE = re.compile(r"^#\s*hadolint\s+ignore=")


def dockerfiles() -> list[Path]:
    found = [p for p in REPO.rglob("*Dockerfile*") if p.is_file() and not p.name.endswith(".dockerignore")
             and not SKIPPED.intersection(p.relative_to(REPO).parts)]  # fmt: skip
    assert IMAGE_DIR / "Dockerfile" in found
    return sorted(found)


def stage(name: str) -> str:
    """The text of one build stage of the images' Dockerfile."""
    text = (IMAGE_DIR / "Dockerfile").read_text()
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", text, re.M | re.S)
    assert match, f"no stage {name}"
    return match[1]


def test_every_dockerfile_is_hadolint_clean() -> None:
    for path in dockerfiles():
        result = subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True, timeout=60,
                                check=False)  # fmt: skip
        assert result.returncode == 0 and not result.stdout.strip(), f"{path}:\n{result.stdout}{result.stderr}"


def test_every_ignored_rule_has_a_reason_on_the_line_above() -> None:
    for path in dockerfiles():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if IGNORE.match(line):
                above = lines[number - 1] if number else ""
                assert above.startswith("#") and not IGNORE.match(above) and len(above.strip("# ")) > 10, (
                    f"{path}:{number + 1}: say why on the line above {line!r}"
                )


def test_the_sidecar_image_runs_the_entrypoint_as_the_ignored_uid_with_its_volumes_owned_by_it() -> None:
    sidecar = stage("sidecar")
    assert f'ENTRYPOINT ["{ENTRYPOINT}"]' in sidecar
    assert f"COPY envoy_bootstrap/image/meshplane-envoy {ENTRYPOINT}\n" in sidecar
    assert f"USER {IGNORED_UID}\n" in sidecar and f"--uid {IGNORED_UID}" in sidecar
    owned = re.search(r"install -d -o envoy -g envoy -m 0750 (.+)\n", sidecar)
    assert owned and set(owned[1].split()) == {DEFAULT_IDENTITY_DIR, DEFAULT_FILE_DIR}
    assert f'VOLUME ["{DEFAULT_IDENTITY_DIR}", "{DEFAULT_FILE_DIR}"]' in sidecar, "ECS copies a VOLUME's owner"
    assert f"CMD {json.dumps(['sh', '-c', HEALTH_CHECK])}\n" in sidecar, "the task definitions' health check"
    assert "COPY --from=build-sidecar /opt/meshplane /opt/meshplane" in sidecar


def test_the_ads_image_runs_meshplane_ads_as_a_user_with_only_the_runtime_install() -> None:
    ads = stage("ads")
    assert "COPY --from=build /opt/meshplane /opt/meshplane" in ads, "no Envoy, no dev extras in the ADS image"
    assert re.search(r"^USER (\d+)$", ads, re.M) and "USER 0" not in ads
    assert 'CMD ["meshplane", "ads"]' in ads and "ENTRYPOINT" not in ads, "the template's Command is the argv"
    assert 'HEALTHCHECK' in ads and "meshplane-ads-health" in ads
    assert re.search(r"^RUN pip install --no-cache-dir /src$", stage("build"), re.M), "no [dev] extra"
