"""create_app: wiring only. Routes, error handlers, middleware, and the runtime's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from api.routes import actions as action_routes
from api.routes import analytics as analytics_routes
from api.routes import channel_hooks, channels, companies, conversations, health, keys, openai_compat
from api.routes import documents as document_routes
from api.routes import escalations as escalation_routes
from api.routes import feedback as feedback_routes
from api.routes import live as live_routes
from api.routes import operations as operations_routes
from api.routes import search as search_routes
from api.routes import sources as source_routes
from api.routes import users as user_routes
from api.routes import webhooks as webhook_routes
from api.routes import widget as widget_routes
from api.widget_guard import WidgetCorsMiddleware
from helpdeck.observability.http_metrics import MetricsMiddleware
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
        from helpdeck.services.webhook_runner import announce_private_urls

        announce_private_urls(settings)  # API-only processes check webhook URLs too
        worker_task = None
        if run_worker:
            from worker import build_worker

            worker = build_worker(runtime.temporal, runtime)
            worker_task = asyncio.create_task(worker.run())
            from helpdeck.analytics.schedule import ensure_rollup_schedule

            await ensure_rollup_schedule(runtime.temporal, settings)
            from helpdeck.services.webhook_runner import start_webhooks

            await start_webhooks(runtime.temporal, settings)
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
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        path_limits={"/v1/documents": settings.max_upload_bytes},
    )
    app.add_middleware(WidgetCorsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(MetricsMiddleware)
    for module in (health, companies, keys, conversations):
        app.include_router(module.router)
    app.include_router(user_routes.router)
    app.include_router(escalation_routes.router)
    app.include_router(live_routes.router)
    app.include_router(widget_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(action_routes.router)
    for module in (operations_routes, feedback_routes, analytics_routes):
        app.include_router(module.router)
    for module in (channels, channel_hooks, openai_compat):
        app.include_router(module.router)
    for module in (document_routes, source_routes, search_routes):
        app.include_router(module.router)
    return app
