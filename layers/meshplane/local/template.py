"""Translate `template.yaml` offline with samtranslator, remembering where each function's code lives.

samtranslator only accepts S3 code locations, so local `CodeUri`/`ContentUri` paths are
swapped for placeholders first and the mapping is kept for the local runtime.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLACEHOLDER_BUCKET = "meshplane-local-code"
_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


@dataclass(frozen=True)
class TranslatedTemplate:
    """The plain CloudFormation template plus each function's local code directory."""

    body: dict[str, Any]
    code_dirs: dict[str, Path]  # logical id of the SAM resource -> directory


def load_sam_template(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    template: dict[str, Any] = yaml_parse(path.read_text())
    return template


def translate(path: Path, parameters: dict[str, str], region: str, account: str) -> TranslatedTemplate:
    """SAM → CloudFormation, with the pseudo parameters samtranslator needs to expand ARNs."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = load_sam_template(path)
    code_dirs: dict[str, Path] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        prop = _CODE_PROPERTIES.get(resource.get("Type", ""))
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            code_dirs[logical_id] = (path.parent / uri).resolve()
            resource["Properties"][prop] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
    parameter_values = {**parameters, "AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws"}
    # The template grants inline policies only, so the managed-policy map stays empty and offline.
    translator = Translator({}, Parser(), boto_session=boto3.Session(region_name=region))
    body = translator.translate(copy.deepcopy(sam), parameter_values=parameter_values)
    return TranslatedTemplate(body=body, code_dirs=code_dirs)
