"""One conversation (`/console/conversations/{id}`, role agent): the transcript with each
message's delivery status, who owns it, take over, reply (through the outbox), canned replies
in both languages, private notes, hand back to the bot, and the customer's context beside it.
The owner bar, transcript and notes are a fragment of their own (`.../live`), fetched again
when the live stream names this conversation; the reply box stays as typed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.console.pages import (
    PageRefused,
    after_action,
    console_router,
    late_fee_policy,
    latest_event_id,
    refusals,
    render,
    with_role,
)
from api.deps import ClockDep, SessionDep, SettingsDep, id_or_none
from billing_core.app_services import services
from billing_core.clock import Clock
from billing_core.conversations import inbox
from billing_core.conversations.agents import MAX_AGENT_BODY
from billing_core.conversations.model import AGENT
from billing_core.customers.model import Language
from billing_core.errors import NotFound
from billing_core.settings import Settings
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = None  # reached from the inbox
Agent = Annotated[StaffUser, Depends(with_role(Role.agent))]
PATH = "/console/conversations/{conversation_id}"


def _id(conversation_id: str) -> int:
    number = id_or_none(conversation_id)
    if number is None:
        raise PageRefused(status.HTTP_404_NOT_FOUND, f"no conversation {conversation_id}")
    return number


def _view(
    session: Session, clock: Clock, settings: Settings, user: StaffUser, conversation_id: int
) -> dict[str, Any]:
    try:
        view = inbox.conversation_view(
            session=session, clock=clock, conversation_id=conversation_id, viewer=user.username,
            tz=settings.tz, currency=settings.currency,
            late_fees_last=late_fee_policy(settings.policy_dir).late_fees_last,
        )  # fmt: skip
    except NotFound as exc:
        raise PageRefused(status.HTTP_404_NOT_FOUND, str(exc)) from None
    conversation = view.conversation
    return {
        "view": view,
        "c": conversation,
        "mine": conversation.state == AGENT and conversation.agent_username == user.username,
        "owner": conversation.agent_username if conversation.state == AGENT else None,
        "state_labels": inbox.STATE_LABELS,
        "now": clock.now(),
    }


@router.get(PATH, response_class=HTMLResponse)
def conversation_page(
    conversation_id: str,
    request: Request,
    user: Agent,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> HTMLResponse:
    context = _view(session, clock, settings, user, _id(conversation_id))
    policy = services(request).conversation_context.policy
    language = context["c"].language
    # The conversation's language first, then the other.
    languages = sorted(Language, key=lambda lang: lang.value != language)
    return render(
        request, "console/conversation.html", user,
        {**context, "canned": policy.canned_replies, "languages": languages,
         "max_body": MAX_AGENT_BODY, "last_event_id": latest_event_id(session)},
    )  # fmt: skip


@router.get(PATH + "/live", response_class=HTMLResponse)
def conversation_fragment(
    conversation_id: str,
    request: Request,
    user: Agent,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> HTMLResponse:
    context = _view(session, clock, settings, user, _id(conversation_id))
    return render(request, "console/_conversation_live.html", user, context)


def _here(conversation_id: int) -> str:
    return PATH.format(conversation_id=conversation_id)


@router.post(PATH + "/take-over")
def take_over(conversation_id: str, user: Agent, session: SessionDep, clock: ClockDep) -> Response:
    number = _id(conversation_id)
    with refusals(session) as problems:
        inbox.take_over(session=session, clock=clock, conversation_id=number, agent=user.username)
    return after_action(_here(number), problems, "you have this conversation")


@router.post(PATH + "/hand-back")
def hand_back(conversation_id: str, user: Agent, session: SessionDep, clock: ClockDep) -> Response:
    number = _id(conversation_id)
    with refusals(session) as problems:
        inbox.hand_back(session=session, clock=clock, conversation_id=number, agent=user.username)
    return after_action(_here(number), problems, "handed back to the bot")


@router.post(PATH + "/reply")
def reply(
    conversation_id: str,
    user: Agent,
    session: SessionDep,
    clock: ClockDep,
    body: Annotated[str, Form(max_length=4 * MAX_AGENT_BODY)] = "",
) -> Response:
    number = _id(conversation_id)
    with refusals(session) as problems:
        inbox.reply(session=session, clock=clock, conversation_id=number, agent=user.username,
                    body=body)  # fmt: skip
    return after_action(_here(number), problems, "reply sent to the outbox")


@router.post(PATH + "/notes")
def add_note(
    conversation_id: str,
    user: Agent,
    session: SessionDep,
    clock: ClockDep,
    body: Annotated[str, Form(max_length=4 * inbox.MAX_NOTE)] = "",
) -> Response:
    number = _id(conversation_id)
    with refusals(session) as problems:
        inbox.add_note(session=session, clock=clock, conversation_id=number,
                       agent=user.username, body=body)  # fmt: skip
    return after_action(_here(number) + "#notes", problems, "note added")


@router.post(PATH + "/read", status_code=status.HTTP_204_NO_CONTENT)
def mark_read(
    conversation_id: str,
    user: Agent,
    session: SessionDep,
    clock: ClockDep,
    up_to: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    """What the page sends once it has shown the messages up to `up_to`."""
    number = _id(conversation_id)
    try:
        inbox.mark_read(session=session, clock=clock, conversation_id=number,
                        viewer=user.username, up_to=up_to)  # fmt: skip
    except NotFound as exc:
        raise PageRefused(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
