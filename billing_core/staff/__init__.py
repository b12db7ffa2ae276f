"""Staff users, roles and password hashes."""
