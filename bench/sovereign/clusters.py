"""sovereign template: the clusters of every source instance (the same resources meshplane serves)."""


def call(instances, discovery_request, **kwargs):
    for instance in instances:
        yield instance["cluster"]
