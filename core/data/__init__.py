"""Data entry points: every file a user brings is validated here, once."""
