"""The App Mesh 2019-01-25 rest-json API: routing, binding, operations, errors, local server."""
