"""File mode on EC2 or on premises: `meshplane bootstrap --emit systemd-agent` prints the file agent's unit, which
passes the agent its bucket and its table (where it records its Envoy's status) and starts before Envoy's unit.
The committed example in envoy_bootstrap/ec2/ is what the generator prints."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest
from meshplane.cli import build_parser, main

from .test_bootstrap import REPO

Emit = Callable[..., tuple[int, str, str]]

NODE = "mesh/shop/virtualNode/web"
BUCKET = "meshplane-snapshotbucket-1a2b3c4d5e6f"
TABLE = "meshplane-StateTable-1A2B3C4D5E6F"
AGENT_ARGS = ("--node-id", NODE, "--mode", "file", "--emit", "systemd-agent", "--bucket", BUCKET, "--table", TABLE)


@pytest.fixture
def bootstrap(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Emit:
    """`meshplane bootstrap <args>` in this process, without the variables that would stand in for flags:
    (exit status, stdout, stderr)."""
    for name in ("MESHPLANE_BUCKET", "MESHPLANE_TABLE", "APPMESH_VIRTUAL_NODE_NAME", "APPMESH_RESOURCE_ARN"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["bootstrap", *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def unit_lines(unit: str, key: str) -> list[str]:
    """The values of `key=` lines, with systemd's `%%` and `$$` read back."""
    return [line.split("=", 1)[1].replace("%%", "%").replace("$$", "$") for line in unit.splitlines()
            if line.startswith(f"{key}=")]  # fmt: skip


def test_the_agent_unit_runs_the_agent_with_its_bucket_and_table_before_envoy(bootstrap: Emit) -> None:
    unit = bootstrap(*AGENT_ARGS, "--file-dir", "/srv/xds dir", "--bind-address", "10.1.2.3")[1]
    env = dict(v.split("=", 1) for v in unit_lines(unit, "Environment"))
    assert env == {"MESHPLANE_BUCKET": BUCKET, "MESHPLANE_TABLE": TABLE}
    assert "User=1337" in unit and "Before=meshplane-envoy.service" in unit
    prepare, first = unit_lines(unit, "ExecStartPre")
    assert shlex.split(prepare.removeprefix("+"))[-1] == "/srv/xds dir"  # made for UID 1337 by root
    for command, once in ((first, True), (unit_lines(unit, "ExecStart")[0], False)):
        argv = shlex.split(command)
        assert argv[0] == "/usr/local/bin/meshplane"
        args = build_parser(env).parse_args(argv[1:])
        assert (args.table, args.bucket, args.once) == (TABLE, BUCKET, once)
        assert (str(args.node_id), str(args.dir), args.bind_address) == (NODE, "/srv/xds dir", "10.1.2.3")


def test_envoys_unit_starts_after_the_agent_in_file_mode_only(bootstrap: Emit) -> None:
    file_mode = bootstrap("--node-id", NODE, "--mode", "file", "--emit", "systemd")[1]
    assert "After=network-online.target meshplane-agent.service\n" in file_mode
    assert "Wants=network-online.target meshplane-agent.service\n" in file_mode
    ads = bootstrap("--node-id", NODE, "--emit", "systemd", "--ads-address", "ads.internal:18000")[1]
    assert "meshplane-agent" not in ads


@pytest.mark.parametrize(("args", "named"), [
    (AGENT_ARGS[:-2], "--table (the stack's StateTableName"),
    (AGENT_ARGS[:-4] + AGENT_ARGS[-2:], "--bucket (the stack's SnapshotBucketName"),
    (AGENT_ARGS[:2] + AGENT_ARGS[4:], "file mode"),
], ids=["no-table", "no-bucket", "ads-mode"])  # fmt: skip
def test_what_the_agent_cannot_do_without_is_a_clear_error(bootstrap: Emit, args: tuple[str, ...],
                                                           named: str) -> None:
    status, _, err = bootstrap(*args)
    assert status == 2 and named in err and "meshplane bootstrap:" in err


def test_the_committed_example_is_what_the_generator_prints(bootstrap: Emit) -> None:
    example = REPO / "envoy_bootstrap" / "ec2" / "meshplane-agent.service"
    printed = bootstrap("--node-id", "mesh/my-mesh/virtualNode/my-node", "--mode", "file", "--emit", "systemd-agent",
                        "--bucket", "my-stack-snapshotbucket-example", "--table", "my-stack-StateTable-example")
    assert printed[0] == 0 and example.read_text() == printed[1]
