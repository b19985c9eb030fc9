"""sovereign template: the ClusterLoadAssignment of every source instance."""


def call(instances, discovery_request, **kwargs):
    for instance in instances:
        yield instance["endpoints"]
