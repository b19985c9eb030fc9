"""Proxy identity rooted in IAM: who may be which virtual node or gateway, and the certificates that say so.

A proxy host proves its IAM principal the way Vault's AWS auth does: it signs an
`sts:GetCallerIdentity` request with its own credentials (ECS task role, EC2 instance
role) and hands over the signed request, never the credentials (`proof`). The ADS
server checks that the request can only mean "this principal, for this server, now,
once" (`verify`), lets STS answer it, and asks IAM whether that principal may
`appmesh:StreamAggregatedResources` on the node's ARN (`authorization`), so the App
Mesh policies users already have keep their meaning. It then signs the proxy's CSR
with the meshplane node CA (`ca`): a short-lived client certificate naming the node and
the principal, which the ADS port requires (`exchange` serves that endpoint, `agent`
keeps a proxy's certificate fresh on disk for Envoy's file-based SDS, `layout` names
those files).
"""
