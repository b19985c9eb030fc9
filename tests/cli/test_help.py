"""Every `meshplane` command's --help: help for each flag, its default, the variables it reads; --version."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from meshplane.cli import SUBCOMMAND_MODULES, build_parser

from .conftest import MESHPLANE

# The variables each command falls back to; each must be named in its --help.
EXPECTED_VARIABLES = {
    "ads": {"MESHPLANE_BUCKET", "MESHPLANE_TABLE", "AWS_REGION", "AWS_DEFAULT_REGION", "MESHPLANE_ACCOUNT_ID",
            "MESHPLANE_PARTITION", "MESHPLANE_CONFIG_TOPIC_ARN", "MESHPLANE_ADS_QUEUE_PREFIX",
            "MESHPLANE_CA_SECRET_ARN", "MESHPLANE_ADS_SERVER_NAME"},
    "agent": {"MESHPLANE_BUCKET", "AWS_REGION", "AWS_DEFAULT_REGION"},
    "identity": {"APPMESH_RESOURCE_ARN", "APPMESH_RESOURCE_NAME", "APPMESH_VIRTUAL_NODE_NAME",
                 "MESHPLANE_IDENTITY_ADDRESS", "MESHPLANE_ADS_ADDRESS", "MESHPLANE_ADS_SERVER_NAME",
                 "MESHPLANE_IDENTITY_DIR", "MESHPLANE_BUCKET", "AWS_REGION", "AWS_DEFAULT_REGION"},
    "bootstrap": {"APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME", "MESHPLANE_ADS_ADDRESS",
                  "APPMESH_XDS_ENDPOINT", "MESHPLANE_IDENTITY_DIR", "MESHPLANE_ADS_SERVER_NAME",
                  "ENVOY_ADMIN_ACCESS_PORT", "APPMESH_SDS_SOCKET_PATH", "ENABLE_ENVOY_XRAY_TRACING",
                  "ENABLE_ENVOY_DOG_STATSD", "ENABLE_ENVOY_STATS_TAGS", "MESHPLANE_BUCKET", "MESHPLANE_ENVOY_IMAGE",
                  "MESHPLANE_IDENTITY_ADDRESS"},
    "api-proxy": {"MESHPLANE_API_URL"},
    "console": {"MESHPLANE_API_URL"},
    "import": {"MESHPLANE_API_URL", "AWS_REGION", "AWS_DEFAULT_REGION"},
    "local up": {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "MESHPLANE_LOCAL_PROFILE_DIR"},
    "demo": set(),
    **{f"policy {verb}": {"MESHPLANE_API_URL"} for verb in ("create", "update", "describe", "list", "delete")},
    **{f"rollout {verb}": {"MESHPLANE_API_URL"} for verb in ("create", "list", "describe", "status", "delete",
                                                             "start", "pause", "resume", "abort", "promote")},
    "stats-collector": {"MESHPLANE_ROLLOUT_METRICS_NAMESPACE", "AWS_REGION", "AWS_DEFAULT_REGION"},
}  # fmt: skip


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(name, parser) of every runnable command, nested ones (`local up`) included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name))
    if path and parser.get_default("func") is not None:
        yield " ".join(path), parser


def option_entries(help_text: str) -> dict[str, str]:
    """Each option's entry in a --help text, keyed by each of its option strings."""
    entries: dict[str, str] = {}
    for block in re.split(r"\n(?=  -)", help_text):
        head = block.lstrip()
        if not head.startswith("-"):
            continue
        for flag in re.findall(r"(?:^|, )(--?[\w-]+)", head.splitlines()[0]):
            entries[flag] = " ".join(block.split())
    return entries


def commands_with(env: dict[str, str]) -> dict[str, Any]:
    return dict(commands(build_parser(env)))


def test_every_command_is_covered() -> None:
    assert set(commands_with({})) == set(EXPECTED_VARIABLES)


@pytest.mark.parametrize("name", sorted(EXPECTED_VARIABLES))
def test_every_flag_has_help_that_shows_its_default(name: str) -> None:
    parser = commands_with({})[name]
    entries = option_entries(parser.format_help())
    flags = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert flags or name == "demo"
    for action in flags:
        assert action.help, f"meshplane {name} {action.option_strings[0]} has no help"
        entry = entries[action.option_strings[-1]]
        assert "default" in entry.lower() or action.required, f"meshplane {name}: {entry}"


@pytest.mark.parametrize("name", sorted(EXPECTED_VARIABLES))
def test_help_names_the_variables_the_command_reads(name: str) -> None:
    text = " ".join(commands_with({})[name].format_help().split())
    for variable in EXPECTED_VARIABLES[name]:
        assert variable in text, f"meshplane {name} --help does not name {variable}"


class Recording(dict[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize("module_name", SUBCOMMAND_MODULES)
def test_every_variable_a_command_reads_is_named_in_its_help(module_name: str) -> None:
    env = Recording()
    parser = argparse.ArgumentParser(prog="meshplane")
    importlib.import_module(module_name).register(parser.add_subparsers(dest="command"), env)
    text = " ".join(" ".join(p.format_help().split()) for _, p in commands(parser))
    assert not {name for name in env.asked if name not in text}, module_name


def test_a_variable_is_the_default_and_a_flag_wins_over_it() -> None:
    env = {"MESHPLANE_BUCKET": "from-env", "AWS_DEFAULT_REGION": "eu-west-1", "MESHPLANE_CONFIG_TOPIC_ARN": "t"}
    assert build_parser(env).parse_args(["ads"]).bucket == "from-env"
    assert build_parser(env).parse_args(["ads", "--bucket", "flag"]).bucket == "flag"
    assert build_parser(env).parse_args(["ads"]).region == "eu-west-1"
    assert build_parser({**env, "AWS_REGION": "ap-south-1"}).parse_args(["agent", "--node-id", "mesh/m/virtualNode/n",
                                                                         "--dir", "x"]).region == "ap-south-1"
    assert build_parser(env).parse_args(["ads"]).topic_arn == "t"
    assert "(default: from-env) [env: MESHPLANE_BUCKET]" in " ".join(commands_with(env)["agent"].format_help().split())


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    done = subprocess.run([MESHPLANE, "--version"], capture_output=True, text=True, timeout=60, check=False,
                          cwd=tmp_path)  # fmt: skip
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, f"meshplane {version('meshplane')}", "")
    assert "--version" in build_parser({}).format_help()
