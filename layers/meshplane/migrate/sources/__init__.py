"""Readers of App Mesh definitions: files (CloudFormation, CRDs, API exports) and a live account.

Kept out of the Lambda layer (`layers/prune_layer.py`): they read YAML, which the
handlers never need, and only `meshplane import` runs them.
"""
