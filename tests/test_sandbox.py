"""The HeyGen sandbox over real HTTP: routes, job lifecycle, faults and the MP4 it serves."""

from __future__ import annotations

import argparse
import json
import random
import struct
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest

from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.server.sandbox.__main__ import main as sandbox_main
from heygen_video_mcp.server.sandbox.__main__ import render_seconds as parse_render_seconds
from heygen_video_mcp.server.sandbox.mp4 import escape, iter_mp4, mp4_bytes

KEY = "sandbox-key"
CREATE = "/v1/workflows/executions"
SUBMITTED_SECONDS = 0.15
RENDER_SECONDS = 0.4


# Overrides conftest's shared sandbox so these tests control the key and timings themselves.
@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        api_key=KEY, render_seconds=RENDER_SECONDS, submitted_seconds=SUBMITTED_SECONDS, video_seconds=1.0
    ) as sb:
        yield sb


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sandbox.base_url, headers={"X-Api-Key": KEY}, timeout=5) as c:
        yield c


def submit(api: httpx2.Client, **fields: object) -> str:
    response = api.post(CREATE, json={"workflow_type": "GenerateVideoNode", "input": {"prompt": "a", **fields}})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "submitted"
    assert data["execution_id"].startswith("node-gw-")
    return str(data["execution_id"])


def status(api: httpx2.Client, execution_id: str) -> dict[str, object]:
    response = api.get(f"{CREATE}/{execution_id}")
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def wait_done(api: httpx2.Client, execution_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = status(api, execution_id)
        if data["status"] not in ("submitted", "processing"):
            return data
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} never finished")


def video_url(data: dict[str, object]) -> str:
    output = data["output"]
    assert isinstance(output, dict)
    return str(output["video"]["video_url"])


def video_id_of(url: str) -> str:
    return url.split("/videos/")[1].split(".mp4")[0]


def finished(render_seconds: float = 0.0) -> Sandbox:
    """A sandbox of its own (to be stopped by the test) whose jobs finish at once."""
    return Sandbox(api_key=KEY, render_seconds=render_seconds, submitted_seconds=0.0, video_seconds=1.0).start()


def top_boxes(data: bytes) -> list[bytes]:
    kinds, offset = [], 0
    while offset < len(data):
        size = struct.unpack_from(">I", data, offset)[0]
        kinds.append(data[offset + 4 : offset + 8])
        offset += size
    assert offset == len(data)
    return kinds


def tkhd_size(data: bytes) -> tuple[int, int]:
    start = data.index(b"tkhd") - 4
    end = start + struct.unpack_from(">I", data, start)[0]
    width, height = struct.unpack_from(">II", data, end - 8)
    return width >> 16, height >> 16


def test_wrong_or_missing_key_is_401_and_never_echoed(sandbox: Sandbox) -> None:
    body = {"workflow_type": "GenerateVideoNode", "input": {"prompt": "a"}}
    with httpx2.Client(base_url=sandbox.base_url) as anonymous:
        missing = anonymous.post(CREATE, json=body)
        wrong = anonymous.post(CREATE, json=body, headers={"X-Api-Key": "wrong-key-4711"})
        polled = anonymous.get(f"{CREATE}/node-gw-1", headers={"X-Api-Key": "wrong-key-4711"})
    for response in (missing, wrong, polled):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "wrong-key-4711" not in response.text
    recorded = [r.headers.get("x-api-key") for r in sandbox.requests[-3:]]
    assert recorded == [None, "<mismatch>", "<mismatch>"]


def test_api_key_is_never_recorded(sandbox: Sandbox, api: httpx2.Client) -> None:
    submit(api)
    assert sandbox.requests[-1].headers["x-api-key"] == "<match>"
    assert all(KEY not in json.dumps(r.headers) for r in sandbox.requests)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"workflow_type": "Other", "input": {"prompt": "a"}}, "workflow_type"),
        ({"workflow_type": "GenerateVideoNode"}, "input"),
        ({"workflow_type": "GenerateVideoNode", "input": {"prompt": "  "}}, "prompt"),
        ({"workflow_type": "GenerateVideoNode", "input": {"prompt": "a", "provider": "veo9"}}, "provider"),
        ({"workflow_type": "GenerateVideoNode", "input": {"prompt": "a", "aspect_ratio": "wide"}}, "aspect_ratio"),
        ({"workflow_type": "GenerateVideoNode", "input": {"prompt": "a", "config": [1]}}, "config"),
        ({"workflow_type": "GenerateVideoNode", "input": {"prompt": "a", "tail_image_url": 3}}, "tail_image_url"),
        ({"workflow_type": "GenerateVideoNode", "input": {"prompt": "a", "aspectRatio": "1:1"}}, "aspectRatio"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_requests_are_400_with_a_message(api: httpx2.Client, body: object, needle: str) -> None:
    response = api.post(CREATE, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert needle in error["message"]


def test_non_json_body_is_400(api: httpx2.Client) -> None:
    response = api.post(CREATE, content=b"prompt=a")
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


def test_lifecycle_and_download(sandbox: Sandbox, api: httpx2.Client) -> None:
    execution_id = submit(api, aspect_ratio="9:16", provider="kling_pro", config={"seed": 1})
    assert sandbox.jobs[execution_id].input["provider"] == "kling_pro"
    seen: list[object] = ["submitted"]  # what submit() saw
    while seen[-1] in ("submitted", "processing"):
        data = status(api, execution_id)
        if seen[-1] != data["status"]:
            seen.append(data["status"])
        time.sleep(0.03)
    assert seen == ["submitted", "processing", "completed"]
    output = data["output"]
    assert isinstance(output, dict)
    assert str(output["asset_id"]).startswith("asset-")
    video_id = output["video"]["video_id"]
    url = video_url(data)
    assert url.startswith(f"{sandbox.base_url}/videos/{video_id}.mp4?expires=")
    with httpx2.Client() as anonymous:
        response = anonymous.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.content == sandbox.video_bytes(video_id)
    assert top_boxes(response.content) == [b"ftyp", b"moov", b"mdat"]
    assert tkhd_size(response.content) == (144, 256)
    assert sandbox.requests[-1].route == "video"
    assert "x-api-key" not in sandbox.requests[-1].headers


def test_video_url_needs_a_valid_signature(sandbox: Sandbox, api: httpx2.Client) -> None:
    url = video_url(wait_done(api, submit(api)))
    with httpx2.Client() as anonymous:
        for bad in (url.replace("signature=", "signature=0"), url.split("?")[0], f"{sandbox.base_url}/videos/x.mp4"):
            response = anonymous.get(bad)
            assert response.status_code == 403
            assert response.headers["content-type"] == "application/xml"
            assert "<Code>AccessDenied</Code>" in response.text


def test_outcomes(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.next_outcome("failed", message="Content policy violation")
    sandbox.next_outcome("completed_without_url")
    sandbox.next_outcome("vanish")
    failed, no_url, vanished = submit(api), submit(api), submit(api)
    assert wait_done(api, failed) == {
        "execution_id": failed,
        "status": "failed",
        "error": {"message": "Content policy violation"},
    }
    data = wait_done(api, no_url)
    assert data["status"] == "completed"
    output = data["output"]
    assert isinstance(output, dict)
    assert set(output["video"]) == {"video_id"}
    assert status(api, vanished) == {"execution_id": vanished, "status": "not_found"}
    assert status(api, "node-gw-unknown") == {"execution_id": "node-gw-unknown", "status": "not_found"}


def test_rate_limit_fault_then_recovery(sandbox: Sandbox, api: httpx2.Client) -> None:
    before = sandbox.count("create")
    sandbox.inject("create", Fault.rate_limited(retry_after=1), times=2)
    body = {"workflow_type": "GenerateVideoNode", "input": {"prompt": "a"}}
    for _ in range(2):
        response = api.post(CREATE, json=body)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
    submit(api)
    assert sandbox.count("create") == before + 3


def test_server_error_fault_skips_auth(sandbox: Sandbox) -> None:
    sandbox.inject("status", Fault.server_error(503))
    with httpx2.Client(base_url=sandbox.base_url) as anonymous:
        response = anonymous.get(f"{CREATE}/node-gw-1")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


def test_malformed_and_html_faults(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.inject("status", Fault.malformed())
    sandbox.inject("status", Fault.html(status=502))
    malformed = api.get(f"{CREATE}/node-gw-1")
    assert malformed.status_code == 200
    assert malformed.text == '{"data": '
    with pytest.raises(ValueError):
        malformed.json()
    html = api.get(f"{CREATE}/node-gw-1")
    assert html.status_code == 502
    assert html.headers["content-type"].startswith("text/html")
    assert html.text.startswith("<!DOCTYPE html>")


def test_delay_fault_times_out_without_blocking_the_sandbox(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.inject("status", Fault(delay=1.0))
    with pytest.raises(httpx2.ReadTimeout):
        api.get(f"{CREATE}/node-gw-1", timeout=0.2)
    started = time.monotonic()
    assert status(api, "node-gw-2")["status"] == "not_found"
    assert time.monotonic() - started < 0.5


def test_passthrough_delays_a_real_create(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.inject("create", Fault(delay=0.3, passthrough=True))
    started = time.monotonic()
    execution_id = submit(api)
    assert time.monotonic() - started >= 0.3
    assert execution_id in sandbox.jobs


def test_drop_fault_cuts_the_connection(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.inject("status", Fault(drop=True))
    with pytest.raises(httpx2.RemoteProtocolError):
        api.get(f"{CREATE}/node-gw-1")
    assert status(api, "node-gw-1")["status"] == "not_found"


def test_late_answer_holds_back_the_answer_of_a_job_that_exists(sandbox: Sandbox, api: httpx2.Client) -> None:
    before = set(sandbox.jobs)
    sandbox.inject("create", Fault.late_answer(0.5))
    answers: list[str] = []
    worker = threading.Thread(target=lambda: answers.append(submit(api)))
    worker.start()
    deadline = time.monotonic() + 5
    while not set(sandbox.jobs) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    (created,) = set(sandbox.jobs) - before
    assert answers == []  # HeyGen has the job; the client does not know it yet
    worker.join()
    assert answers == [created]
    # A client that gives up first has a job it never heard of.
    sandbox.inject("create", Fault.late_answer(1.0))
    with pytest.raises(httpx2.ReadTimeout):
        api.post(CREATE, json={"workflow_type": "GenerateVideoNode", "input": {"prompt": "a"}}, timeout=0.2)
    assert len(set(sandbox.jobs) - before) == 2


def test_lost_answer_closes_the_connection_after_creating_the_job(sandbox: Sandbox, api: httpx2.Client) -> None:
    before, created = set(sandbox.jobs), sandbox.count("create")
    sandbox.inject("create", Fault.lost_answer())
    with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
        api.post(CREATE, json={"workflow_type": "GenerateVideoNode", "input": {"prompt": "a"}})
    (execution_id,) = set(sandbox.jobs) - before
    assert sandbox.count("create") == created + 1
    assert wait_done(api, execution_id)["status"] == "completed"  # the connection pool recovers


def test_read_lag_and_not_found_faults(sandbox: Sandbox, api: httpx2.Client) -> None:
    older = submit(api)
    wait_done(api, older)
    sandbox.set_read_lag(0.3)
    try:
        lagging = submit(api)
        assert status(api, lagging) == {"execution_id": lagging, "status": "not_found"}
        assert status(api, older)["status"] != "not_found"  # only jobs created after set_read_lag
        deadline = time.monotonic() + 5
        while status(api, lagging)["status"] == "not_found":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        sandbox.reset()
    assert status(api, submit(api))["status"] == "submitted"  # reset() ends the lag
    sandbox.inject("status", Fault.not_found(), times=2)
    for _ in range(2):
        assert status(api, older) == {"execution_id": older, "status": "not_found"}
    assert status(api, older)["status"] == "completed"


def test_retry_after_storm(sandbox: Sandbox, api: httpx2.Client) -> None:
    jobs, before = len(sandbox.jobs), sandbox.count("create")
    sandbox.inject("create", Fault.rate_limited(30), times=10)
    for _ in range(10):
        response = api.post(CREATE, json={"workflow_type": "GenerateVideoNode", "input": {"prompt": "a"}})
        assert (response.status_code, response.headers["retry-after"]) == (429, "30")
    assert len(sandbox.jobs) == jobs  # a 429 makes nothing
    submit(api)
    assert sandbox.count("create") == before + 11


def test_range_requests(sandbox: Sandbox, api: httpx2.Client) -> None:
    url = video_url(wait_done(api, submit(api)))
    full = sandbox.video_bytes(video_id_of(url))
    total = len(full)
    spans = {"bytes=100-": (100, total), "bytes=10-19": (10, 20), "bytes=-5": (total - 5, total)}
    spans["bytes=5-999999999"] = (5, total)
    with httpx2.Client() as anonymous:
        whole = anonymous.get(url)
        assert (whole.status_code, whole.headers["accept-ranges"]) == (200, "bytes")
        for header, (start, stop) in spans.items():
            part = anonymous.get(url, headers={"Range": header})
            assert part.status_code == 206, header
            assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{total}"
            assert part.content == full[start:stop]
        beyond = anonymous.get(url, headers={"Range": f"bytes={total}-"})
        assert (beyond.status_code, beyond.headers["content-range"]) == (416, f"bytes */{total}")
        for ignored in ("bytes=9-3", "items=0-1", "bytes=0-1,5-6"):
            assert anonymous.get(url, headers={"Range": ignored}).content == full
        size = 3 * 1024 * 1024
        sandbox.set_video_size(size)
        try:
            padded = sandbox.video_bytes(video_id_of(url))
            for start, stop in ((total - 4, total + 12), (2_000_000, 2_000_100), (size - 70_000, size)):
                part = anonymous.get(url, headers={"Range": f"bytes={start}-{stop - 1}"})
                assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
                assert part.content == padded[start:stop]
            sandbox.set_video_ranges(False)  # a host that ignores Range
            plain = anonymous.get(url, headers={"Range": "bytes=100-"})
            assert plain.status_code == 200
            assert "accept-ranges" not in plain.headers and "content-range" not in plain.headers
            assert plain.content == padded
        finally:
            sandbox.reset()
    assert sandbox.video_ranges is True


def test_slow_video_arrives_in_pieces(sandbox: Sandbox, api: httpx2.Client) -> None:
    url = video_url(wait_done(api, submit(api)))
    full = sandbox.video_bytes(video_id_of(url))
    sandbox.set_video_rate(len(full) * 3)  # about a third of a second, in twentieths of a second
    try:
        pieces: list[bytes] = []
        with httpx2.Client() as anonymous, anonymous.stream("GET", url) as response:
            pieces.extend(response.iter_raw())
        assert b"".join(pieces) == full
        assert len(pieces) >= 5
        assert max(map(len, pieces)) <= len(full) * 3 // 20
    finally:
        sandbox.reset()


def test_stop_does_not_wait_out_a_slow_video() -> None:
    sb = finished()
    sb.set_video_rate(1000)  # two minutes for the whole video
    with httpx2.Client(base_url=sb.base_url, headers={"X-Api-Key": KEY}, timeout=5) as client:
        url = video_url(wait_done(client, submit(client)))
    first: list[bytes] = []

    def download() -> None:
        with httpx2.Client(timeout=10) as anonymous, anonymous.stream("GET", url) as response:
            for chunk in response.iter_raw():
                first.append(chunk)

    worker = threading.Thread(target=download)
    worker.start()
    while not first:
        time.sleep(0.01)
    started = time.monotonic()
    sb.stop()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert time.monotonic() - started < 3


def test_chunked_video_without_length(sandbox: Sandbox, api: httpx2.Client) -> None:
    url = video_url(wait_done(api, submit(api)))
    full = sandbox.video_bytes(video_id_of(url))
    sandbox.inject("video", Fault.chunked())
    sandbox.inject("video", Fault.chunked(cut_at=1000))
    with httpx2.Client() as anonymous:
        whole = anonymous.get(url)
        assert "content-length" not in whole.headers
        assert whole.headers["transfer-encoding"] == "chunked"
        assert whole.content == full
        received = bytearray()
        with anonymous.stream("GET", url) as response:
            assert response.status_code == 200 and "content-length" not in response.headers
            # h11 sees the connection close before the terminating zero-size chunk.
            with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
                for chunk in response.iter_bytes():
                    received += chunk
    assert received == full[:1000]


def test_redirect_fault(sandbox: Sandbox, api: httpx2.Client) -> None:
    url = video_url(wait_done(api, submit(api)))
    private = "http://169.254.169.254/latest/meta-data/"
    sandbox.inject("video", Fault.redirect(private))
    sandbox.inject("video", Fault.redirect(url))
    with httpx2.Client() as anonymous:
        refused = anonymous.get(url)
        assert (refused.status_code, refused.headers["location"]) == (302, private)
        followed = anonymous.get(url, follow_redirects=True)
    assert followed.status_code == 200
    assert followed.content == sandbox.video_bytes(video_id_of(url))
    assert [r.route for r in sandbox.requests[-3:]] == ["video"] * 3


def test_truncated_video(sandbox: Sandbox, api: httpx2.Client) -> None:
    url = video_url(wait_done(api, submit(api)))
    sandbox.inject("video", Fault(truncate_at=1000))
    received = bytearray()
    with httpx2.Client() as anonymous, anonymous.stream("GET", url) as response:
        assert response.status_code == 200
        full = int(response.headers["content-length"])
        with pytest.raises(httpx2.RemoteProtocolError):
            for chunk in response.iter_bytes():
                received += chunk
    assert len(received) == 1000
    assert full > 1000
    with httpx2.Client() as anonymous:
        assert len(anonymous.get(url).content) == full


def test_padded_video_is_streamed_to_exact_size(sandbox: Sandbox, api: httpx2.Client) -> None:
    url = video_url(wait_done(api, submit(api, aspect_ratio="1:1")))
    video_id = url.split("/videos/")[1].split(".mp4")[0]
    size = 3 * 1024 * 1024
    sandbox.set_video_size(size)
    try:
        received = bytearray()
        with httpx2.Client() as anonymous, anonymous.stream("GET", url) as response:
            assert int(response.headers["content-length"]) == size
            for chunk in response.iter_bytes():
                received += chunk
        assert len(received) == size
        assert received == sandbox.video_bytes(video_id)
        assert top_boxes(bytes(received)) == [b"ftyp", b"moov", b"mdat", b"free"]
        assert tkhd_size(bytes(received)) == (256, 256)
    finally:
        sandbox.set_video_size(None)


def test_unknown_route_and_wrong_method(sandbox: Sandbox, api: httpx2.Client) -> None:
    missing = api.get("/v2/nothing?x=1")
    assert (missing.status_code, missing.text) == (404, "Not Found")
    assert api.get(CREATE).status_code == 405
    assert api.post(f"{CREATE}/node-gw-1").status_code == 405
    last = sandbox.requests[-3]
    assert (last.route, last.path, last.query) == ("other", "/v2/nothing", "x=1")


def test_reset_forgets_faults_outcomes_log_and_video_size(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.inject("create", Fault.server_error())
    sandbox.next_outcome("failed")
    sandbox.set_video_size(10_000_000)
    api.get("/nothing")
    sandbox.reset()
    assert sandbox.requests == []
    assert sandbox.video_size is None
    assert wait_done(api, submit(api))["status"] == "completed"


def test_render_range_draws_each_jobs_time_and_says_when_it_completes() -> None:
    with (
        Sandbox(api_key=KEY, render_seconds=(0.3, 0.9), submitted_seconds=0.05, render_seed=11) as sb,
        httpx2.Client(base_url=sb.base_url, headers={"X-Api-Key": KEY}, timeout=5) as api,
    ):
        ids = [submit(api) for _ in range(6)]
        jobs = [sb.jobs[execution_id] for execution_id in ids]
        assert all(0.3 <= job.render_seconds <= 0.9 for job in jobs)
        assert len({job.render_seconds for job in jobs}) == 6
        for job in jobs:
            assert job.completes_at == job.submitted_at + job.render_seconds
            assert abs(job.completes_at_wall - (time.time() - time.monotonic() + job.completes_at)) < 0.05
        job = max(jobs, key=lambda j: j.completes_at)
        seen: list[tuple[float, str, float]] = []  # (sent, status, answered), monotonic
        while not seen or seen[-1][1] != "completed":
            sent = time.monotonic()
            answer = str(status(api, job.execution_id)["status"])
            seen.append((sent, answer, time.monotonic()))
            assert sent < job.completes_at + 2, "never completed"
            time.sleep(0.02)
        # Each answer was computed between sending and receiving it, on the same monotonic clock.
        assert all(sent < job.completes_at for sent, answer, _ in seen if answer != "completed")
        assert seen[-1][2] >= job.completes_at
        assert "processing" in [answer for _, answer, _ in seen]
        assert len(sb.status_reads(job.execution_id)) == len(seen)


def test_render_seed_repeats_render_times_and_reset_restores_them(sandbox: Sandbox, api: httpx2.Client) -> None:
    try:
        drawn = []
        for _ in range(2):
            sandbox.set_render_seconds((20, 40), seed=5)
            drawn.append([sandbox.jobs[submit(api)].render_seconds for _ in range(3)])
        assert drawn[0] == drawn[1]
        assert all(20 <= seconds <= 40 for seconds in drawn[0])
        sandbox.set_render_seconds(1.5)
        assert sandbox.jobs[submit(api)].render_seconds == 1.5
    finally:
        sandbox.reset()
    assert sandbox.jobs[submit(api)].render_seconds == RENDER_SECONDS
    for bad in ((5.0, 1.0), (-1.0, 2.0), float("nan"), float("inf")):
        with pytest.raises(ValueError, match="render seconds"):
            sandbox.set_render_seconds(bad)


def test_cli_render_range() -> None:
    assert parse_render_seconds("20-40") == (20.0, 40.0)
    assert parse_render_seconds("3") == 3.0
    for bad in ("40-20", "fast", "-3"):
        with pytest.raises(argparse.ArgumentTypeError, match="20-40"):
            parse_render_seconds(bad)
    with pytest.raises(SystemExit):
        sandbox_main(["--render-seconds", "40-20"])


def test_stop_does_not_wait_out_a_hang() -> None:
    sb = Sandbox(api_key=KEY).start()
    sb.inject("status", Fault.hang(30))
    codes: list[int] = []

    def poll() -> None:
        with httpx2.Client(timeout=10) as c:
            codes.append(c.get(f"{sb.base_url}{CREATE}/node-gw-1").status_code)

    worker = threading.Thread(target=poll)
    worker.start()
    while sb.count("status") == 0:
        time.sleep(0.01)
    started = time.monotonic()
    sb.stop()
    worker.join()
    assert time.monotonic() - started < 3
    assert codes == [504]


@pytest.mark.parametrize(("ratio", "size"), [((16, 9), (256, 144)), ((9, 16), (144, 256)), ((1, 1), (256, 256))])
def test_mp4_size_follows_ratio(ratio: tuple[int, int], size: tuple[int, int]) -> None:
    data = mp4_bytes(*ratio, 1.0, seed="s")
    assert top_boxes(data) == [b"ftyp", b"moov", b"mdat"]
    assert tkhd_size(data) == size
    assert data[8:12] == b"isom"
    assert b"avcC" in data and b"stss" in data


def test_padding_streams_small_chunks_and_rejects_impossible_sizes() -> None:
    video = mp4_bytes(16, 9, 0.5, seed="s")
    chunks = list(iter_mp4(video, total_size=len(video) + 200_000))
    assert max(map(len, chunks)) <= 65536
    assert sum(map(len, chunks)) == len(video) + 200_000
    with pytest.raises(ValueError):
        iter_mp4(video, total_size=len(video) + 4)
    with pytest.raises(ValueError):
        iter_mp4(video, total_size=len(video) - 1)


def test_mp4_byte_ranges_match_the_whole() -> None:
    video = mp4_bytes(16, 9, 0.5, seed="s")
    rng = random.Random(7)
    for total in (None, len(video) + 8, len(video) + 200_000):
        whole = b"".join(iter_mp4(video, total_size=total))
        for _ in range(200):
            start = rng.randrange(len(whole) + 1)
            stop = rng.randrange(start, len(whole) + 1)
            chunk = rng.choice([7, 4096, 65536])
            pieces = list(iter_mp4(video, total_size=total, chunk=chunk, start=start, stop=stop))
            assert b"".join(pieces) == whole[start:stop]
            assert all(0 < len(piece) <= chunk for piece in pieces)
    with pytest.raises(ValueError):
        iter_mp4(video, start=10, stop=len(video) + 1)


def test_cli_help_shows_fault_options_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sandbox_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--read-lag READ_LAG", "--video-rate VIDEO_RATE", "--no-video-ranges", "--render-seed"):
        assert option in text
    assert "(default: 0.0)" in text and "(default: True)" in text


def test_emulation_prevention() -> None:
    assert escape(b"\x00\x00\x01\x00\x00\x00\x05") == b"\x00\x00\x03\x01\x00\x00\x03\x00\x05"
    assert escape(b"\x01\x00\x02") == b"\x01\x00\x02"


# --- the v3 Video Agent, HeyGen's 402 and a retired v1 ------------------------------------------------------


def agent(api: httpx2.Client, **fields: object) -> dict[str, object]:
    response = api.post("/v3/video-agents", json={"prompt": "a presenter explains solar power", **fields})
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def video(api: httpx2.Client, video_id: object) -> httpx2.Response:
    return api.get(f"/v3/videos/{video_id}")


def test_video_agent_lifecycle_and_download(sandbox: Sandbox, api: httpx2.Client) -> None:
    created = agent(api, orientation="portrait", files=[{"type": "url", "url": "https://e.com/a.png"}])
    assert set(created) == {"session_id", "video_id", "status", "created_at"}
    assert str(created["session_id"]).startswith("sess_")
    seen: list[object] = []
    while not seen or seen[-1] in ("pending", "processing"):
        data = video(api, created["video_id"]).json()["data"]
        if not seen or seen[-1] != data["status"]:
            seen.append(data["status"])
        time.sleep(0.03)
    assert seen == ["pending", "processing", "completed"]
    assert data["id"] == created["video_id"] and data["duration"] == 1.0 and data["thumbnail_url"]
    with httpx2.Client() as anonymous:
        response = anonymous.get(str(data["video_url"]))
    assert response.status_code == 200 and response.content == sandbox.video_bytes(str(created["video_id"]))
    assert tkhd_size(response.content) == (144, 256)  # portrait


def test_video_agent_failure_unknown_video_and_bad_requests(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.next_outcome("failed", message="Avatar rendering timed out")
    failed = agent(api)
    deadline = time.monotonic() + 5
    while (data := video(api, failed["video_id"]).json()["data"])["status"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.03)
    assert data["failure_code"] == "rendering_failed" and data["failure_message"] == "Avatar rendering timed out"
    unknown = video(api, "nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for body, needle in (
        ({}, "prompt"),
        ({"prompt": "x" * 10_001}, "prompt"),
        ({"prompt": "a", "orientation": "square"}, "orientation"),
        ({"prompt": "a", "files": [{"type": "url", "url": "http://e.com/a.png"}]}, "HTTPS"),
        ({"prompt": "a", "files": [{"type": "file"}]}, "each file"),
        ({"prompt": "a", "aspect_ratio": "16:9"}, "aspect_ratio"),
        ({"prompt": "a", "avatar_id": 3}, "avatar_id"),
    ):
        response = api.post("/v3/video-agents", json=body)
        assert response.status_code == 400 and needle in response.json()["error"]["message"], (body, response.text)


def test_credits_run_out_with_402(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_credits(1)
    agent(api)
    for path, body in (
        ("/v3/video-agents", {"prompt": "a"}),
        (CREATE, {"workflow_type": "GenerateVideoNode", "input": {"prompt": "a"}}),
    ):
        response = api.post(path, json=body)
        assert response.status_code == 402 and response.json()["error"]["code"] == "insufficient_credit"
    sandbox.set_credits(None)
    agent(api)


@pytest.mark.parametrize(("status", "notice"), [(410, True), (404, False)])
def test_v1_can_be_played_retired(sandbox: Sandbox, api: httpx2.Client, status: int, notice: bool) -> None:
    execution_id = submit(api)
    sandbox.retire_v1(status, notice=notice)
    for response in (api.post(CREATE, json={}), api.get(f"{CREATE}/{execution_id}")):
        assert response.status_code == status
        assert ("retired" in response.json()["error"]["message"]) == notice
    agent(api)  # v3 keeps working
    sandbox.reset()
    assert api.get(f"{CREATE}/{execution_id}").status_code == 200


def test_cli_can_play_v1_retired(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sandbox_main(["--help"])
    assert "--retire-v1 {404,405,410}" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        sandbox_main(["--retire-v1", "500"])
