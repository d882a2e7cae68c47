"""list_videos on a big library, over stdio, against its floor: a no-op tool call on a bare MCPServer over
stdio plus the raw SQL query of the same rows.

    python benchmarks/list_videos.py [--quick] [--jobs 100000] [--calls 30] [--check --max-ratio R]

Builds a library file directly: tools.library.Library migrates an empty file, then one sqlite3 transaction
inserts --jobs rows (the columns are read from the migrated file) with their status histories, oldest first
over two years: mostly completed with their saved file (an empty file in the output folder, so the server
sees it saved), about 3% failed, 0.5% not_found, a few submit_uncertain, and 50 unfinished among the newest
100, which are real jobs in the HeyGen sandbox (running in this process) that stay processing, so each
list_videos that shows them re-checks them against it, as it would against HeyGen.

Our `heygen-video-mcp` console script is started over stdio with mcp.Client, with that library and the
sandbox's URL and key, and timed for --calls list_videos calls per case: default arguments, a common and a
rare query word, and status filters. The floor of a case is the sum of two medians over as many calls: a
no-op tool on a bare one-tool MCPServer script over stdio, and the query Library.jobs makes for those
arguments, on one kept read-only sqlite3 connection in this process. Everything is measured in interleaved
blocks, so drift in the machine's speed hits all alike; each starts with a few untimed calls.

Prints each case's median, floor and ratio (ours/floor) and the status GETs per call. The issue row sets no
number for this one: with --check, exits 1 when a ratio is above --max-ratio. --quick: 5,000 jobs, 5 calls.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
from harness import BARE_SERVER, code_under_test, console_script
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.library.operations import listing_query
from heygen_video_mcp.tools.providers import PROVIDER_VALUES
from heygen_video_mcp.tools.status import SUBMIT_UNCERTAIN, SUBMITTING
from heygen_video_mcp.tools.tenancy import OWN

API_KEY = "benchmark-key"
EXECUTIONS = "/v1/workflows/executions"
UNFINISHED = 50
BLOCKS = 5
WARM_UP = 3
CALL_TIMEOUT = 60.0
COMMON_WORD = "lantern"  # in about 1 prompt in 20
RARE_WORD = "zeppelin"  # in 1 prompt in 2,000
CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("default", {}),
    (f"query={COMMON_WORD}", {"query": COMMON_WORD}),
    (f"query={RARE_WORD}", {"query": RARE_WORD}),
    ("query=two words", {"query": f"{COMMON_WORD} river"}),
    ("status=completed", {"status": "completed"}),
    ("status=failed", {"status": "failed"}),
    ("status=processing", {"status": "processing"}),
    ("limit=200", {"limit": 200}),
)


SUBJECTS = (
    "a paper lantern",
    "an old fisherman",
    "a red fox",
    "a vintage car",
    "a ballet dancer",
    "a hummingbird",
    "a steaming cup of coffee",
    "a lighthouse",
    "a skateboarder",
    "a glass of iced tea",
    "a golden retriever",
    "a street food vendor",
    "a sailboat",
    "a neon sign",
    "an astronaut",
    "a field of sunflowers",
    "a chef plating a dessert",
    "a violinist",
    "a koi fish",
    "a steam locomotive",
    "a snow leopard",
    "a perfume bottle",
    "a pair of running shoes",
    "a jazz trio",
    "a hot air balloon",
    "a child flying a kite",
    "a pottery wheel",
    "a mountain biker",
    "a cup of matcha",
    "a city bus",
    "a wristwatch",
    "a beekeeper",
    "a surfer",
    "a bowl of ramen",
    "a bonsai tree",
    "a wind turbine",
    "a cathedral",
    "a desert caravan",
    "a lantern festival crowd",
    "a barista",
)
ACTIONS = (
    "drifting slowly",
    "turning toward the camera",
    "in slow motion",
    "at dawn",
    "under heavy rain",
    "as the wind picks up",
    "in a single continuous take",
    "spinning gently",
)
SETTINGS = (
    "over a night river",
    "on a busy Tokyo street",
    "in a misty forest",
    "on a windswept beach",
    "in a sunlit kitchen",
    "inside a quiet library",
    "across a snowy valley",
    "on a rooftop at dusk",
)
CAMERAS = (
    "slow crane shot",
    "handheld close-up",
    "drone flyover",
    "macro lens",
    "dolly zoom",
    "locked-off wide shot",
    "tracking shot",
)
LOOKS = (
    "warm bokeh, cinematic",
    "film grain, 35mm",
    "soft morning light",
    "high contrast noir",
    "pastel colours, dreamy",
    "golden hour, anamorphic flare",
)


# --- the library ---------------------------------------------------------------------------------------------


def prompt_for(rng: random.Random, n: int) -> str:
    subject = "a silver zeppelin" if n % 2000 == 7 else rng.choice(SUBJECTS)
    return (
        f"{subject.capitalize()} {rng.choice(ACTIONS)} {rng.choice(SETTINGS)}, {rng.choice(CAMERAS)}, "
        f"{rng.choice(LOOKS)}"
    )


def build_library(path: Path, output_dir: Path, jobs: int, unfinished_ids: list[str], seed: int) -> Counter[str]:
    """Migrate an empty library with the server's own code, then fill it in one transaction."""
    Library(path).migrate()
    output_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    now = time.time()
    spacing = 2 * 365 * 86400 / jobs
    unfinished_at = set(rng.sample(range(jobs - 100, jobs), len(unfinished_ids))) if jobs >= 100 else set()
    pending = iter(unfinished_ids)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        table = {row[1]: row for row in db.execute("PRAGMA table_info(jobs)")}
        history = {row[1] for row in db.execute("PRAGMA table_info(status_changes)")}
        rows: list[dict[str, Any]] = []
        changes: list[tuple[int, str, str | None, float]] = []
        statuses: Counter[str] = Counter()
        for n in range(jobs):
            created = now - (jobs - n) * spacing + rng.uniform(0, spacing / 2)
            render = rng.uniform(40, 300)
            prompt = prompt_for(rng, n)
            roll = rng.random()
            if n in unfinished_at:
                status = rng.choice(("submitted", "processing"))
                execution_id: str | None = next(pending)
            elif n % 20000 == 11:
                status, execution_id = SUBMIT_UNCERTAIN, None
            else:
                status = "failed" if roll < 0.03 else "not_found" if roll < 0.035 else "completed"
                execution_id = f"node-gw-{rng.getrandbits(64):016x}"
            finished = status in ("completed", "failed", "not_found")
            row: dict[str, Any] = {
                "id": n + 1,
                "execution_id": execution_id,
                "fingerprint": hashlib.sha256(f"{prompt}/{n}".encode()).hexdigest(),
                "prompt": prompt,
                "provider": rng.choice(PROVIDER_VALUES),
                "aspect_ratio": rng.choice(("16:9", "16:9", "9:16", "1:1")),
                "status": status,
                "heygen_status": status if execution_id else None,
                "created_at": created,
                "updated_at": created + (render if finished else 5),
            }
            if status == "failed":
                row["error"] = "Video generation failed: the prompt was flagged by the provider's content filter"
            elif status == SUBMIT_UNCERTAIN:
                row["error"] = "the request was interrupted"
            elif status == "completed":
                assert execution_id is not None
                video_id = f"{rng.getrandbits(128):032x}"
                row["video_id"] = video_id
                row["asset_id"] = f"asset-{video_id[:12]}"
                row["video_url"] = f"https://resource.heygen.ai/video/{video_id}.mp4?Expires={int(created) + 604800}"
                day = datetime.fromtimestamp(created).strftime("%Y-%m-%d")
                local = output_dir / f"{day}_{_slug(prompt)}_{execution_id}.mp4"
                local.touch()
                row["local_path"] = str(local)
            rows.append(row)
            statuses[status] += 1
            steps = [(SUBMITTING, created)]
            if execution_id:
                steps += [("submitted", created + 1), ("processing", created + 10)]
            if status not in ("submitted", "processing"):
                steps.append((status, created + render))
            changes += [(n + 1, s, row.get("error") if s == status else None, at) for s, at in steps]

        required = {
            name for name, (_, _, _, notnull, default, pk) in table.items() if notnull and default is None and not pk
        }
        columns = [name for name in table if any(name in row for row in rows[:200]) or name in required]
        missing = required - set(columns)
        if missing:
            raise RuntimeError(f"the library needs columns this benchmark does not fill: {sorted(missing)}")
        db.execute("BEGIN")
        db.executemany(
            f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            ([row.get(name) for name in columns] for row in rows),
        )
        if {"job_id", "status", "error", "at"} <= history:
            db.executemany("INSERT INTO status_changes (job_id, status, error, at) VALUES (?, ?, ?, ?)", changes)
        db.execute("COMMIT")
        db.execute("ANALYZE")
    finally:
        db.close()
    return statuses


def _slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words)[:48].rstrip("-") or "video"


def unfinished_jobs(base_url: str, count: int) -> list[str]:
    """Real sandbox jobs that keep rendering for the whole run."""
    ids = []
    with httpx2.Client(base_url=base_url, headers={"X-Api-Key": API_KEY}, timeout=10) as http:
        for n in range(count):
            body = {"workflow_type": "GenerateVideoNode", "input": {"prompt": f"Unfinished take {n}"}}
            ids.append(http.post(EXECUTIONS, json=body).raise_for_status().json()["data"]["execution_id"])
    return ids


def floor_query(db: sqlite3.Connection, args: dict[str, Any]) -> list[Any]:
    """What Library.jobs asks SQLite for these list_videos arguments (include_unsent, as the tool lists)."""
    sql, params = listing_query(
        OWN, status=args.get("status"), limit=args.get("limit", 20), query=args.get("query"), include_unsent=True
    )
    return db.execute(sql, params).fetchall()


# --- measuring -----------------------------------------------------------------------------------------------


async def timed(step: Callable[[], Awaitable[object]], count: int, into: list[float]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        await step()
        into.append(time.perf_counter() - started)


async def measure(jobs: int, calls: int, seed: int, tmp: Path) -> dict[str, float]:
    """Prints the table; returns each case's ratio ours/floor."""
    with Sandbox(api_key=API_KEY, render_seconds=3600.0, submitted_seconds=1.0) as sb:
        library = tmp / "heygen-library.sqlite3"
        output_dir = tmp / "videos"
        started = time.monotonic()
        statuses = build_library(library, output_dir, jobs, unfinished_jobs(sb.base_url, UNFINISHED), seed)
        size = library.stat().st_size + sum(p.stat().st_size for p in tmp.glob("heygen-library.sqlite3-*"))
        summary = ", ".join(f"{count} {status}" for status, count in statuses.most_common())
        print(f"library: {jobs} jobs ({summary}), {size / 1e6:.1f} MB; built in {time.monotonic() - started:.1f} s")

        env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
        env |= {
            "HEYGEN_API_KEY": API_KEY,
            "HEYGEN_API_BASE_URL": sb.base_url,
            "HEYGEN_OUTPUT_DIR": str(output_dir),
            "HEYGEN_LIBRARY_PATH": str(library),
        }
        bare_script = tmp / "bare_server.py"
        bare_script.write_text(BARE_SERVER)
        bare_env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
        ours_params = StdioServerParameters(command=console_script(), args=[], env=env)
        bare_params = StdioServerParameters(command=sys.executable, args=[str(bare_script)], env=bare_env)
        db = sqlite3.connect(f"file:{library}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row  # as the library reads rows
        async with AsyncExitStack() as stack:
            errlog = stack.enter_context((tmp / "server.log").open("w"))
            ours = await stack.enter_async_context(Client(stdio_client(ours_params, errlog=errlog)))
            bare = await stack.enter_async_context(Client(stdio_client(bare_params, errlog=errlog)))

            async def noop() -> None:
                await bare.call_tool("noop", {}, read_timeout_seconds=CALL_TIMEOUT)

            def listing(args: dict[str, Any]) -> Callable[[], Awaitable[object]]:
                async def call() -> None:
                    result = await ours.call_tool("list_videos", args, read_timeout_seconds=CALL_TIMEOUT)
                    if result.is_error or result.structured_content is None:
                        text = " ".join(getattr(block, "text", "") for block in result.content)
                        raise RuntimeError(f"list_videos({args}) failed: {text[:300]}")
                    found[str(args)] = [v["execution_id"] for v in result.structured_content["videos"]]

                return call

            def query(args: dict[str, Any]) -> Callable[[], Awaitable[object]]:
                async def run() -> None:
                    rows[str(args)] = [row["execution_id"] for row in floor_query(db, args)]

                return run

            found: dict[str, list[str | None]] = {}
            rows: dict[str, list[str | None]] = {}
            steps: dict[str, Callable[[], Awaitable[object]]] = {"noop": noop}
            for name, args in CASES:
                steps[f"ours {name}"] = listing(args)
                steps[f"sql {name}"] = query(args)
            times: dict[str, list[float]] = {name: [] for name in steps}
            gets: Counter[str] = Counter()
            for step in steps.values():
                await timed(step, WARM_UP, [])
            per_block = max(calls // BLOCKS, 1)
            for _ in range(max(calls // per_block, 1)):
                for name, step in steps.items():
                    before = sb.count("status")
                    await timed(step, per_block, times[name])
                    gets[name] += sb.count("status") - before
        db.close()

    floor_noop = statistics.median(times["noop"])
    print(f"floor: no-op tool call on a bare MCPServer over stdio, p50 {floor_noop * 1000:.2f} ms")
    print(f"{'case':<20} {'rows':>5} {'GETs/call':>9} {'ours p50':>10} {'SQL p50':>9} {'floor':>9} {'ratio':>7}")
    ratios: dict[str, float] = {}
    for name, args in CASES:
        ours_p50 = statistics.median(times[f"ours {name}"])
        sql_p50 = statistics.median(times[f"sql {name}"])
        floor = floor_noop + sql_p50
        ratios[name] = ours_p50 / floor
        per_call = gets[f"ours {name}"] / len(times[f"ours {name}"])
        same = "" if found[str(args)] == rows[str(args)] else "  (rows differ from the SQL's!)"
        print(
            f"{name:<20} {len(rows[str(args)]):>5} {per_call:>9.1f} {ours_p50 * 1000:>8.1f}ms "
            f"{sql_p50 * 1000:>7.2f}ms {floor * 1000:>7.2f}ms {ratios[name]:>6.1f}x{same}"
        )
    return ratios


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the library (at most 1,000,000)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per case (and per floor)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the library's contents")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 5,000 jobs, 5 calls per case")
    parser.add_argument("--check", action="store_true", help="exit 1 when a case's ratio is above --max-ratio")
    parser.add_argument("--max-ratio", type=float, default=None, help="the goal for --check (ours/floor)")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.calls = 5_000, 5
    if not 100 <= args.jobs <= 1_000_000 or not 1 <= args.calls <= 1000:
        parser.error("--jobs must be between 100 and 1,000,000 and --calls between 1 and 1000")
    if args.check and args.max_ratio is None:
        parser.error("--check needs --max-ratio: the issue sets no number for list_videos")
    print(f"server code: {code_under_test()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="heygen-list-") as tmp:
        try:
            ratios = anyio.run(measure, args.jobs, args.calls, args.seed, Path(tmp))
        except BaseException:
            log = (Path(tmp) / "server.log").read_text(errors="replace") if (Path(tmp) / "server.log").exists() else ""
            print(f"server log (last 3000 characters):\n{log[-3000:]}", file=sys.stderr)
            raise
    missed = {name: r for name, r in ratios.items() if args.max_ratio is not None and r > args.max_ratio}
    for name, ratio in missed.items():
        print(f"missed: {name} ratio {ratio:.1f}x > {args.max_ratio:g}x")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
