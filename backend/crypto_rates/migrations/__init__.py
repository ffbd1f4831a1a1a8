"""Alembic migrations of the state database, run by the service itself at start-up."""
