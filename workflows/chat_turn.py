"""ChatTurnWorkflow: one user message in, one answer out, durable from the first moment.

The story of a turn: record the question; wait for the conversation's previous turn, so turns
never interleave; plan (is a human in charge? which models?); retrieve; generate through the
fallback chain; record the answer; wake the next waiting turn. Only ids and short text cross
this workflow's history: context and passages are re-read from the stores by the activities.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.exceptions import TimeoutError as ActivityTimeout  # not the builtin wait_condition raises

with workflow.unsafe.imports_passed_through():
    from activities.actions import ActionActivities, ActionPlan, CallActionInput, ComposeActionInput, PlanActionInput
    from activities.answers import (
        AnswerActivities,
        AnswerPlan,
        CachedAnswerInput,
        CompleteAnswerInput,
        PrepareAnswerInput,
    )
    from activities.conversations import (
        ConversationActivities,
        RecordReplyInput,
        RecordUserMessageInput,
    )
    from activities.escalation import EscalationActivities, OpenEscalationInput
    from activities.models import (
        GeneratedReply,
        GenerateInput,
        ModelActivities,
        SummariseInput,
        TurnPlanInput,
    )
    from activities.retrieval import RetrievalActivities, RetrievedPassages, RetrieveInput
    from activities.understanding import (
        EscalationCheckInput,
        Understanding,
        UnderstandingActivities,
        UnderstandInput,
    )
    from workflows.summary import SummariseConversationWorkflow

COMPANY_ATTR = SearchAttributeKey.for_keyword("HelpdeckCompanyId")
CONVERSATION_ATTR = SearchAttributeKey.for_keyword("HelpdeckConversationId")
KIND_ATTR = SearchAttributeKey.for_keyword("HelpdeckKind")
# How the turn ended: answered, backup, offline, canned or human (set when it is recorded).
STATUS_ATTR = SearchAttributeKey.for_keyword("HelpdeckStatus")

# What a person sees when every model failed: honest, and it offers a human.
CANNED_REPLY = (
    "I'm sorry, I can't answer right now. A member of our team can help: "
    "ask for a human and we will connect you."
)

# Said once, by the turn that hands the conversation to a person, in the customer's language.
HANDOFF_TEXT = {
    "en": "I'm connecting you with a member of our team. They will reply here as soon as they can.",
    "de": "Ich verbinde Sie mit einem Mitglied unseres Teams. Es antwortet Ihnen hier so bald wie möglich.",
    "fr": "Je vous mets en relation avec un membre de notre équipe. Il vous répondra ici dès que possible.",
    "it": "La metto in contatto con un membro del nostro team. Le risponderà qui il prima possibile.",
    "zh": "我正在为您转接我们的团队成员，他们会尽快在这里回复您。",
}

DB_STEP = dict(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5)),
)
# A company's action: 10 s per attempt, three attempts; its 4xx answers are results, not retried.
ACTION_CALL_TIMEOUT = timedelta(seconds=10)
ACTION_RETRY = RetryPolicy(
    maximum_attempts=3,
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=4),
    non_retryable_error_types=["ActionRefused", "ActionGone"],
)
# Cache, route and suggestions: useful, never worth failing or stalling a turn for.
ANSWER_STEP = dict(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200)),
)
PREVIOUS_TURN_CHECK_EVERY = timedelta(seconds=30)
PREVIOUS_TURN_MAX_CHECKS = 20  # then answer anyway: a stuck turn must not silence the rest


def cached_reply(text: str, citations: list[dict]) -> GeneratedReply:
    """A reply served from the response cache: no model, no tokens, the original citations."""
    return GeneratedReply(text, "", "cache", 0, 0, 0, 0.0, citations)


def failure_kind(err: ActivityError) -> str:
    """What stopped a model slot, for the reply's metadata: the error type, or "timeout"."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "error"
    if isinstance(cause, ActivityTimeout):
        return "timeout"
    return type(cause).__name__ if cause is not None else "error"


def turn_search_attributes(company_id: str, conversation_id: str, kind: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(COMPANY_ATTR, company_id),
            SearchAttributePair(CONVERSATION_ATTR, conversation_id),
            SearchAttributePair(KIND_ATTR, kind),
        ]
    )


@dataclass
class TurnInput:
    company_id: str
    conversation_id: str
    turn_id: str
    content: str
    channel: str = "api"


@dataclass
class TurnResult:
    turn_id: str
    user_message_id: str
    reply_message_id: str | None
    # Why the answer is not the primary model's: "backup", "cached", "offline", "canned", "human",
    # or None.
    degraded: str | None = None


@workflow.defn
class ChatTurnWorkflow:
    def __init__(self) -> None:
        self._previous_done = False
        self._stage = "received"
        # Step timings and retrieval confidence, recorded with the reply as analytics facts.
        self._measured: dict = {}
        # Retrieval scores by chunk id: generation needs them to judge a passage's support.
        self._chunk_scores: dict[str, float] = {}
        self._status_attribute = True  # the plan may turn it off

    @workflow.signal
    def previous_turn_done(self) -> None:
        self._previous_done = True

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, turn: TurnInput) -> TurnResult:
        recorded = await workflow.execute_local_activity_method(
            ConversationActivities.record_user_message,
            RecordUserMessageInput(turn.company_id, turn.conversation_id, turn.turn_id, turn.content, {"channel": turn.channel}),
            **DB_STEP,
        )
        if recorded.previous_turn_id:
            self._stage = "waiting_for_previous_turn"
            await self._wait_for_previous_turn(recorded.previous_turn_id)

        self._stage = "planning"
        plan = await workflow.execute_local_activity_method(
            ModelActivities.plan_turn, TurnPlanInput(turn.company_id, turn.conversation_id), **DB_STEP
        )
        self._status_attribute = plan.status_attribute
        if plan.conversation_status == "escalated":
            # A person owns this conversation: record the question, never answer it.
            return await self._finish(turn, recorded.message_id, None, "human")

        understood = None
        query = turn.content
        if workflow.patched("understanding-v1"):
            self._stage = "understanding"
            understood = await workflow.execute_local_activity_method(
                UnderstandingActivities.understand_message,
                UnderstandInput(turn.company_id, turn.conversation_id, turn.turn_id),
                **DB_STEP,
            )
            self._measured = {"intent": understood.intent, "language": understood.language}
            if understood.escalate:
                return await self._hand_over(turn, recorded.message_id, understood, understood.escalation_reason)
            query = understood.standalone_query or turn.content

        if understood is not None and understood.intent == "transaction" and workflow.patched("actions-v1"):
            # The customer wants something done: the company's matching action answers, if any.
            acted = await self._act(turn, recorded.message_id, understood)
            if acted is not None:
                return acted

        chunk_ids: list[str] = []
        if understood is None or understood.intent != "chitchat":
            self._stage = "retrieving"
            retrieve_started = workflow.now()
            try:
                retrieved = await self._retrieve(turn, query, plan.local_retrieval)
            except ActivityError:
                # Search down: answer without passages (the composer then says it cannot find
                # it and offers a person) rather than fail the turn; the metadata says so.
                workflow.logger.warning("retrieval failed; answering without passages")
                retrieved = RetrievedPassages()
                self._measured["retrieval_failed"] = True
            chunk_ids = retrieved.chunk_ids
            self._chunk_scores = dict(zip(retrieved.chunk_ids, retrieved.scores, strict=False))
            self._measured |= {
                "retrieve_ms": int((workflow.now() - retrieve_started).total_seconds() * 1000),
                "retrieval_confidence": retrieved.top_score,
            }
            if understood is not None and understood.intent == "question":
                verdict = await workflow.execute_local_activity_method(
                    UnderstandingActivities.check_escalation,
                    EscalationCheckInput(
                        turn.company_id,
                        understood.intent,
                        understood.intent_confidence,
                        understood.sentiment,
                        understood.unanswered_in_a_row,
                        understood.user_messages,
                        retrieved.top_score if chunk_ids else None,
                    ),
                    **DB_STEP,
                )
                if verdict.escalate:
                    return await self._hand_over(turn, recorded.message_id, understood, verdict.reason)

        self._stage = "generating"
        reply, degraded = await self._generate(turn, plan.providers, chunk_ids, understood, query)
        return await self._finish(turn, recorded.message_id, reply, degraded)

    async def _act(self, turn: TurnInput, user_message_id: str, understood: Understanding) -> TurnResult | None:
        """Pick the company's action and its parameters, ask for what is missing or call it, and
        answer from its result; a failed call degrades to a reply offering a person. None when no
        action fits: the turn then answers from knowledge."""
        self._stage = "acting"
        try:
            plan: ActionPlan = await workflow.execute_local_activity_method(
                ActionActivities.plan_action,
                PlanActionInput(turn.company_id, turn.conversation_id, turn.turn_id),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200)),
            )
        except ActivityError:
            workflow.logger.warning("could not plan an action; answering from knowledge")
            return None
        if plan.action_id is None:
            return None
        compose = ComposeActionInput(
            turn.company_id, turn.conversation_id, turn.turn_id, plan.action_id, understood.language,
            "needs_parameters", plan.arguments, plan.missing,
        )
        if not plan.missing:
            try:
                called = await workflow.execute_activity_method(
                    ActionActivities.call_action,
                    CallActionInput(turn.company_id, plan.action_id, turn.turn_id, plan.arguments),
                    start_to_close_timeout=ACTION_CALL_TIMEOUT,
                    retry_policy=ACTION_RETRY,
                )
                compose.status = "answered" if called.status_code < 400 else "rejected"
                compose.status_code, compose.summary = called.status_code, called.summary
            except ActivityError:
                workflow.logger.warning("action %s failed after retries", plan.action_name)
                compose.status = "failed"
        self._measured |= {"action": plan.action_name, "action_status": compose.status}
        if compose.status == "failed" and plan.escalate_on_failure:
            self._measured["degraded"] = "action_failed"
            return await self._hand_over(turn, user_message_id, understood, "action_failed")
        try:
            reply = await workflow.execute_local_activity_method(
                ActionActivities.compose_action_reply,
                compose,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=200)),
            )
        except ActivityError:
            return await self._finish(turn, user_message_id, None, "canned")
        return await self._finish(turn, user_message_id, reply, "action_failed" if compose.status == "failed" else None)

    async def _retrieve(self, turn: TurnInput, query: str, local: bool) -> RetrievedPassages:
        # An in-process index is cheap enough for a local activity; a search cluster is not.
        if local and workflow.patched("local-steps-v1"):
            return await workflow.execute_local_activity_method(
                RetrievalActivities.retrieve_passages,
                RetrieveInput(turn.company_id, query),
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200)),
            )
        return await workflow.execute_activity_method(
            RetrievalActivities.retrieve_passages,
            RetrieveInput(turn.company_id, query),
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200)),
        )

    async def _hand_over(
        self, turn: TurnInput, user_message_id: str, understood: Understanding, reason: str | None
    ) -> TurnResult:
        """Open the human queue for this conversation and tell the customer, in their language."""
        self._stage = "escalating"
        category = reason or "customer_request"
        opened = await workflow.execute_activity_method(
            EscalationActivities.open_escalation,
            OpenEscalationInput(turn.company_id, turn.conversation_id, category, understood.escalation_detail),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10)),
        )
        self._measured |= {"escalation_reason": category, "escalation_id": opened.escalation_id}
        handoff = HANDOFF_TEXT.get(understood.language, HANDOFF_TEXT["en"])
        return await self._finish(turn, user_message_id, None, "human", handoff=handoff)

    async def _wait_for_previous_turn(self, previous_turn_id: str) -> None:
        for _ in range(PREVIOUS_TURN_MAX_CHECKS):
            try:
                await workflow.wait_condition(lambda: self._previous_done, timeout=PREVIOUS_TURN_CHECK_EVERY)
                return
            except TimeoutError:
                # The wake-up signal is the fast path; the database is the truth.
                done = await workflow.execute_local_activity_method(
                    ConversationActivities.is_turn_completed, previous_turn_id, **DB_STEP
                )
                if done:
                    return

    async def _generate(
        self,
        turn: TurnInput,
        providers: list[str],
        chunk_ids: list[str],
        understood: Understanding | None = None,
        query: str = "",
    ) -> tuple[GeneratedReply | None, str | None]:
        if workflow.patched("answer-cache-routing-v1"):
            return await self._answer(turn, providers, chunk_ids, understood, query or turn.content)
        for slot in providers:
            try:
                reply = await self._call_slot(turn, slot, chunk_ids)
            except ActivityError:
                workflow.logger.warning("model slot %s failed, falling back", slot)
                continue
            # Degraded means "not the company's first choice", not "offline".
            return reply, (None if slot == providers[0] else slot)
        return None, "canned"

    async def _call_slot(
        self, turn: TurnInput, slot: str, chunk_ids: list[str], model: str | None = None
    ) -> GeneratedReply:
        retry = RetryPolicy(
            maximum_attempts=1 if slot == "offline" else 3,
            initial_interval=timedelta(milliseconds=500),
            maximum_interval=timedelta(seconds=4),
            non_retryable_error_types=["ChatModelRejected", "CircuitOpen"],
        )
        generate = GenerateInput(
            turn.company_id, turn.conversation_id, turn.turn_id, slot, chunk_ids, model,
            [self._chunk_scores.get(chunk_id, 0.0) for chunk_id in chunk_ids],
        )  # fmt: skip
        if slot == "offline" and workflow.patched("local-steps-v1"):
            # The composer needs no network: a local activity spares a task round trip.
            return await workflow.execute_local_activity_method(
                ModelActivities.generate_reply,
                generate,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retry,
            )
        return await workflow.execute_activity_method(
            ModelActivities.generate_reply,
            generate,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=retry,
        )

    async def _answer(
        self, turn: TurnInput, providers: list[str], chunk_ids: list[str], understood: Understanding | None, query: str
    ) -> tuple[GeneratedReply | None, str | None]:
        """A cached answer if one fits; else the routed model, the backup, a cached answer, the
        composer, a canned reply. The metadata says which, why, and what failed on the way."""
        language = understood.language if understood is not None else ""
        plan: AnswerPlan | None = None
        try:
            plan = await workflow.execute_local_activity_method(
                AnswerActivities.prepare_answer,
                PrepareAnswerInput(
                    turn.company_id,
                    turn.content,
                    query,
                    understood.intent if understood is not None else None,
                    language,
                    self._measured.get("retrieval_confidence") if chunk_ids else None,
                ),
                **ANSWER_STEP,
            )
        except ActivityError:
            workflow.logger.warning("answer cache and routing unavailable; using the default chain")
        if plan is not None:
            self._measured["route"] = {"tier": plan.tier, "model": plan.model, "reason": plan.route_reason}
            if not plan.cache_refusal:
                self._measured["cache_hit"] = bool(plan.cache)
        reply: GeneratedReply | None = None
        degraded: str | None = "canned"
        answered_by = ""
        if plan is not None and plan.cache:
            self._measured["cache"] = plan.cache
            reply, degraded, answered_by = cached_reply(plan.cached_text, plan.cached_citations), None, "cache"
        else:
            # A spent budget goes straight to the composer: a cheaper answer, never an error.
            spent = plan is not None and plan.tier == "composer" and "offline" in providers
            slots = ["offline"] if spent else providers
            failed: dict[str, str] = {}
            for slot in slots:
                if slot == "offline" and failed and plan is not None and not plan.cache_refusal:
                    cached = await self._cached_fallback(turn, plan, language)
                    if cached is not None:
                        reply, degraded, answered_by = cached, "cached", "cache"
                        break
                try:
                    reply = await self._call_slot(
                        turn, slot, chunk_ids, plan.model if plan is not None and slot == "primary" else None
                    )
                except ActivityError as err:
                    failed[slot] = failure_kind(err)
                    workflow.logger.warning("model slot %s failed (%s), falling back", slot, failed[slot])
                    continue
                degraded, answered_by = (None if slot == providers[0] else slot), slot
                break
            if failed:
                self._measured["failed_slots"] = failed
        storable = (
            plan is not None
            and not plan.cache_refusal
            and reply is not None
            and answered_by in ("primary", "backup")
            and bool(reply.citations)
            and not reply.abstained
            and not reply.safety
        )
        cited = [str(c.get("chunk_id")) for c in reply.citations] if reply is not None and reply.citations else []
        try:
            completed = await workflow.execute_local_activity_method(
                AnswerActivities.complete_answer,
                CompleteAnswerInput(
                    turn.company_id,
                    turn.content,
                    language,
                    cited or chunk_ids,
                    plan.kb_version if storable and plan is not None else None,
                    reply.text if storable and reply is not None else "",
                    reply.citations if storable and reply is not None else [],
                ),
                **ANSWER_STEP,
            )
            self._measured["suggestions"] = completed.suggestions
        except ActivityError:
            workflow.logger.warning("suggestions unavailable for this reply")
        return reply, degraded

    async def _cached_fallback(self, turn: TurnInput, plan: AnswerPlan, language: str) -> GeneratedReply | None:
        try:
            cached = await workflow.execute_local_activity_method(
                AnswerActivities.cached_answer,
                CachedAnswerInput(turn.company_id, plan.kb_version, language, turn.content),
                **ANSWER_STEP,
            )
        except ActivityError:
            return None
        if not cached.cache:
            return None
        self._measured["cache"] = cached.cache
        return cached_reply(cached.text, cached.citations)

    async def _finish(
        self,
        turn: TurnInput,
        user_message_id: str,
        reply: GeneratedReply | None,
        degraded: str | None,
        handoff: str | None = None,
    ) -> TurnResult:
        self._stage = "recording"
        if degraded == "human":
            # No answer; only the handover notice when this very turn opened the queue.
            content, citations, meta = handoff, [], ({"handoff": True} if handoff else {})
        elif reply is None:
            content, citations, meta = CANNED_REPLY, [], {"degraded": "canned"}
        else:
            content, citations = reply.text, reply.citations
            meta = {
                "model": reply.model,
                "provider": reply.provider,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "latency_ms": reply.latency_ms,
                "cost_usd": reply.cost_usd,
                "degraded": degraded,
                "abstained": reply.abstained,
                **({"safety": reply.safety} if reply.safety else {}),
            }
        meta = {**meta, **self._measured}
        # The reply step starts a due summary itself: the customer no longer waits for a child.
        summary_by_step = workflow.patched("summary-started-by-record-reply")
        recorded = await workflow.execute_local_activity_method(
            ConversationActivities.record_reply,
            RecordReplyInput(
                turn.company_id, turn.conversation_id, turn.turn_id, content, citations, meta,
                handoff=bool(handoff), start_summary=summary_by_step,
            ),
            **DB_STEP,
        )  # fmt: skip
        if workflow.patched("turn-status-search-attribute") and self._status_attribute:
            workflow.upsert_search_attributes([STATUS_ATTR.value_set(degraded or "answered")])
        if recorded.next_turn_id:
            await workflow.get_external_workflow_handle(recorded.next_turn_id).signal(
                ChatTurnWorkflow.previous_turn_done
            )
        if recorded.needs_summary and not summary_by_step:
            await self._start_summary(turn)
        self._stage = "done"
        return TurnResult(turn.turn_id, user_message_id, recorded.message_id, degraded)

    async def _start_summary(self, turn: TurnInput) -> None:
        try:
            await workflow.start_child_workflow(
                SummariseConversationWorkflow.run,
                SummariseInput(turn.company_id, turn.conversation_id),
                id=f"summary-{turn.conversation_id}",
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=turn_search_attributes(turn.company_id, turn.conversation_id, "summary"),
            )
        except WorkflowAlreadyStartedError:
            # One summary at a time per conversation; the next turn will ask again.
            pass
