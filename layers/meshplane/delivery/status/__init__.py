"""Each Envoy's config status, recorded for the status read: what a stream or agent saw (`report`), merged per
Envoy and rate-bounded (`coalescer`, pure), written to the state table (`writer`, through `store.proxy_status`)."""
