"""Alembic environment for the app's database; `app.services.db.migrate` runs it on every start.

The connection comes from the caller (config.attributes["connection"]), so the SQLite pragmas of
`db.make_engine` apply; without one, `sqlalchemy.url` from the alembic config is used.
"""

from alembic import context
from sqlalchemy import Connection

from app.services.db import make_engine
from app.services.store import Base


def run_migrations(connection: Connection) -> None:
    # SQLite cannot ALTER most columns in place; batch mode copies the table instead.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with make_engine(context.config.get_main_option("sqlalchemy.url")).begin() as own_connection:
        run_migrations(own_connection)
