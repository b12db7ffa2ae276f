"""Stand-ins for outside services that a benchmark runs against (tests use them too)."""
