"""Revision bookkeeping of the sync poll (talk-map §4.3), failure classification (§1.5) and the backoff
policy (bounded, jittered within bounds)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.talk.sync import (
    SYNC_LIMIT,
    BackoffPolicy,
    FailureAction,
    RevisionTriple,
    SyncPlan,
    SyncRequestArgs,
    classify_failure,
    is_relogin_error,
    plan_sync,
)
from linecall.protocol.thrift.errors import TalkException
from tests.conftest import load_vectors


def test_fresh_cursor_requests_from_zero() -> None:
    assert RevisionTriple().request() == SyncRequestArgs(0, 100, 0, 0)
    assert SYNC_LIMIT == 100
    assert RevisionTriple(5, 6, 7).request(10) == SyncRequestArgs(5, 10, 6, 7)


def test_reply_fields_then_operations_in_order() -> None:
    plan = plan_sync(
        RevisionTriple(1, 2, 3),
        next_revision=50,
        global_revision=20,
        individual_revision=30,
        operation_revisions=[51, 52],
    )
    assert plan.head == RevisionTriple(50, 20, 30)
    assert plan.after_each == (RevisionTriple(51, 20, 30), RevisionTriple(52, 20, 30))
    assert plan.final == RevisionTriple(52, 20, 30)


@pytest.mark.parametrize("absent", [None, 0])
def test_absent_or_zero_fields_change_nothing(absent: int | None) -> None:
    current = RevisionTriple(10, 20, 30)
    plan = plan_sync(current, next_revision=absent, global_revision=absent, individual_revision=absent)
    assert plan == SyncPlan(current, ())
    assert plan.final == current


def test_operation_without_revision_keeps_the_cursor() -> None:
    plan = plan_sync(RevisionTriple(10), operation_revisions=[None, 12, None])
    assert [step.revision for step in plan.after_each] == [10, 12, 12]


def test_full_sync_next_revision_only() -> None:
    assert plan_sync(RevisionTriple(), next_revision=900).final == RevisionTriple(900, 0, 0)


def test_linejs_sync_vector_advances_the_cursor() -> None:
    """call_thrift.json's first sync reply (decoded by linejs) drives the §4.3 rules from zero."""
    cases: list[dict[str, Any]] = load_vectors("call_thrift.json")["cases"]
    case = next(
        c
        for c in cases
        if c["request"]["path"] == "/SYNC4" and c["decoded"]["operationResponse"]["operations"]
    )
    response = case["decoded"]["operationResponse"]
    plan = plan_sync(
        RevisionTriple(),
        next_revision=None,
        global_revision=response["globalEvents"]["lastRevision"],
        individual_revision=response["individualEvents"]["lastRevision"],
        operation_revisions=[int(op["revision"]) for op in response["operations"]],
    )
    assert plan.head == RevisionTriple(0, 77, 5000)
    assert [step.revision for step in plan.after_each] == [1001, 1002, 1003, 1004, 9007199254740993]
    assert plan.final == RevisionTriple(9007199254740993, 77, 5000)


def test_expired_revision_restarts_from_zero() -> None:
    assert RevisionTriple(5, 6, 7).after_expired_revision() == RevisionTriple()


# --- failures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "action"),
    [
        pytest.param(1, None, FailureAction.RELOGIN, id="AUTHENTICATION_FAILED"),
        pytest.param(8, None, FailureAction.RELOGIN, id="NOT_AUTHORIZED_DEVICE"),
        pytest.param(None, 401, FailureAction.RELOGIN, id="http-401"),
        pytest.param(None, 403, FailureAction.RELOGIN, id="http-403"),
        pytest.param(119, None, FailureAction.REFRESH_TOKEN, id="MUST_REFRESH_V3_TOKEN"),
        pytest.param(52, None, FailureAction.RESET_REVISION, id="EXPIRED_REVISION"),
        pytest.param(3, None, FailureAction.RETRY, id="INVALID_STATE"),
        pytest.param(None, 500, FailureAction.RETRY, id="http-500"),
        pytest.param(None, 410, FailureAction.RETRY, id="http-410"),
        pytest.param(None, None, FailureAction.RETRY, id="network"),
        pytest.param(52, 401, FailureAction.RELOGIN, id="status-401-wins"),
    ],
)
def test_classify_failure(code: int | None, status: int | None, action: FailureAction) -> None:
    assert classify_failure(code, http_status=status) is action


def test_classify_accepts_talk_exceptions() -> None:
    assert classify_failure(TalkException(8, "logged out")) is FailureAction.RELOGIN
    assert classify_failure(TalkException(52, "expired")) is FailureAction.RESET_REVISION
    assert classify_failure(TalkException(None, None)) is FailureAction.RETRY
    assert is_relogin_error(TalkException(1, "bad"))


def test_403_on_call_service_is_a_device_refusal_not_a_dead_token() -> None:
    assert not is_relogin_error(http_status=403, path="/V4")
    assert is_relogin_error(http_status=401, path="/V4")
    assert is_relogin_error(http_status=403, path="/SYNC4")
    assert is_relogin_error(1, path="/V4")
    assert not is_relogin_error(3, http_status=200)


# --- backoff ----------------------------------------------------------------------------------------------


def test_backoff_ceiling_doubles_then_caps() -> None:
    policy = BackoffPolicy(initial=1.0, factor=2.0, cap=60.0)
    assert [policy.ceiling(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.ceiling(-3) == 1.0
    assert policy.ceiling(10_000) == 60.0


def test_backoff_jitter_spans_the_band() -> None:
    policy = BackoffPolicy(initial=1.0, cap=60.0, jitter=0.5)
    assert policy.delay(3, lambda: 0.0) == 4.0
    assert policy.delay(3, lambda: 0.5) == 6.0
    assert policy.delay(3, lambda: 1.0) == 8.0
    assert policy.delay(3, lambda: 7.0) == 8.0  # clamped
    assert policy.delay(3, lambda: math.nan) == 4.0


def test_no_jitter_is_deterministic() -> None:
    assert BackoffPolicy(jitter=0.0).delay(2, lambda: 0.123) == 4.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0.0}, {"cap": 0.5}, {"factor": 0.5}, {"jitter": 1.5}, {"jitter": -0.1}],
    ids=["zero-initial", "cap-below-initial", "shrinking", "jitter-high", "jitter-negative"],
)
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**kwargs)


@settings(max_examples=200, deadline=None)
@given(
    attempt=st.integers(min_value=-5, max_value=100_000),
    sample=st.floats(min_value=0.0, max_value=1.0),
    initial=st.floats(min_value=0.01, max_value=5.0),
    cap=st.floats(min_value=5.0, max_value=600.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_is_bounded_and_jittered_within_bounds(
    attempt: int, sample: float, initial: float, cap: float, jitter: float
) -> None:
    policy = BackoffPolicy(initial=initial, cap=cap, jitter=jitter)
    top = policy.ceiling(attempt)
    delay = policy.delay(attempt, lambda: sample)
    assert initial <= top <= cap
    assert top * (1 - jitter) - 1e-9 <= delay <= top + 1e-9
    assert delay <= cap + 1e-9
