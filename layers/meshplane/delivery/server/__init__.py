"""The ADS gRPC server: one protocol module per xDS variant, wired by `ads.py`."""
