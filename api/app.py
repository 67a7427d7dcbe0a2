"""create_app: wiring only. Routes, error handlers, middleware, and the runtime's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from api.routes import companies, conversations, health, keys
from helpdeck.runtime import Runtime, open_runtime
from helpdeck.settings import Settings

DESCRIPTION = """Helpdeck's REST API. Authenticate with a company key: `Authorization: Bearer hd_sk_…`.
Errors are RFC 9457 problem details with a stable `code`."""


def create_app(
    settings: Settings,
    *,
    run_worker: bool = False,
    runtime_factory: Callable[[Settings], Awaitable[Runtime]] = open_runtime,
) -> FastAPI:
    """The API app. With run_worker, the Temporal worker runs inside this process too."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await runtime_factory(settings)
        runtime.worker_in_process = run_worker
        app.state.runtime = runtime
        worker_task = None
        if run_worker:
            from worker import build_worker

            worker = build_worker(runtime.temporal, runtime)
            worker_task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            if worker_task is not None:
                await worker.shutdown()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            await runtime.close()

    app = FastAPI(title="Helpdeck", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    for module in (health, companies, keys, conversations):
        app.include_router(module.router)
    return app
