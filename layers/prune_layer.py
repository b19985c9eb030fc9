"""Prune a built Lambda layer to what the handlers can import: `python prune_layer.py <layer>/python`.

Why: xds-protos ships about 1,700 generated modules and depends on grpcio, but
the handlers import a few hundred of those modules and never grpc (only the ADS
server, a container, does).  The Lambda runtime already ships boto3 and its
dependencies, which aws-xray-sdk pulls in again.  Powertools, pydantic and our own
package carry subpackages no handler can reach (other Powertools utilities, the
mypy plugin, the local emulator, the ADS server, the CLIs).  Run by
`layers/Makefile` (`sam build`, BuildMethod makefile); plain Python, so it runs on
any host whatever the wheels' platform.

`BLOCKED` is the one list of what is pruned: tests/template/test_layer_pruning.py
runs every handler with its sample event while an import hook refuses exactly
these modules, and `check_nothing_kept_imports_pruned` fails the build if any
kept module imports one of them, even lazily inside a function.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "python_dateutil", "six")
# Whole distributions no handler imports, with their top-level modules.
NEVER_IMPORTED = {
    "grpcio": ("grpc",),  # only the ADS server (a container) uses gRPC
    "PyYAML": ("yaml", "_yaml"),  # only the local CLI, demo and bootstrap CLI; not in requirements.txt any more
    "cryptography": ("cryptography",),  # only the node CA and the identity agent (containers), the demo and tests
}
# Subpackages and modules nothing the handlers load imports, lazily or not (AST closure of functions/*/app.py).
PRUNED_MODULES = (
    "aws_lambda_powertools.utilities.auth_alpha",
    "aws_lambda_powertools.utilities.circuit_breaker",
    "aws_lambda_powertools.utilities.data_masking",
    "aws_lambda_powertools.utilities.feature_flags",
    "aws_lambda_powertools.utilities.kafka",
    "aws_lambda_powertools.utilities.metadata",
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.serialization",
    "aws_lambda_powertools.utilities.streaming",
    "pydantic.mypy",  # the mypy plugin, loaded by mypy only
    "pydantic.v1.mypy",
    "pydantic.v1._hypothesis_plugin",  # loaded by hypothesis only
    "pydantic.experimental",
    "meshplane.local",  # the local emulator
    "meshplane.demo",
    "meshplane.bootstrap",  # the Envoy bootstrap CLI
    "meshplane.delivery",  # the ADS server: a container with its own image
    "meshplane.identity",  # node identity: the ADS server's CA and exchange, the proxies' credentials agent
    "meshplane.apiproxy",  # a client-side tool (re-signs App Mesh calls for the deployed API), never run in Lambda
    "meshplane.localnet.pki",  # the throwaway CA of the demo and tests
    "meshplane.cli",
    "meshplane.awscli_plugin",
    "meshplane.migrate.sources",  # `meshplane import`'s file and account readers (YAML); the provider needs none
    "meshplane.migrate.cli",
)
BLOCKED = tuple(m for tops in NEVER_IMPORTED.values() for m in tops) + PRUNED_MODULES
# Data files no kept code reads: only `APIGatewayRestResolver.enable_swagger()` serves these, and we use no resolver.
PRUNED_FILES = (
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui.min.css",
)
# Never read at run time: type stubs, C sources, install records (stale once pruned), SBOMs, console scripts.
JUNK_SUFFIXES = (".pyi", ".c")
JUNK_IN_DIST_INFO = ("RECORD", "sboms")
PROTO_DIST = "xds_protos"


def is_blocked(module: str, blocked: Iterable[str] = BLOCKED) -> bool:
    return any(module == b or module.startswith(f"{b}.") for b in blocked)


def _dist_infos(site: Path, names: Iterable[str]) -> list[Path]:
    wanted = {n.lower().replace("-", "_") for n in names}
    return [p for p in site.glob("*.dist-info") if p.name.split("-")[0].lower().replace("-", "_") in wanted]


def remove_distributions(site: Path, names: Iterable[str]) -> None:
    """Delete whole installed distributions: their dist-info and every file its RECORD lists."""
    for info in _dist_infos(site, names):
        for line in (info / "RECORD").read_text().splitlines():
            path = site / line.split(",")[0]
            if path.is_file() and not path.is_relative_to(info):
                path.unlink()
        shutil.rmtree(info)


def remove_modules(site: Path, modules: Iterable[str]) -> None:
    """Delete each module (`x.py`) or package folder; a name missing from this version is reported, not fatal."""
    for module in modules:
        path = site.joinpath(*module.split("."))
        if path.is_dir():
            shutil.rmtree(path)
        elif path.with_suffix(".py").is_file():
            path.with_suffix(".py").unlink()
        else:
            print(f"prune_layer: {module} is not in this layer", file=sys.stderr)


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str | None = None) -> set[str]:
    """Absolute module names a Python file imports, lazy imports included.

    With the file's own module `name`, relative imports are resolved too.
    """
    found: set[str] = set()
    package = (name if path.name == "__init__.py" else name.rpartition(".")[0]) if name else None
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                module = node.module
            elif node.level and package is not None:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                continue
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def our_files(ours: Path) -> list[Path]:
    """Our package's Python files that stay in the layer."""
    return [f for f in ours.rglob("*.py") if not is_blocked(module_name(f, ours.parent), PRUNED_MODULES)]


def proto_modules(site: Path) -> dict[str, Path]:
    """Every generated module xds-protos installed in `site` (package `__init__` files excluded)."""
    (info,) = _dist_infos(site, [PROTO_DIST])
    files = [site / line.split(",")[0] for line in (info / "RECORD").read_text().splitlines()]
    return {module_name(p, site): p for p in files if p.suffix == ".py" and p.name != "__init__.py" and p.is_file()}


def proto_closure(sources: Iterable[Path], modules: dict[str, Path]) -> set[str]:
    """The generated modules `sources` import, closed over their own imports."""
    todo = [m for f in sources for m in imports_of(f) if m in modules]
    keep: set[str] = set()
    while todo:
        module = todo.pop()
        if module in keep:
            continue
        keep.add(module)
        todo.extend(m for m in imports_of(modules[module]) if m in modules)
    return keep


def prune_protos(site: Path, ours: Path) -> None:
    """Delete every module of xds-protos outside the closure of the code we keep (package `__init__` files stay)."""
    modules = proto_modules(site)
    keep = proto_closure(our_files(ours), modules)
    for module, path in modules.items():
        if module not in keep:
            path.unlink()


def check_nothing_kept_imports_pruned(site: Path) -> None:
    """Fail the build if a module left in the layer imports a pruned one anywhere (lazy imports too)."""
    offenders = sorted(
        f"{module_name(path, site)} imports {imported}"
        for path in site.rglob("*.py")
        for imported in imports_of(path, module_name(path, site))
        if is_blocked(imported)
    )
    if offenders:
        raise SystemExit("prune_layer: kept modules import pruned ones:\n  " + "\n  ".join(offenders))


def remove_junk(site: Path) -> None:
    for path in PRUNED_FILES:
        site.joinpath(path).unlink(missing_ok=True)
    junk = [
        *site.rglob("__pycache__"),
        *site.glob("*.egg-info"),
        *site.rglob("py.typed"),
        *site.glob("*-stubs"),
        *(p for p in site.rglob("*") if p.suffix in JUNK_SUFFIXES and p.is_file()),
        *(info / name for info in site.glob("*.dist-info") for name in JUNK_IN_DIST_INFO),
        site / "bin",
    ]
    for path in junk:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def prune(site: Path) -> None:
    remove_distributions(site, RUNTIME_PROVIDED + tuple(NEVER_IMPORTED))
    remove_modules(site, PRUNED_MODULES)
    prune_protos(site, site / "meshplane")
    remove_junk(site)  # last: the steps above read the RECORD files
    for directory in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    check_nothing_kept_imports_pruned(site)


if __name__ == "__main__":
    prune(Path(sys.argv[1]))
