"""`kubectl eps`: the kubectl plugin (console script `kubectl-eps`) for reading and driving ExternalPayloadStorages."""
