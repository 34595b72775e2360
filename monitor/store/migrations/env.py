"""Alembic environment: runs on the connection `monitor.store` hands over (already locked)."""

from alembic import context

from monitor.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
