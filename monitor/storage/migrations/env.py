"""Alembic environment: run with the connection the application hands in."""

from alembic import context
from sqlalchemy import create_engine

from monitor.storage.models import Base, UTCDateTime

config = context.config


def _render_item(type_, obj, autogen_context):
    """Write our UTC column type as plain sa.DateTime() in migrations: a migration must
    not import application code that may change later."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
