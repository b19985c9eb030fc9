"""AWS CLI plugin: `aws appmesh --endpoint-url <ApiUrl>` signs for API Gateway.

Enable it in ~/.aws/config. AWS CLI v1 imports it from its own Python (install meshplane there):

    [plugins]
    meshplane = meshplane.awscli_plugin

AWS CLI v2 also needs `cli_legacy_plugin_path = <directory that holds the meshplane package>`
in that section; v1 has no such setting and fails at start-up with it (README.md, "Deploy to AWS").
"""

from __future__ import annotations

from typing import Any

from meshplane import signing


def awscli_initialize(cli: Any) -> None:
    """Called by the AWS CLI with its event emitter once at start-up."""
    cli.register(signing.BEFORE_SIGN_EVENT, signing.sign_for_api_gateway, unique_id="meshplane-execute-api-signing")
