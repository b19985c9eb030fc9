"""Bring existing App Mesh definitions into meshplane, unchanged.

`meshplane import` reads CloudFormation templates, App Mesh controller CRDs, API
exports or a live account (`sources/`), turns each resource into the App Mesh
API's own wire form (`wire`, driven by the generated shapes), validates the whole
set, plans it against what exists (`plan`) and applies it in dependency order
(`apply`).  The CloudFormation macro and custom resource provider (`cfn_macro`,
`cfn_provider`) keep existing stacks' `AWS::AppMesh::*` resources working through
the same mapping and the same API code, in process.
"""
