"""Cut a built Lambda layer down to what the handlers run: `python prune_layer.py <layer>/python`.

Run by `layers/Makefile` (`sam build`, BuildMethod makefile) once pip has installed the
Lambda platform's wheels of layers/requirements.txt and `meshplane/` is copied beside
them; plain Python, so it runs on any host whatever the wheels' platform.

Our package, by construction: meshplane is split into products, and the layer holds two of
them, the core and the aws side, exactly as the import-linter contracts `core` and `aws` of
pyproject.toml name them (their source modules).  Those contracts forbid them to import the
other products (the ADS server, the tools, the developer tools), so nothing left out can be
missed.  sam build runs this script and the Makefile from the source tree (`make --makefile
<source>/layers/Makefile`), which is how the project's pyproject.toml is found beside it.

Third-party trimming, all of it for code no handler loads:
- the boto3 family, which the Lambda runtime already ships (aws-xray-sdk pulls it in again);
- whole distributions no handler imports (`NEVER_IMPORTED`);
- xds-protos' generated modules outside the closure of what our kept code imports (it ships
  about 1,700; the translator uses a few hundred);
- subpackages of Powertools, pydantic, the X-Ray SDK and protobuf no handler reaches
  (`PRUNED_MODULES`), modules whose importer carries on without them (`OPTIONAL_MODULES`:
  wrapt's C accelerator, X-Ray patchers of libraries Lambda lacks), and what nothing reads at
  run time (type stubs, C sources, install records, the long descriptions in METADATA).

Our own modules lose their docstrings and comments (`without_documentation`), every line kept in
place so tracebacks still name the repository's lines: nothing in a handler reads them.

`BLOCKED` names every module the layer lacks: tests/template/test_layer_pruning.py runs every
handler with its sample event while an import hook refuses them, and
`check_nothing_kept_imports_pruned` fails the build if a kept module imports one anywhere,
even lazily inside a function, unless `UNREACHED_IMPORTS` says why that import never runs.
"""

from __future__ import annotations

import ast
import io
import shutil
import sys
import tokenize
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPROJECT = HERE.parent / "pyproject.toml"
OUR_PACKAGE = "meshplane"
# The import-linter contracts whose source modules are the layer's share of our package.
LAYER_CONTRACTS = ("core", "aws")

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "python_dateutil", "six")
# Whole distributions no handler imports, with their top-level modules.
NEVER_IMPORTED = {
    "grpcio": ("grpc",),  # only the ADS server (a container) uses gRPC
    "PyYAML": ("yaml", "_yaml"),  # only the tools (bootstrap's custom files, meshplane import) and the demo
    "cryptography": ("cryptography",),  # only the node CA and the identity agent (containers), the demo and tests
}
# Subpackages and modules no handler loads, checked both ways: the probe refuses them while each handler runs,
# and no kept module imports them, lazily or not, but for the UNREACHED_IMPORTS below.
PRUNED_MODULES = (
    # Powertools utilities and event sources no function uses
    "aws_lambda_powertools.event_handler",  # HTTP resolvers: the API routes requests itself (meshplane.api.routes)
    "aws_lambda_powertools.metrics.provider.datadog",  # metrics go to CloudWatch EMF
    "aws_lambda_powertools.utilities.auth_alpha",
    "aws_lambda_powertools.utilities.circuit_breaker",
    "aws_lambda_powertools.utilities.data_masking",
    "aws_lambda_powertools.utilities.feature_flags",
    "aws_lambda_powertools.utilities.idempotency.persistence.cache",  # idempotency records live in DynamoDB
    "aws_lambda_powertools.utilities.idempotency.persistence.redis",
    "aws_lambda_powertools.utilities.kafka",
    "aws_lambda_powertools.utilities.metadata",
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.serialization",
    "aws_lambda_powertools.utilities.streaming",
    "aws_lambda_powertools.utilities.validation",  # JSON Schema; pydantic validates at our edges
    "aws_lambda_powertools.utilities.data_classes.active_mq_event",
    "aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event",
    "aws_lambda_powertools.utilities.data_classes.appsync_authorizer_event",
    "aws_lambda_powertools.utilities.data_classes.cognito_user_pool_event",
    "aws_lambda_powertools.utilities.data_classes.iot_registry_event",
    "aws_lambda_powertools.utilities.data_classes.rabbit_mq_event",
    "aws_lambda_powertools.utilities.data_classes.s3_object_event",
    "aws_lambda_powertools.utilities.parser",  # event parsing with pydantic models; see UNREACHED_IMPORTS
    # pydantic: the v1 compatibility API and what only mypy or hypothesis load (meshplane's models are v2), and the
    # network types (URLs, e-mail, IP address unions), which no model uses: model.addresses checks addresses itself
    "pydantic.v1",
    "pydantic.deprecated",
    "pydantic.mypy",
    "pydantic.experimental",
    "pydantic.networks",
    "pydantic.color",  # the deprecated Color type, which nothing imports but a model that uses it
    # the X-Ray SDK's middleware for web frameworks and its aiohttp extension (patch_all does not patch aiohttp)
    *(f"aws_xray_sdk.ext.{name}" for name in ("aiohttp", "bottle", "django", "flask", "flask_sqlalchemy",
                                              "sqlalchemy")),
    # test helpers shipped inside packages
    "annotated_types.test_cases",
    "google.protobuf.internal.json_format_benchmark",
    "google.protobuf.internal.message_benchmark",
    "google.protobuf.internal.testing_refleaks",
)
# Modules whose importer catches their absence and carries on: wrapt's C accelerator (wrapt then runs the same
# wrappers in Python; a wrapped call takes under a microsecond with either, by timeit, next to the botocore call it
# wraps) and the X-Ray SDK's patchers of libraries the Lambda runtime does not have (`patch_all` tries each one and
# skips those that fail to import, as it would there without them).  The probe lets these, and only these, be refused.
OPTIONAL_MODULES = (
    "wrapt._wrappers",
    *(
        f"aws_xray_sdk.ext.{library}"
        for library in ("aiobotocore", "httpx", "mysql", "pg8000", "psycopg", "psycopg2", "pymongo", "pymysql",
                        "pynamodb", "requests", "sqlalchemy_core")
    ),
)
# What no kept module may import.
NOT_IMPORTED = (*(m for tops in NEVER_IMPORTED.values() for m in tops), *PRUNED_MODULES)
# Lazy imports of pruned modules on paths no handler takes: (importer, pruned module, why it never runs).
UNREACHED_IMPORTS = (
    ("pydantic", "pydantic.networks", "only when a network type (AnyUrl, EmailStr ...) is looked up on pydantic"),
    ("pydantic", "pydantic.deprecated", "only when a v1 name (validator, BaseConfig ...) is looked up on pydantic"),
    ("pydantic.main", "pydantic.deprecated", "only from the v1 methods (dict(), json(), parse_obj(), copy() ...)"),
    ("pydantic._internal._generate_schema", "pydantic.v1", "only for a type with v1's __get_validators__"),
    ("aws_lambda_powertools.tracing.extensions", "aws_xray_sdk.ext.aiohttp",
     "only from aiohttp_trace_config, for aiohttp clients, which no handler has"),
    ("aws_lambda_powertools.shared.functions", "aws_lambda_powertools.event_handler",
     "only to serialise a pydantic model into an idempotency record; meshplane's records are dicts"),
    # The SQS handlers import the batch utility while pydantic is not loaded yet (otherwise the probe's
    # ecs_events and cloudmap_events runs would be refused the parser, and would build record models they never use).
    ("aws_lambda_powertools.utilities.batch.types", "aws_lambda_powertools.utilities.parser",
     "only when pydantic was imported before Powertools' batch utility"),
)
# Never read at run time: type stubs, C sources, install records (stale once pruned), SBOMs, console scripts.
JUNK_SUFFIXES = (".pyi", ".c")
JUNK_IN_DIST_INFO = ("RECORD", "sboms")
PROTO_DIST = "xds_protos"
EXTENSION_SUFFIXES = (".so", ".pyd")


def is_blocked(module: str, blocked: Iterable[str]) -> bool:
    return any(module == b or module.startswith(f"{b}.") for b in blocked)


def layer_modules(pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """Our modules in the layer: the source modules of the `LAYER_CONTRACTS` import-linter contracts."""
    contracts = {c.get("id"): c for c in tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]}
    missing = [c for c in LAYER_CONTRACTS if c not in contracts]
    if missing:
        raise SystemExit(f"prune_layer: {pyproject} has no import-linter contract with id {', '.join(missing)}")
    return tuple(m for c in LAYER_CONTRACTS for m in contracts[c]["source_modules"])


def left_out(package: Path, keep: Sequence[str]) -> list[str]:
    """The outermost modules and subpackages of `package` that are neither in `keep` nor hold a module of it."""
    found: list[str] = []

    def walk(folder: Path, name: str) -> None:
        for child in sorted(folder.iterdir()):
            if child.is_dir() and (child / "__init__.py").is_file():
                module = f"{name}.{child.name}"
            elif child.suffix == ".py" and child.name != "__init__.py":
                module = f"{name}.{child.stem}"
            else:
                continue
            if is_blocked(module, keep):
                continue
            if child.is_dir() and any(k.startswith(f"{module}.") for k in keep):
                walk(child, module)
            else:
                found.append(module)

    walk(package, package.name)
    return found


OURS_LEFT_OUT = tuple(left_out(HERE / OUR_PACKAGE, layer_modules()))
# Every module the layer lacks: what the probe's import hook refuses.
BLOCKED = NOT_IMPORTED + OPTIONAL_MODULES + OURS_LEFT_OUT


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


def module_paths(site: Path, module: str) -> list[Path]:
    """Where `module` lives under `site`: a package folder, a `.py` file or compiled extension files."""
    path = site.joinpath(*module.split("."))
    if path.is_dir():
        return [path]
    if path.with_suffix(".py").is_file():
        return [path.with_suffix(".py")]
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.glob(f"{path.name}.*") if p.suffix in EXTENSION_SUFFIXES]


def remove_modules(site: Path, modules: Iterable[str]) -> None:
    """Delete each module, package or extension; a name missing from this version is reported, not fatal."""
    for module in modules:
        paths = module_paths(site, module)
        if not paths:
            print(f"prune_layer: {module} is not in this layer", file=sys.stderr)
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


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
    out = left_out(ours, layer_modules())
    return [f for f in ours.rglob("*.py") if not is_blocked(module_name(f, ours.parent), out)]


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


def _unreached(importer: str, imported: str) -> bool:
    return any(importer == i and is_blocked(imported, [m]) for i, m, _ in UNREACHED_IMPORTS)


def check_nothing_kept_imports_pruned(site: Path, blocked: Sequence[str] = NOT_IMPORTED + OURS_LEFT_OUT) -> None:
    """Fail the build if a module left in the layer imports a pruned one anywhere (lazy imports too)."""
    offenders = sorted(
        f"{module_name(path, site)} imports {imported}"
        for path in site.rglob("*.py")
        for imported in imports_of(path, module_name(path, site))
        if is_blocked(imported, blocked) and not _unreached(module_name(path, site), imported)
    )
    if offenders:
        raise SystemExit("prune_layer: kept modules import pruned ones:\n  " + "\n  ".join(offenders))


def trim_metadata(site: Path) -> None:
    """Keep only the header of each METADATA: its body is the project's long description (README, changelog)."""
    for metadata in site.glob("*.dist-info/METADATA"):
        header, _, _ = metadata.read_text(encoding="utf-8").partition("\n\n")
        metadata.write_text(header + "\n", encoding="utf-8")


def remove_junk(site: Path) -> None:
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


def _documentation_spans(source: str) -> list[tuple[int, int, int, int, str]]:
    """(start line, start column, end line, end column, filler) of each docstring and comment; lines 1-based."""
    lines = source.splitlines(keepends=True)

    def column(line: int, byte_offset: int) -> int:  # ast counts UTF-8 bytes, tokenize characters
        return len(lines[line - 1].encode()[:byte_offset].decode())

    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                first.value.value, str
            )
            if docstring and first.end_lineno and first.end_col_offset is not None:
                spans.append((first.lineno, column(first.lineno, first.col_offset), first.end_lineno,
                              column(first.end_lineno, first.end_col_offset), '""'))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            spans.append((*token.start, *token.end, ""))
    return spans


def without_documentation(source: str) -> str:
    """`source` with its docstrings emptied and its comments cut, every line kept where it was.

    Lines stay put so that a traceback from Lambda still names the line of the repository's file."""
    lines = source.splitlines(keepends=True)
    for start, start_col, end, end_col, filler in sorted(_documentation_spans(source), reverse=True):
        prefix, suffix = lines[start - 1][:start_col], lines[end - 1][end_col:]
        if end > start and suffix.strip():
            continue  # code after a multi-line docstring on its closing line: left as it is
        if end == start:
            lines[start - 1] = prefix.rstrip() + filler + suffix if not filler else prefix + filler + suffix
        else:
            lines[start - 1 : end] = [prefix + filler + "\n", *["\n"] * (end - start - 1), suffix]
    return "".join(lines)


def strip_documentation(package: Path) -> None:
    """Our own modules' docstrings and comments: nothing in a handler reads them, and they are a fifth of our bytes."""
    for path in package.rglob("*.py"):
        path.write_text(without_documentation(path.read_text(encoding="utf-8")), encoding="utf-8")


def prune(site: Path) -> None:
    ours = site / OUR_PACKAGE
    remove_distributions(site, RUNTIME_PROVIDED + tuple(NEVER_IMPORTED))
    remove_modules(site, left_out(ours, layer_modules()))
    remove_modules(site, PRUNED_MODULES + OPTIONAL_MODULES)
    prune_protos(site, ours)
    remove_junk(site)  # last but one: the steps above read the RECORD files
    trim_metadata(site)
    strip_documentation(ours)
    for directory in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    check_nothing_kept_imports_pruned(site, NOT_IMPORTED + tuple(left_out(ours, layer_modules())))


if __name__ == "__main__":
    prune(Path(sys.argv[1]))
