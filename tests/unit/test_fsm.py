"""The RFC 4271 §8 transition table: complete, and right on the paths that matter."""

from __future__ import annotations

import pytest

from v4via6.bgp.fsm import (
    CONNECTED_STATES,
    FSM_ERROR_SUBCODE,
    TRANSITIONS,
    Action,
    Event,
    State,
    transition,
)

A = Action
E = Event
S = State

SEND_ACTIONS = {A.SEND_OPEN, A.SEND_KEEPALIVE, A.SEND_NOTIFICATION, A.SEND_FSM_ERROR,
                A.SEND_HOLD_EXPIRED, A.SEND_CEASE}
NOTIFY_ACTIONS = {A.SEND_NOTIFICATION, A.SEND_FSM_ERROR, A.SEND_HOLD_EXPIRED, A.SEND_CEASE}


def test_table_is_total() -> None:
    assert set(TRANSITIONS) == {(s, e) for s in State for e in Event}
    for (_state, _event), (actions, nxt) in TRANSITIONS.items():
        assert isinstance(nxt, State)
        assert all(isinstance(a, Action) for a in actions)
        assert len(set(actions)) == len(actions), "an action listed twice"


def walk(state: State, *events: Event) -> tuple[State, list[Action]]:
    done: list[Action] = []
    for ev in events:
        actions, state = transition(state, ev)
        done.extend(actions)
    return state, done


def test_active_open_happy_path() -> None:
    state, actions = walk(S.IDLE, E.MANUAL_START)
    assert state is S.CONNECT
    assert A.INITIATE_TCP in actions and A.START_CONNECT_RETRY_TIMER in actions
    state, actions = walk(state, E.TCP_CONNECTION_CONFIRMED)
    assert state is S.OPEN_SENT
    assert actions == [A.STOP_CONNECT_RETRY_TIMER, A.SEND_OPEN, A.START_LARGE_HOLD_TIMER]
    state, actions = walk(state, E.BGP_OPEN)
    assert state is S.OPEN_CONFIRM
    assert actions == [A.PROCESS_OPEN, A.SEND_KEEPALIVE, A.START_NEGOTIATED_TIMERS]
    state, actions = walk(state, E.KEEPALIVE_MSG)
    assert state is S.ESTABLISHED
    assert A.SESSION_UP in actions


def test_passive_start_never_connects_by_itself() -> None:
    state, actions = walk(S.IDLE, E.MANUAL_START_PASSIVE)
    assert state is S.ACTIVE
    assert A.INITIATE_TCP not in actions
    assert A.START_CONNECT_RETRY_TIMER not in actions
    state, _ = walk(state, E.TCP_CONNECTION_CONFIRMED)
    assert state is S.OPEN_SENT


def test_connect_retry_timer_retries() -> None:
    actions, nxt = transition(S.CONNECT, E.CONNECT_RETRY_TIMER_EXPIRES)
    assert nxt is S.CONNECT
    assert actions.index(A.DROP_TCP) < actions.index(A.INITIATE_TCP)
    actions, nxt = transition(S.ACTIVE, E.CONNECT_RETRY_TIMER_EXPIRES)
    assert nxt is S.CONNECT and A.INITIATE_TCP in actions


@pytest.mark.parametrize("state", [S.OPEN_SENT, S.OPEN_CONFIRM, S.ESTABLISHED])
def test_hold_timer_expiry_notifies_and_goes_idle(state: State) -> None:
    actions, nxt = transition(state, E.HOLD_TIMER_EXPIRES)
    assert nxt is S.IDLE
    assert actions[0] is A.SEND_HOLD_EXPIRED
    assert A.DROP_TCP in actions and A.RELEASE_RESOURCES in actions


@pytest.mark.parametrize("state", list(State))
def test_manual_stop_always_ends_idle_without_restart(state: State) -> None:
    actions, nxt = transition(state, E.MANUAL_STOP)
    assert nxt is S.IDLE
    assert A.DISABLE_AUTO_RESTART in actions
    assert A.START_IDLE_HOLD_TIMER not in actions
    if state in CONNECTED_STATES:
        assert A.SEND_CEASE in actions
    else:
        assert not NOTIFY_ACTIONS & set(actions)


@pytest.mark.parametrize("state", list(State))
def test_notification_is_never_answered_with_notification(state: State) -> None:
    for ev in (E.NOTIF_MSG, E.NOTIF_MSG_VER_ERR, E.TCP_CONNECTION_FAILS):
        actions, _ = transition(state, ev)
        assert not NOTIFY_ACTIONS & set(actions), (state, ev)


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.OPEN_SENT, E.UPDATE_MSG),
        (S.OPEN_SENT, E.KEEPALIVE_MSG),
        (S.OPEN_CONFIRM, E.UPDATE_MSG),
        (S.OPEN_CONFIRM, E.BGP_OPEN),
        (S.ESTABLISHED, E.BGP_OPEN),
        (S.OPEN_CONFIRM, E.ROUTE_REFRESH_MSG),
    ],
)
def test_unexpected_messages_are_fsm_errors(state: State, event: Event) -> None:
    actions, nxt = transition(state, event)
    assert nxt is S.IDLE
    assert actions[0] is A.SEND_FSM_ERROR
    assert state in FSM_ERROR_SUBCODE


@pytest.mark.parametrize("state", [S.OPEN_SENT, S.OPEN_CONFIRM, S.ESTABLISHED])
def test_message_errors_send_their_own_notification(state: State) -> None:
    events = [E.BGP_HEADER_ERR]
    if state is not S.ESTABLISHED:
        events.append(E.BGP_OPEN_MSG_ERR)
    else:
        events.append(E.UPDATE_MSG_ERR)
    for ev in events:
        actions, nxt = transition(state, ev)
        assert nxt is S.IDLE
        assert actions[0] is A.SEND_NOTIFICATION


def test_established_keeps_running_on_traffic() -> None:
    for ev, needed in [
        (E.KEEPALIVE_MSG, {A.RESTART_HOLD_TIMER}),
        (E.UPDATE_MSG, {A.RESTART_HOLD_TIMER, A.PROCESS_UPDATE}),
        (E.ROUTE_REFRESH_MSG, {A.RESTART_HOLD_TIMER, A.PROCESS_ROUTE_REFRESH}),
        (E.KEEPALIVE_TIMER_EXPIRES, {A.SEND_KEEPALIVE, A.RESTART_KEEPALIVE_TIMER}),
    ]:
        actions, nxt = transition(S.ESTABLISHED, ev)
        assert nxt is S.ESTABLISHED
        assert needed <= set(actions)


def test_idle_ignores_everything_but_start_and_refuses_connections() -> None:
    starts = {E.MANUAL_START, E.AUTOMATIC_START, E.MANUAL_START_PASSIVE,
              E.AUTOMATIC_START_PASSIVE}
    for ev in Event:
        actions, nxt = transition(S.IDLE, ev)
        if ev in starts:
            assert nxt in (S.CONNECT, S.ACTIVE)
            assert actions[0] is A.INIT_RESOURCES
        else:
            assert nxt is S.IDLE
            assert not SEND_ACTIONS & set(actions)
    assert transition(S.IDLE, E.TCP_CONNECTION_CONFIRMED)[0] == (A.DROP_TCP,)


def test_every_fall_to_idle_from_a_live_state_releases_and_drops() -> None:
    for (state, _event), (actions, nxt) in TRANSITIONS.items():
        if state is not S.IDLE and nxt is S.IDLE:
            assert A.RELEASE_RESOURCES in actions
            assert A.DROP_TCP in actions


def test_failures_schedule_automatic_restart() -> None:
    for (state, event), (actions, nxt) in TRANSITIONS.items():
        if state is S.IDLE or nxt is not S.IDLE:
            continue
        if event is E.MANUAL_STOP:
            assert A.START_IDLE_HOLD_TIMER not in actions
        else:
            assert A.START_IDLE_HOLD_TIMER in actions, (state, event)


def test_session_up_only_on_entering_established() -> None:
    for (state, _event), (actions, nxt) in TRANSITIONS.items():
        if A.SESSION_UP in actions:
            assert state is S.OPEN_CONFIRM and nxt is S.ESTABLISHED
