"""Checks what .ci/inspector-http.sh's inspector runs printed (the folder holds LABEL.json, LABEL.err and,
for a run that failed, LABEL.rc). Exit 1 with the reason on the first thing wrong."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TOOLS = {"generate_video", "check_status", "wait_for_video", "list_providers", "download_video", "list_videos"}


def fail(message: str) -> None:
    print(f"inspector-http: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def load(folder: Path, label: str, exit_code: int = 0) -> dict[str, Any]:
    """What the inspector printed for `label`, which must have ended with `exit_code` (5: the tool's result
    has isError: true, which the inspector prints and then reports so)."""
    rc = folder / f"{label}.rc"
    ended = int(rc.read_text().rsplit(" ", 1)[-1]) if rc.exists() else 0
    if ended != exit_code:
        err = (folder / f"{label}.err").read_text(errors="replace")[-2000:]
        fail(f"inspector {label} exited {ended}, not {exit_code}: {err}")
    text = (folder / f"{label}.json").read_text()
    try:
        data: dict[str, Any] = json.loads(text)
    except ValueError:
        fail(f"inspector {label} printed no JSON: {text[:500]!r}")
    return data


def main(folder: Path) -> None:
    names = {tool["name"] for tool in load(folder, "tools_list").get("tools", [])}
    if TOOLS - names:
        fail(f"tools/list lacks {sorted(TOOLS - names)}; listed {sorted(names)}")

    providers = load(folder, "list_providers")
    values = [p["value"] for p in (providers.get("structuredContent") or {}).get("providers", [])]
    if providers.get("isError") or "ltx_distilled" not in values:
        fail(f"tools/call list_providers: {json.dumps(providers)[:800]}")

    created = load(folder, "generate")
    job = created.get("structuredContent") or {}
    if created.get("isError") or job.get("status") != "submitted" or not job.get("execution_id"):
        fail(f"tools/call generate_video did not submit a job: {json.dumps(created)[:800]}")

    for label, words in (("bad_provider", "provider 'nope' is unknown"), ("unknown_id", "does not know execution")):
        error = load(folder, label, exit_code=5)
        said = "\n".join(c.get("text", "") for c in error.get("content", []))
        if error.get("isError") is not True or words not in said or "\nNext: " not in said:
            fail(f"tools/call ({label}) is not an error result saying {words!r}, Next: ...: {json.dumps(error)[:700]}")

    prompt = load(folder, "prompt")
    text = " ".join(m.get("content", {}).get("text", "") for m in prompt.get("messages", []))
    if "a lighthouse in a storm" not in text or "generate_video" not in text:
        fail(f"prompts/get cinematic_video: {json.dumps(prompt)[:800]}")

    if not (folder / "no_token.rc").exists():
        fail(f"tools/list without the token was answered: {(folder / 'no_token.json').read_text()[:300]}")
    # The server answers 401; the inspector then wants to start OAuth, which it cannot do without a terminal.
    refused = (folder / "no_token.err").read_text(errors="replace")
    if "401" not in refused and "auth_required" not in refused:
        fail(f"tools/list without the token failed, but not for want of authentication: {refused[-800:]}")

    print(
        f"inspector-http: OK: with the token tools/list ({len(names)} tools), list_providers, generate_video "
        f"({job['execution_id']} submitted to the sandbox), a bad provider and an unknown execution id (error "
        "results in our words), prompts/get cinematic_video; without it, refused"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
