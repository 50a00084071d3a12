"""Results: the SQLite store, scoring of prediction rows into metrics, and provenance."""
