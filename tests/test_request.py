"""Input checks, as a table: what is accepted (and how it is normalised) and what is refused with which hint."""

from __future__ import annotations

from typing import Any

import pytest

from heygen_video_mcp.tools.download import clean_filename, default_filename
from heygen_video_mcp.tools.errors import InvalidInput
from heygen_video_mcp.tools.request import MAX_PROMPT_CHARS, VideoRequest, checked_execution_id
from heygen_video_mcp.tools.status import normalise_status, session_status

BASE: dict[str, Any] = {"prompt": "A fox runs through snow", "provider": "veo_3_1", "aspect_ratio": "16:9"}


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({}, "prompt", "A fox runs through snow"),
        ({"prompt": "  padded prompt \n"}, "prompt", "padded prompt"),
        ({"aspect_ratio": " 9:16 "}, "aspect_ratio", "9:16"),
        ({"aspect_ratio": "4:5"}, "aspect_ratio", "4:5"),
        ({"aspect_ratio": "21:9"}, "aspect_ratio", "21:9"),
        ({"provider": "ltx_distilled"}, "provider", "ltx_distilled"),
        ({"reference_image_url": "https://example.com/p.png"}, "reference_image_url", "https://example.com/p.png"),
        ({"reference_image_url": "   "}, "reference_image_url", None),
        ({"tail_image_url": "http://example.com/end.jpg"}, "tail_image_url", "http://example.com/end.jpg"),
        ({"config": {"duration": 8}}, "config", {"duration": 8}),
        ({"prompt": "x" * MAX_PROMPT_CHARS}, "prompt", "x" * MAX_PROMPT_CHARS),
    ],
)
def test_accepted_requests(changes: dict[str, Any], field: str, expected: object) -> None:
    request = VideoRequest.checked(**(BASE | changes))
    assert getattr(request, field) == expected


@pytest.mark.parametrize(
    ("changes", "hint"),
    [
        ({"prompt": ""}, "prompt is empty"),
        ({"prompt": " \n\t "}, "prompt is empty"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, f"the limit is {MAX_PROMPT_CHARS}"),
        ({"provider": "veo4"}, "Valid providers: veo_3_1, veo_3_1_fast"),
        ({"provider": ""}, "Valid providers"),
        ({"aspect_ratio": "16x9"}, "Use 16:9 (landscape)"),
        ({"aspect_ratio": "0:1"}, "not W:H"),
        ({"aspect_ratio": "16:9:1"}, "not W:H"),
        ({"aspect_ratio": "landscape"}, "not W:H"),
        ({"aspect_ratio": "1000:1"}, "not W:H"),
        ({"reference_image_url": "file:///etc/passwd"}, "reference_image_url must be a public http(s) URL"),
        ({"reference_image_url": "ftp://example.com/a.png"}, "http(s)"),
        ({"reference_image_url": "javascript:alert(1)"}, "http(s)"),
        ({"tail_image_url": "https://"}, "tail_image_url must be"),
        ({"tail_image_url": "https://e.com/" + "a" * 3000}, "at most 2048 characters"),
        ({"config": {"k": "v" * 20_000}}, "config is larger than"),
    ],
)
def test_refused_requests(changes: dict[str, Any], hint: str) -> None:
    with pytest.raises(InvalidInput, match=None) as info:
        VideoRequest.checked(**(BASE | changes))
    assert hint in str(info.value)


def test_api_input_follows_the_contract() -> None:
    plain = VideoRequest.checked(**BASE).api_input()
    assert plain == {"prompt": "A fox runs through snow", "provider": "veo_3_1", "aspect_ratio": "16:9"}
    full = VideoRequest.checked(
        **BASE, reference_image_url="https://e.com/a.png", tail_image_url="https://e.com/b.png", config={"seed": 1}
    ).api_input()
    assert full["reference_image_url"] == "https://e.com/a.png"
    assert full["tail_image_url"] == "https://e.com/b.png"
    assert full["config"] == {"seed": 1}


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({}, {"prompt": "A  fox runs\nthrough snow"}, True),
        ({}, {"prompt": "A fox runs through snow "}, True),
        ({"config": {"a": 1, "b": 2}}, {"config": {"b": 2, "a": 1}}, True),
        ({}, {"prompt": "A fox runs through snow!"}, False),
        ({}, {"provider": "kling_pro"}, False),
        ({}, {"aspect_ratio": "9:16"}, False),
        ({}, {"reference_image_url": "https://e.com/a.png"}, False),
        ({"config": {"a": 1}}, {"config": {"a": 2}}, False),
    ],
)
def test_fingerprint(a: dict[str, Any], b: dict[str, Any], same: bool) -> None:
    first = VideoRequest.checked(**(BASE | a)).fingerprint()
    second = VideoRequest.checked(**(BASE | b)).fingerprint()
    assert (first == second) is same


@pytest.mark.parametrize("value", ["node-gw-v1d2e3o4", "abc", "A_b-9", " node-1 "])
def test_execution_ids_accepted(value: str) -> None:
    assert checked_execution_id(value) == value.strip()


@pytest.mark.parametrize(
    "value",
    ["", "../etc/passwd", "a/b", "a?b=1", "a#b", "..", "a b", "%2e%2e", "x" * 129, "x" * 5000, "-leading", "é"],
)
def test_execution_ids_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        checked_execution_id(value)
    message = str(info.value)
    assert "generate_video returned" in message
    assert len(message) < 400  # a huge id is never echoed back whole


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("submitted", "submitted"),
        ("pending", "submitted"),
        ("queued", "submitted"),
        ("processing", "processing"),
        ("running", "processing"),
        ("rendering_stage_2", "processing"),
        ("COMPLETED", "completed"),
        ("failed", "failed"),
        ("not_found", "not_found"),
    ],
)
def test_status_normalisation(raw: str, status: str) -> None:
    assert normalise_status(raw) == status


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("thinking", "submitted"),
        ("waiting_for_input", "failed"),
        ("reviewing", "processing"),
        ("generating", "processing"),
        ("completed", "completed"),
        ("failed", "failed"),
        ("something_new", "processing"),
    ],
)
def test_video_agent_session_words(raw: str, status: str) -> None:
    assert session_status(raw) == status


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("clip.mp4", "clip.mp4"),
        ("clip", "clip.mp4"),
        ("My Clip.MP4", "My Clip.mp4"),
        ('my clip: "best"?.mp4', "my clip_ _best_.mp4"),
        ("café.mp4", "cafe_.mp4"),
        (".hidden", "hidden.mp4"),
    ],
)
def test_clean_filename(name: str, cleaned: str) -> None:
    assert clean_filename(name) == cleaned


@pytest.mark.parametrize("name", ["../x.mp4", "/etc/passwd", "a/b.mp4", "a\\b.mp4", "..", ".", "", "~root"])
def test_hostile_filenames_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="plain file name"):
        clean_filename(name)


def test_default_filename_is_readable_and_unique() -> None:
    name = default_filename(1_790_000_000, "A Drone shot over Lisbon, at golden hour!", "node-gw-1")
    assert name.endswith("_a-drone-shot-over-lisbon-at-golden-hour_node-gw-1.mp4")
    assert name[:4].isdigit()
    assert default_filename(1_790_000_000, "", "node-gw-2").endswith("_video_node-gw-2.mp4")
