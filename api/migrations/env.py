from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import api.tables  # noqa: F401  (registers the API's tables)
import arbitration.tables  # noqa: F401
import rules.tables  # noqa: F401
from jurisdiction.tables import metadata

config = context.config
target_metadata = metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                                    prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    context.run_migrations()


run()
