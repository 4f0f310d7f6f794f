// The phoenix client over long-poll: chosen outright, and reached by the
// client's own fallback when WebSockets fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LongPoll } from "phoenix";
import WebSocket from "ws";
import { openSocket, receive, next } from "./helpers.mjs";

const base = process.env.PHX_URL;
if (!base) throw new Error("PHX_URL is not set: run these tests through `go test ./e2e`");

// memoryStorage stands in for the browser's sessionStorage, which the
// client uses to remember a fallback.
function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

function socket(path, opts) {
  return openSocket(`${base}${path}`, { params: { token: "good" }, timeout: 2000, ...opts });
}

test("transport: LongPoll joins, pushes and shares a room with a WebSocket client", async () => {
  const lp = socket("/socket", { transport: LongPoll });
  const ws = socket("/socket", { transport: WebSocket });
  const viaLP = lp.channel("room:mixed", { after_join: true });
  const viaWS = ws.channel("room:mixed");
  const joined = next(viaLP, "joined");
  assert.deepEqual(await receive(viaLP.join()), { status: "ok", response: { joined: "room:mixed" } });
  assert.deepEqual(await joined, { status: "connected" });
  await receive(viaWS.join());
  assert.equal(lp.transport, LongPoll);
  assert.deepEqual(await receive(viaLP.push("echo", { over: "long-poll" })), { status: "ok", response: { over: "long-poll" } });

  const atWS = next(viaWS, "shout");
  const atLP = next(viaLP, "shout");
  await receive(viaLP.push("shout", { from: "lp" }));
  assert.deepEqual(await atWS, { from: "lp" });
  assert.deepEqual(await atLP, { from: "lp" });

  const back = next(viaLP, "shout");
  await receive(viaWS.push("shout", { from: "ws" }));
  assert.deepEqual(await back, { from: "ws" });

  // Many pushes in one turn travel as one ndjson POST, in order.
  const replies = await Promise.all(Array.from({ length: 150 }, (_, i) => receive(viaLP.push("count", {}))));
  assert.deepEqual(replies.map((r) => r.response.count), Array.from({ length: 150 }, (_, i) => i + 1));
});

test("longPollFallbackMs: with WebSockets broken, the client falls back to long-poll and works", async () => {
  const storage = memoryStorage();
  const s = socket("/nows", { transport: WebSocket, longPollFallbackMs: 200, sessionStorage: storage });
  const channel = s.channel("room:fallback");
  assert.deepEqual(await receive(channel.join()), { status: "ok", response: { joined: "room:fallback" } });
  assert.equal(s.transport, LongPoll);
  assert.deepEqual(await receive(channel.push("echo", { fell: "back" })), { status: "ok", response: { fell: "back" } });
});
