"""Socket.IO: the hub (namespaces, audiences) and the snapshots sent on connect."""
