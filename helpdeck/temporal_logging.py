"""A worker interceptor that puts the workflow id (and company, when the input names one) into
the log context of every activity, so activity logs join the request logs that started them."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from helpdeck.logs import company_id_var, workflow_id_var


class _ActivityLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:  # noqa: A002
        info = activity.info()
        workflow_token = workflow_id_var.set(info.workflow_id)
        company = getattr(input.args[0], "company_id", None) if input.args else None
        company_token = company_id_var.set(str(company) if company else None)
        try:
            return await self.next.execute_activity(input)
        finally:
            workflow_id_var.reset(workflow_token)
            company_id_var.reset(company_token)


class LogContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:  # noqa: A002
        return _ActivityLogContext(next)
