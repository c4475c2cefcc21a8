"""Django's PostgreSQL backend that starts the embedded server on its first connection."""

from __future__ import annotations

from pathlib import Path

from django.db.backends.postgresql import base

from core import embedded_postgres


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        data_dir = Path(self.settings_dict["DATA_DIR"])
        if embedded_postgres.ensure_running(data_dir):
            embedded_postgres.stop_at_exit(data_dir)
        return super().get_new_connection(conn_params)
