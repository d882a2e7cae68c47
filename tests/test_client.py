"""The HeyGen client against the sandbox over real HTTP: every fault becomes the right error, reads are
retried, and a submission is never sent twice unless HeyGen surely did not take it."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest

from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools import errors
from heygen_video_mcp.tools.client import RETRY_AFTER_CAP, HeyGenClient, Wire

from .conftest import API_KEY

pytestmark = pytest.mark.anyio
VIDEO = {"prompt": "A paper boat drifting down a rain gutter", "provider": "veo_3_1", "aspect_ratio": "16:9"}


class Sleeps:
    """Records back-off waits instead of sleeping, so retry tests are fast and can check the delays."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(base_url: str, sleeps: Sleeps, *, key: str | None = API_KEY, read: float = 2.0) -> HeyGenClient:
    return HeyGenClient(
        api_key=key,
        base_url=base_url,
        timeout=httpx2.Timeout(connect=1.0, read=read, write=read, pool=1.0),
        max_retries=3,
        sleep=sleeps,
    )


@pytest.fixture
async def heygen(sandbox: Sandbox, sleeps: Sleeps) -> AsyncIterator[HeyGenClient]:
    sandbox.reset()
    client = make_client(sandbox.base_url, sleeps)
    yield client
    await client.aclose()
    sandbox.reset()


async def test_submit_and_follow_to_completion(heygen: HeyGenClient, sandbox: Sandbox) -> None:
    created = await heygen.create_execution(VIDEO)
    assert created.status == "submitted"
    assert sandbox.jobs[created.execution_id].input["prompt"] == VIDEO["prompt"]
    create = [r for r in sandbox.requests if r.route == "create"][-1]
    assert create.headers["x-api-key"] == "<match>"
    assert create.json == {"workflow_type": "GenerateVideoNode", "input": VIDEO}
    seen = set()
    for _ in range(200):
        execution = await heygen.get_execution(created.execution_id)
        seen.add(execution.status)
        if execution.status == "completed":
            break
        await __import__("anyio").sleep(0.05)
    assert seen >= {"processing", "completed"}
    assert execution.video_url is not None and execution.video_url.startswith(sandbox.base_url)
    assert execution.video_id and execution.asset_id


async def test_unknown_execution_is_not_found(heygen: HeyGenClient) -> None:
    execution = await heygen.get_execution("node-gw-doesnotexist")
    assert execution.status == "not_found"


async def test_missing_key_sends_nothing(sandbox: Sandbox, sleeps: Sleeps) -> None:
    client = make_client(sandbox.base_url, sleeps, key=None)
    before = len(sandbox.requests)
    with pytest.raises(errors.MissingApiKey, match="HEYGEN_API_KEY"):
        await client.create_execution(VIDEO)
    await client.aclose()
    assert len(sandbox.requests) == before


async def test_bad_key_is_reported_without_echoing_it(sandbox: Sandbox, sleeps: Sleeps) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    client = make_client(sandbox.base_url, sleeps, key=wrong)
    with pytest.raises(errors.AuthenticationFailed) as info:
        await client.create_execution(VIDEO)
    await client.aclose()
    assert "HEYGEN_API_KEY" in str(info.value)
    assert wrong not in str(info.value) and wrong not in repr(client)
    assert "api_key=<set>" in repr(client)


@pytest.mark.parametrize("path", ["/v2", "/nothing/here"])
async def test_wrong_base_url_names_the_setting(sandbox: Sandbox, sleeps: Sleeps, path: str) -> None:
    client = make_client(sandbox.base_url + path, sleeps)
    for call in (client.create_execution(VIDEO), client.get_execution("node-gw-1")):
        with pytest.raises(errors.EndpointNotFound, match="HEYGEN_API_BASE_URL"):
            await call
    await client.aclose()


@pytest.mark.parametrize("status", [405, 410])
async def test_retired_route_names_the_setting(heygen: HeyGenClient, sandbox: Sandbox, status: int) -> None:
    sandbox.inject("status", Fault(status=status, body="Gone", content_type="text/plain"))
    with pytest.raises(errors.EndpointNotFound, match="HEYGEN_API_BASE_URL"):
        await heygen.get_execution("node-gw-1")


async def test_rate_limit_honours_retry_after_then_succeeds(
    heygen: HeyGenClient, sandbox: Sandbox, sleeps: Sleeps
) -> None:
    sandbox.inject("create", Fault.rate_limited(retry_after=2), times=2)
    before = sandbox.count("create")
    created = await heygen.create_execution(VIDEO)
    assert created.status == "submitted"
    assert sandbox.count("create") - before == 3  # two 429s (HeyGen took nothing), then the job
    assert sleeps.delays == [2.0, 2.0]


async def test_retry_after_is_capped(heygen: HeyGenClient, sandbox: Sandbox, sleeps: Sleeps) -> None:
    sandbox.inject("status", Fault.rate_limited(retry_after=3600))
    await heygen.get_execution("node-gw-x")
    assert sleeps.delays == [RETRY_AFTER_CAP]


async def test_a_retry_after_that_is_no_number_falls_back_to_backoff(
    heygen: HeyGenClient, sandbox: Sandbox, sleeps: Sleeps
) -> None:
    # Retry-After may be an HTTP date; unread, it leaves the jittered backoff in charge, and the read goes on.
    sandbox.inject("status", Fault(status=429, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), times=2)
    execution = await heygen.get_execution("node-gw-x")
    assert execution.status == "not_found"
    assert len(sleeps.delays) == 2 and all(0 <= d <= 0.5 * 2**i for i, d in enumerate(sleeps.delays))


async def test_rate_limit_gives_up_after_bounded_retries(
    heygen: HeyGenClient, sandbox: Sandbox, sleeps: Sleeps
) -> None:
    sandbox.inject("create", Fault.rate_limited(retry_after=None), times=10)
    before = sandbox.count("create")
    with pytest.raises(errors.RateLimited, match="rate-limiting") as info:
        await heygen.create_execution(VIDEO)
    assert info.value.status_code == 429
    assert sandbox.count("create") - before == 4
    assert len(sleeps.delays) == 3 and all(0 <= d <= 0.5 * 2**i for i, d in enumerate(sleeps.delays))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_on_reads_are_retried(
    heygen: HeyGenClient, sandbox: Sandbox, sleeps: Sleeps, status: int
) -> None:
    sandbox.inject("status", Fault.server_error(status), times=2)
    execution = await heygen.get_execution("node-gw-x")
    assert execution.status == "not_found"
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize(
    ("fault", "error", "maybe_accepted"),
    [
        (Fault.server_error(500), errors.ServerFault, True),
        (Fault.server_error(502), errors.ServerFault, True),
        (Fault.server_error(503), errors.ServerFault, False),
        (Fault(drop=True), errors.APIConnectionFailed, True),
        (Fault.malformed(), errors.UnexpectedResponse, True),
        (Fault.html(), errors.UnexpectedResponse, True),
        (Fault(status=200, body={"data": {"status": "submitted"}}), errors.UnexpectedResponse, True),
        (Fault(status=400, body={"error": {"message": "prompt violates policy"}}), errors.BadRequest, False),
    ],
)
async def test_a_submission_is_never_resent_when_heygen_may_have_it(
    heygen: HeyGenClient, sandbox: Sandbox, fault: Fault, error: type[errors.HeyGenError], maybe_accepted: bool
) -> None:
    sandbox.inject("create", fault, times=5)
    before = sandbox.count("create")
    with pytest.raises(error) as info:
        await heygen.create_execution(VIDEO)
    assert sandbox.count("create") - before == 1
    assert info.value.maybe_accepted is maybe_accepted


async def test_heygen_message_is_passed_on(heygen: HeyGenClient, sandbox: Sandbox) -> None:
    sandbox.inject("create", Fault(status=400, body={"error": {"message": "prompt violates policy"}}))
    with pytest.raises(errors.BadRequest, match="prompt violates policy"):
        await heygen.create_execution(VIDEO)


async def test_submission_timeout_is_not_retried(sandbox: Sandbox, sleeps: Sleeps) -> None:
    client = make_client(sandbox.base_url, sleeps, read=0.3)
    sandbox.inject("create", Fault.hang(2.0))
    before = sandbox.count("create")
    with pytest.raises(errors.APITimedOut) as info:
        await client.create_execution(VIDEO)
    await client.aclose()
    assert info.value.maybe_accepted
    assert "may or may not have created" in str(info.value)
    assert sandbox.count("create") - before == 1


async def test_read_timeout_is_retried(sandbox: Sandbox, sleeps: Sleeps) -> None:
    client = make_client(sandbox.base_url, sleeps, read=0.3)
    sandbox.inject("status", Fault.hang(2.0))
    execution = await client.get_execution("node-gw-x")
    await client.aclose()
    assert execution.status == "not_found"
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        {"data": "oops"},
        {"data": {"execution_id": "node-gw-x"}},
        {"unexpected": True},
        [1, 2, 3],
    ],
)
async def test_oddly_shaped_status_bodies(heygen: HeyGenClient, sandbox: Sandbox, body: Any) -> None:
    sandbox.inject("status", Fault(status=200, body=body if not isinstance(body, list) else str(body)))
    with pytest.raises(errors.UnexpectedResponse, match="expected shape"):
        await heygen.get_execution("node-gw-x")


async def test_connection_refused_is_retried_then_reported(sleeps: Sleeps) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", sleeps)
    with pytest.raises(errors.APIConnectionFailed, match="Could not connect"):
        await client.create_execution(VIDEO)
    await client.aclose()
    assert len(sleeps.delays) == 3  # safe to retry a submission that never left


async def test_failed_job_carries_heygens_message(heygen: HeyGenClient, sandbox: Sandbox) -> None:
    sandbox.next_outcome("failed", message="Content policy violation: weapons")
    created = await heygen.create_execution(VIDEO)
    sandbox.jobs[created.execution_id].submitted_at -= 10  # fast-forward the render
    execution = await heygen.get_execution(created.execution_id)
    assert execution.status == "failed"
    assert execution.error == "Content policy violation: weapons"


async def test_errors_carry_heygens_request_id(heygen: HeyGenClient, sandbox: Sandbox) -> None:
    sandbox.inject("status", Fault(status=500, headers={"X-Request-Id": "req-4f2a"}), times=4)
    with pytest.raises(errors.ServerFault, match="HeyGen request id: req-4f2a") as info:
        await heygen.get_execution("node-gw-x")
    assert info.value.request_id == "req-4f2a" and info.value.status_code == 500


async def test_a_retry_after_past_the_deadline_is_answered_not_waited(
    heygen: HeyGenClient, sandbox: Sandbox, sleeps: Sleeps
) -> None:
    sandbox.inject("create", Fault.rate_limited(retry_after=20), times=5)
    with anyio.fail_after(10), pytest.raises(errors.RateLimited, match="Wait 20 seconds") as caught:
        await heygen.create_execution(VIDEO)
    assert "nothing was spent" in str(caught.value) and not caught.value.maybe_accepted
    assert sleeps.delays == [] and sandbox.count("create") == 1


async def test_a_hanging_read_is_reported_before_the_deadline(sandbox: Sandbox, sleeps: Sleeps) -> None:
    sandbox.reset()
    client = make_client(sandbox.base_url, sleeps, read=30.0)
    sandbox.inject("status", Fault.hang(30), times=5)
    try:
        with anyio.fail_after(4), pytest.raises(errors.APITimedOut, match="did not answer"):
            await client.get_execution("node-gw-1")
    finally:
        await client.aclose()
        sandbox.reset()


async def test_the_wire_tells_not_sent_from_maybe_sent(sandbox: Sandbox, sleeps: Sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # bound, never listening: connections are refused
        nowhere = make_client(f"http://127.0.0.1:{closed_port}", sleeps)
        wire = Wire()
        with pytest.raises(errors.APIConnectionFailed, match="nothing was sent") as refused:
            await nowhere.create_execution(VIDEO, wire)
        await nowhere.aclose()
    assert not wire.sent and not refused.value.maybe_accepted

    sandbox.reset()
    client = make_client(sandbox.base_url, sleeps)
    sandbox.inject("create", Fault(drop=True))
    wire = Wire()
    with pytest.raises(errors.APIConnectionFailed) as lost:
        await client.create_execution(VIDEO, wire)
    await client.aclose()
    assert wire.sent and lost.value.maybe_accepted


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_a_value_json_cannot_carry_is_never_sent(heygen: HeyGenClient, sandbox: Sandbox, value: float) -> None:
    with pytest.raises(errors.InvalidInput, match="nothing was sent"):
        await heygen.create_execution({**VIDEO, "config": {"seed": value}})
    assert sandbox.count("create") == 0
