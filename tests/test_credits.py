"""Credits (GET /v3/users/me, heygen-cli gen/user.go): check_credits says the billing type and what is left; a
402 says the balance; the Video Agent's price per second is in generate_video's description and result."""

from __future__ import annotations

import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import MakeSettings, data_of, text_of

pytestmark = pytest.mark.anyio
AGENT = {"prompt": "A florist explains how to keep tulips fresh, bright shop, friendly", "provider": "video_agent"}


def account_reads(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path == "/v3/users/me")


async def test_check_credits_says_billing_type_and_balance(client: Client, sandbox: Sandbox) -> None:
    sandbox.set_credits(3)
    result = await client.call_tool("check_credits", {})
    assert not result.is_error, text_of(result)
    data = data_of(result)
    assert data["billing_type"] == "wallet" and data["remaining_balance_usd"] == 6.0
    assert data["video_agent_usd_per_second"] == 0.0333
    assert data["video_agent_seconds_affordable"] == 180
    assert "$6.00" in text_of(result) and account_reads(sandbox) == 1
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["check_credits"].annotations is not None and tools["check_credits"].annotations.read_only_hint


async def test_check_credits_without_a_key_sends_nothing(make_settings: MakeSettings, sandbox: Sandbox) -> None:
    async with Client(create_server(make_settings(api_key=None))) as client:
        result = await client.call_tool("check_credits", {})
    assert result.is_error and data_of(result)["error"] == "missing_api_key"
    assert account_reads(sandbox) == 0


async def test_a_402_says_what_the_balance_is(client: Client, sandbox: Sandbox) -> None:
    sandbox.set_credits(0)
    result = await client.call_tool("generate_video", AGENT)
    assert result.is_error and data_of(result)["error"] == "insufficient_credits"
    assert "remaining balance is $0.00" in text_of(result), text_of(result)


async def test_the_video_agents_price_is_in_its_description_and_result(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert "$0.0333 per second" in (tools["generate_video"].description or "")
    made = await client.call_tool("generate_video", AGENT)
    assert "$0.0333 per second" in text_of(made), text_of(made)


async def test_list_providers_says_the_balance_when_a_key_is_set(client: Client, sandbox: Sandbox) -> None:
    sandbox.set_credits(3)
    result = await client.call_tool("list_providers", {})
    assert not result.is_error and "$6.00" in data_of(result)["account"] and "$6.00" in text_of(result)
    assert account_reads(sandbox) == 1


async def test_list_providers_without_a_key_or_an_answer_still_lists(
    make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    async with Client(create_server(make_settings(api_key=None))) as client:
        result = await client.call_tool("list_providers", {})
    assert not result.is_error and data_of(result)["providers"] and "account" not in data_of(result)
    assert account_reads(sandbox) == 0
    async with Client(create_server(make_settings(api_key="sk-not-the-sandbox-key-0000"))) as client:
        result = await client.call_tool("list_providers", {})
    assert not result.is_error and data_of(result)["providers"] and "account" not in data_of(result)
