"""AWS CLI (v1) plugin: `aws appmesh --endpoint-url <ApiUrl>` signs for API Gateway.

Enable it in ~/.aws/config:

    [plugins]
    cli_legacy_plugin_path = <site-packages that holds meshplane>
    meshplane = meshplane.awscli_plugin
"""

from __future__ import annotations

from typing import Any

from meshplane import signing


def awscli_initialize(cli: Any) -> None:
    """Called by the AWS CLI with its event emitter once at start-up."""
    cli.register(signing.BEFORE_SIGN_EVENT, signing.sign_for_api_gateway, unique_id="meshplane-execute-api-signing")
