"""HTTP API: thin routes that read the current snapshot and shape a response."""
