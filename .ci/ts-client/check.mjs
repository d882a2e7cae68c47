// Drives the installed heygen-video-mcp with the official TypeScript MCP SDK (the client most MCP hosts run),
// over stdio and over streamable HTTP with a bearer token, against the HeyGen sandbox (sandbox.py here).
//
// The TS SDK's Client.callTool checks structuredContent against the tool's outputSchema on every result that
// has it, error results included, and throws (MCP error -32602) when it does not match: the model then never
// sees our message. So every error a caller can reach from outside must RESOLVE with isError: true and our
// text, with its "Next:" advice; every success must carry structuredContent.
//
// Usage: node .ci/ts-client/check.mjs [stdio|http]   (after `npm ci --prefix .ci/ts-client`); both by default
// Env: HEYGEN_VIDEO_MCP (server command, default heygen-video-mcp on PATH), PYTHON (the interpreter the
// server is installed in, default python3). Prints one line per case, then "N passed, N failed"; exit 1 on
// any failure.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const SERVER = process.env.HEYGEN_VIDEO_MCP || "heygen-video-mcp";
const PYTHON = process.env.PYTHON || "python3";
const API_KEY = "ts-client-sandbox-key";
const CALL_MS = 90_000; // a call's own time limit is shorter; this only stops a hung check
const START_MS = 30_000;
const NEXT = "\nNext: ";

const work = mkdtempSync(join(tmpdir(), "heygen-ts-client-"));
const children = [];
let passed = 0;
let failed = 0;

function report(ok, label, detail) {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? "PASS" : "FAIL"} ${label}${detail ? `: ${detail}` : ""}`);
}

// A child process and the first line of its output matching `pattern` (its stdout and stderr together).
function start(command, args, env, pattern) {
  const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  const log = [];
  const lines = [createInterface({ input: child.stdout }), createInterface({ input: child.stderr })];
  const found = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start:\n${log.join("\n")}`)), START_MS);
    for (const reader of lines) {
      reader.on("line", (line) => {
        log.push(line);
        const match = pattern.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match);
        }
      });
    }
    child.on("exit", (code) => reject(new Error(`${command} ended (${code}):\n${log.join("\n")}`)));
  });
  return { child, found, lines: lines[0], log };
}

// sandbox.py: prints its base URL, then answers each JSON command line with "ok".
async function startSandbox() {
  const script = join(dirname(fileURLToPath(import.meta.url)), "sandbox.py");
  const { child, found, lines } = start(PYTHON, [script, API_KEY], process.env, /^(http:\/\/\S+)$/);
  const baseUrl = (await found)[1];
  const answers = lines[Symbol.asyncIterator]();
  return {
    baseUrl,
    async send(command) {
      child.stdin.write(`${JSON.stringify(command)}\n`);
      const { value } = await answers.next();
      if (value !== "ok") throw new Error(`sandbox answered ${value} to ${JSON.stringify(command)}`);
    },
  };
}

function serverEnv(name, baseUrl, { key = true, token } = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HEYGEN_")));
  const folder = join(work, name);
  mkdirSync(folder, { recursive: true });
  Object.assign(env, { HEYGEN_API_BASE_URL: baseUrl, HEYGEN_OUTPUT_DIR: join(folder, "videos") });
  if (key) env.HEYGEN_API_KEY = API_KEY;
  if (token) env.HEYGEN_MCP_TOKEN = token;
  return env;
}

async function connect(transport) {
  const client = new Client({ name: "heygen-video-mcp-ts-check", version: "1.0.0" });
  await client.connect(transport);
  await client.listTools(); // as hosts do; the SDK keeps each tool's outputSchema to check results against
  return client;
}

async function stdioClient(name, baseUrl, options) {
  const transport = new StdioClientTransport({
    command: SERVER,
    args: [],
    env: serverEnv(name, baseUrl, options),
    stderr: "ignore",
  });
  return connect(transport);
}

async function httpClient(name, baseUrl, options) {
  const token = randomBytes(24).toString("base64url");
  const env = serverEnv(name, baseUrl, { ...options, token });
  const args = ["serve", "--transport", "streamable-http", "--host", "127.0.0.1", "--port", "0"];
  const { found } = start(SERVER, args, env, /serving MCP at (http:\/\/\S+)/);
  const url = new URL((await found)[1]);
  const headers = { Authorization: `Bearer ${token}` };
  return connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
}

const textOf = (result) =>
  (result.content || [])
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("\n");

// One tools/call: it must resolve, and `expect(result, text)` returns what is wrong ("" when nothing is).
async function check(client, label, tool, args, expect) {
  let result;
  try {
    result = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: CALL_MS });
  } catch (error) {
    report(false, label, `callTool threw: ${error.message.split("\n")[0].slice(0, 300)}`);
    return undefined;
  }
  const text = textOf(result);
  const wrong = expect(result, text);
  report(!wrong, label, wrong ? `${wrong}; got isError=${result.isError}, text ${JSON.stringify(text.slice(0, 300))}` : "");
  return result;
}

// An error the model must read: isError, each of `words` in the text, and our advice after "Next:".
const isError =
  (...words) =>
  (result, text) => {
    if (result.isError !== true) return "isError is not true";
    const missing = words.filter((word) => !text.includes(word));
    if (missing.length) return `text lacks ${JSON.stringify(missing)}`;
    return text.includes(NEXT) ? "" : 'text lacks the "Next:" advice';
  };

// A success: structuredContent present, and `test(structuredContent)` holds.
const succeeds =
  (what, test = () => true) =>
  (result) => {
    if (result.isError) return "isError is set";
    if (!result.structuredContent) return "no structuredContent";
    return test(result.structuredContent) ? "" : `structuredContent is not ${what}`;
  };

// A batch where some items failed: a success, whose text still carries each failed item's words and advice.
const partly =
  (...words) =>
  (result, text) =>
    succeeds("a batch with one item failed", (data) => data.failed === 1 && data.succeeded >= 1)(result) ||
    (words.every((word) => text.includes(word)) && text.includes(NEXT) ? "" : `text lacks ${JSON.stringify(words)}`);

async function cases(transport, client, sandbox) {
  const at = (label) => `${transport} ${label}`;
  const call = (label, tool, args, expect) => check(client, at(label), tool, args, expect);
  const prompt = `A paper boat drifting down a rain-soaked street, low angle (${transport})`;

  const created = await call("generate_video: happy path submits", "generate_video", { prompt }, succeeds("a job"));
  const id = created?.structuredContent?.execution_id ?? "node-gw-missing";
  await call(
    "wait_for_video: happy path completes",
    "wait_for_video",
    { execution_id: id, max_wait_seconds: 30 },
    succeeds("completed", (data) => data.status === "completed"),
  );
  await call(
    "generate_video: bad provider",
    "generate_video",
    { prompt, provider: "nope" },
    isError("provider 'nope' is unknown", "ltx_distilled"),
  );
  await call("generate_video: bad aspect ratio", "generate_video", { prompt, aspect_ratio: "wide" }, isError("is not W:H"));
  await call("generate_video: blank prompt", "generate_video", { prompt: "   " }, isError("prompt is empty"));
  await call(
    "check_status: malformed execution id",
    "check_status",
    { execution_id: "not an id!" },
    isError("is not a HeyGen execution id"),
  );
  await call(
    "check_status: unknown execution id",
    "check_status",
    { execution_id: "node-gw-unknown123" },
    isError("HeyGen does not know execution"),
  );
  await call(
    "wait_for_video: max_wait_seconds out of range",
    "wait_for_video",
    { execution_id: id, max_wait_seconds: 0 },
    isError("max_wait_seconds must be between 1 and"),
  );
  await call("list_videos: bad status", "list_videos", { status: "bogus" }, isError("status 'bogus' is unknown"));
  await call(
    "download_video: escaping filename",
    "download_video",
    { execution_id: id, filename: "../escape.mp4" },
    isError("must be a plain file name"),
  );
  await call(
    "download_video: escaping directory",
    "download_video",
    { execution_id: id, directory: "../../outside" },
    isError("outside"),
  );
  if (transport === "http") {
    await call(
      "download_video: a folder elsewhere on the server",
      "download_video",
      { execution_id: id, directory: "/etc" },
      isError("is a path on the server"),
    );
  }

  await call(
    "list_video_agent_options: styles, avatars and voices",
    "list_video_agent_options",
    {},
    succeeds("the options", (data) => data.styles.length > 0 && data.avatars.length > 0 && data.voices.length > 0),
  );
  await call(
    "generate_video: a local image that is not there",
    "generate_video",
    { prompt, provider: "video_agent", reference_image_path: "/no/such/picture.png" },
    transport === "http" ? isError("runs remotely", "reference_image_url") : isError("There is no file at"),
  );

  await call(
    "check_credits: the account's balance",
    "check_credits",
    {},
    succeeds("the balance", (data) => typeof data.summary === "string" && data.video_agent_usd_per_second > 0),
  );
  if (transport === "stdio") {
    // A real (1x1) PNG beside the client: uploaded to HeyGen's assets, then used by the Video Agent.
    const picture = join(work, "picture.png");
    writeFileSync(
      picture,
      Buffer.from(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==",
        "base64",
      ),
    );
    await call(
      "generate_video: a local image",
      "generate_video",
      { prompt: `${prompt}, from a photo`, provider: "video_agent", reference_image_path: picture },
      succeeds("a job", (data) => typeof data.execution_id === "string"),
    );
  }

  await sandbox.send({ do: "rate_limited", retry_after: 30, times: 20 });
  await call("generate_video: rate limited (429 storm)", "generate_video", { prompt: `${prompt}, storm` }, isError("Wait 30 seconds"));
  await sandbox.send({ do: "reset" });

  await sandbox.send({ do: "fail_next" });
  const doomed = await call("generate_video: a render to fail", "generate_video", { prompt: `${prompt}, doomed` }, succeeds("a job"));
  await call(
    "wait_for_video: HeyGen failed the render",
    "wait_for_video",
    { execution_id: doomed?.structuredContent?.execution_id ?? "node-gw-missing", max_wait_seconds: 30 },
    isError("The model could not render this prompt"),
  );
  await sandbox.send({ do: "reset" });

  await call(
    "generate_videos: one of two fails",
    "generate_videos",
    { requests: [{ prompt: `${prompt}, second take` }, { prompt: "" }] },
    partly("prompt is empty"),
  );
  await call(
    "generate_videos: all fail",
    "generate_videos",
    { requests: [{ prompt: "" }, { prompt, provider: "nope" }] },
    isError("prompt is empty", "provider 'nope' is unknown"),
  );
  await call(
    "wait_for_videos: one of two fails",
    "wait_for_videos",
    { execution_ids: [id, "bad id!"], max_wait_seconds: 30 },
    partly("is not a HeyGen execution id"),
  );
  await call(
    "wait_for_videos: max_wait_seconds out of range",
    "wait_for_videos",
    { execution_ids: [id], max_wait_seconds: 100000 },
    isError("max_wait_seconds must be between 1 and"),
  );

  // Last: the server remembers a retirement (in its library), so every later v1 call is answered at once.
  await sandbox.send({ do: "retire_v1", status: 410 });
  await call("generate_video: v1 retired", "generate_video", { prompt: `${prompt}, retired` }, isError("retired", "video_agent"));
  await sandbox.send({ do: "reset" });
  await call(
    "generate_video: v1 retired, remembered",
    "generate_video",
    { prompt: `${prompt}, retired again` },
    isError("nothing was sent to HeyGen", "video_agent"),
  );
}

async function withClient(open, run) {
  let client;
  try {
    client = await open();
    await run(client);
  } finally {
    await client?.close();
  }
}

async function main() {
  const sandbox = await startSandbox();
  const transports = { stdio: stdioClient, http: httpClient };
  const asked = process.argv.slice(2);
  for (const name of asked) if (!(name in transports)) throw new Error(`no transport ${name}: stdio or http`);
  for (const [transport, open] of Object.entries(transports)) {
    if (asked.length && !asked.includes(transport)) continue;
    try {
      await withClient(
        () => open(transport, sandbox.baseUrl),
        (client) => cases(transport, client, sandbox),
      );
      await withClient(
        () => open(`${transport}-nokey`, sandbox.baseUrl, { key: false }),
        (client) =>
          check(
            client,
            `${transport} generate_video: no HEYGEN_API_KEY`,
            "generate_video",
            { prompt: "A lighthouse in a storm" },
            isError("HEYGEN_API_KEY is not set"),
          ),
      );
    } catch (error) {
      report(false, `${transport}: could not run`, error.message);
    }
  }
}

try {
  await main();
} catch (error) {
  report(false, "setup", error.message);
} finally {
  for (const child of children) child.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
