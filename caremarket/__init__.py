"""Application layer: configuration, the SQLite store, importers and the `caremarket` CLI."""
