"""Alembic's entry point: the service passes an open connection (see database.migrate)."""

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
