"""The account's billing and what is left (GET /v3/users/me, heygen-cli gen/user.go): exactly one of wallet
(prepaid USD, or credits for Enterprise), subscription (per-pool credits) or usage_based (metered, with an
optional cap) is filled in, as billing_type says. One read per call; nothing is bought."""

from __future__ import annotations

from typing import Any, Final

import anyio
from pydantic import BaseModel, ConfigDict, Field

from heygen_video_mcp.tools import errors, routes
from heygen_video_mcp.tools.answer import admit_errors
from heygen_video_mcp.tools.client import HeyGenClient

# A balance read added to another answer (a 402) waits this long at most: that answer never waits on it.
ASIDE_SECONDS: Final = 3.0


class Credits(BaseModel):
    model_config = ConfigDict(json_schema_extra=admit_errors)

    billing_type: str | None = Field(description="wallet, subscription or usage_based (HeyGen's billing_type).")
    remaining_balance_usd: float | None = Field(None, description="A wallet's prepaid balance in US dollars.")
    remaining_credits: float | None = Field(
        None, description="Credits left: a credits wallet's, a subscription's premium and add-on, or usage-based."
    )
    plan: str | None = Field(None, description="A subscription's plan.")
    spending_cap_usd: float | None = Field(None, description="A usage-based account's cap, if it has one.")
    spending_current_usd: float | None = Field(None, description="A usage-based account's spending so far.")
    video_agent_usd_per_second: float = Field(description="What the Video Agent costs per second of video.")
    video_agent_seconds_affordable: int | None = Field(
        None, description="Seconds of Video Agent video the USD balance pays for."
    )
    summary: str


def credits_of(body: Any) -> Credits:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise errors.UnexpectedResponse("HeyGen's account answer had no data. Try again shortly.")
    kind = data.get("billing_type") if isinstance(data.get("billing_type"), str) else None
    wallet, sub, usage = (_dict(data.get(k)) for k in ("wallet", "subscription", "usage_based"))
    balance = credits = cap = spent = None
    plan = sub.get("plan") if isinstance(sub.get("plan"), str) else None
    if wallet:
        left = _number(wallet.get("remaining_balance"))
        balance, credits = (left, None) if wallet.get("currency", "usd") == "usd" else (None, left)
    if sub:
        pools = _dict(sub.get("credits"))
        lefts = [_number(_dict(pools.get(p)).get("remaining")) for p in ("premium_credits", "add_on_credits")]
        credits = sum(x for x in lefts if x is not None) if any(x is not None for x in lefts) else None
    if usage:
        credits = _number(usage.get("remaining_credits"))
        cap, spent = _number(usage.get("spending_cap_usd")), _number(usage.get("spending_current_usd"))
    price = routes.VIDEO_AGENT_USD_PER_SECOND
    seconds = int(balance / price) if balance is not None else None
    parts = [f"HeyGen account billing: {kind or 'not given'}."]
    if balance is not None:
        parts.append(f"Remaining balance: ${balance:.2f} (about {seconds} s of Video Agent video at ${price}/s).")
    if credits is not None:
        parts.append(f"Remaining credits: {credits:g}" + (f" ({plan} plan)." if plan else "."))
    if cap is not None:
        parts.append(f"Spending cap: ${cap:.2f}, spent ${spent or 0:.2f}.")
    if balance is None and credits is None:
        parts.append("HeyGen gave no remaining balance or credits.")
    return Credits(
        billing_type=kind,
        remaining_balance_usd=balance,
        remaining_credits=credits,
        plan=plan,
        spending_cap_usd=cap,
        spending_current_usd=spent,
        video_agent_usd_per_second=price,
        video_agent_seconds_affordable=seconds,
        summary=" ".join(parts),
    )


async def read(client: HeyGenClient) -> Credits:
    return credits_of(await client.v3_get(routes.USERS_ME))


async def explained(client: HeyGenClient, refusal: errors.InsufficientCredits) -> errors.InsufficientCredits:
    """A 402 with the balance said, when a quick read gets it; otherwise the 402 as it was."""
    with anyio.move_on_after(ASIDE_SECONDS):
        try:
            account = await read(client)
        except errors.HeyGenError:
            return refusal
        left = account.remaining_balance_usd
        said = f"${left:.2f}" if left is not None else f"{account.remaining_credits:g} credits"
        if left is None and account.remaining_credits is None:
            return refusal
        return errors.InsufficientCredits(
            f"{refusal.what} The account's remaining balance is {said} ({account.billing_type or 'billing'}).",
            advice=refusal.advice,
            status_code=refusal.status_code,
        )
    return refusal


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
