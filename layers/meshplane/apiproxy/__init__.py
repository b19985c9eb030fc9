"""`meshplane api-proxy`: the App Mesh endpoint on loopback that any client can use unchanged.

Terraform, CDK, the AWS CLI without a plugin and every SDK sign App Mesh calls for the
service `appmesh`; the deployed API (API Gateway with IAM auth) only accepts `execute-api`.
The proxy takes the client's request, keeps only what a rest-json call needs, signs it
again for `execute-api` with the credentials of the standard AWS chain and forwards it.
"""
