"""The embedded stack as one unit: start whatever is not configured, stop all of it."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from helpdeck.channels.crypto import channel_secret_key
from helpdeck.db import migrate
from helpdeck.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    TemporalDevServer,
    admin_token,
    ensure_port_free,
)
from helpdeck.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class EmbeddedStack:
    settings: Settings
    temporal: TemporalDevServer | None = field(default=None, init=False)
    postgres: EmbeddedPostgres | None = field(default=None, init=False)
    redis: EmbeddedRedis | None = field(default=None, init=False)

    def start(self, temporal_ui: bool = True) -> Settings:
        """Start the missing servers; returns settings whose URLs all point somewhere real."""
        s = self.settings
        data = s.data_path
        data.mkdir(parents=True, exist_ok=True)
        ensure_port_free(s.host, s.port, "Helpdeck API")
        updates: dict[str, object] = {"admin_token": admin_token(data, s.admin_token)}
        updates["secret_key"] = channel_secret_key(data, s.secret_key)
        try:
            if not s.temporal_address:
                self.temporal = TemporalDevServer(
                    db_file=data / "temporal.sqlite",
                    port=s.temporal_port,
                    ui_port=s.temporal_ui_port if temporal_ui else None,
                    log_file=data / "temporal.log",
                )
                self.temporal.start()
                updates["temporal_address"] = self.temporal.address
            if not s.redis_url:
                self.redis = EmbeddedRedis(db_file=data / "redis" / "helpdeck.rdb", port=s.redis_port)
                updates["redis_url"] = self.redis.start()
            if not s.database_url:
                self.postgres = EmbeddedPostgres(data / "postgres")
                updates["database_url"] = self.postgres.start()
            resolved = s.model_copy(update=updates)
            migrate(resolved.database_url)
        except BaseException:
            self.stop()
            raise
        return resolved

    def stop(self) -> None:
        for server in (self.temporal, self.redis, self.postgres):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
