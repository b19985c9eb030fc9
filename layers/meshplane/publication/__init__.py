"""The published-storage contract: what the pipeline writes and every reader reads.

One proxy's configuration is published as three things, always in this order:
1. its snapshot body, content-addressed (`layout.snapshot_key`), so it is never overwritten;
2. its pointer: the table item that the conditional write moves (`store.pointers`), then the
   pointer object in the bucket (`layout.pointer_key`, `pointer.pointer_document`);
3. a `ConfigPublished` event (`event`), which only tells readers to look again.

A pointer therefore never names a missing body, and a reader that follows the pointer
rather than the event cannot go backwards when events arrive out of order.
`bucket.SnapshotBucket` owns the sequence (put) and its reverse (pointer, then fetch).
The modules here hold no AWS client: the store's edges (`store.s3objects`,
`store.pointers`) are injected.
"""
