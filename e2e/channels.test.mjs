// End-to-end tests: the official phoenix JavaScript client against the Go
// server started by e2e_test.go, whose address arrives in PHX_URL.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { openSocket, receive, next } from "./helpers.mjs";

const base = process.env.PHX_URL;
if (!base) throw new Error("PHX_URL is not set: run these tests through `go test ./e2e`");

function connect(params = {}, opts = {}) {
  return openSocket(`${base}/socket`, { transport: WebSocket, params: { token: "good", ...params }, ...opts });
}

test("joins, pushes and gets replies", async () => {
  const socket = connect({ user: "ann" });
  const channel = socket.channel("room:lobby", { after_join: true });
  const joined = next(channel, "joined");
  assert.deepEqual(await receive(channel.join()), { status: "ok", response: { joined: "room:lobby" } });
  assert.deepEqual(await joined, { status: "connected" });
  assert.deepEqual(await receive(channel.push("echo", { a: 1, b: [true, null] })), {
    status: "ok",
    response: { a: 1, b: [true, null] },
  });
  assert.deepEqual(await receive(channel.push("nope", {})), {
    status: "error",
    response: { reason: "unknown event" },
  });
});

test("broadcasts reach every member", async () => {
  const a = connect({ user: "ann" }).channel("room:chat");
  const b = connect({ user: "bob" }).channel("room:chat");
  await receive(a.join());
  await receive(b.join());
  const atA = next(a, "shout");
  const atB = next(b, "shout");
  assert.equal((await receive(a.push("shout", { body: "hi" }))).status, "ok");
  assert.deepEqual(await atA, { body: "hi" });
  assert.deepEqual(await atB, { body: "hi" });
});

test("binary payloads travel as binary frames", async () => {
  const channel = connect().channel("room:bin");
  await receive(channel.join());
  const reply = await receive(channel.push("echo", new Uint8Array([1, 2, 3, 250]).buffer));
  assert.equal(reply.status, "ok");
  assert.ok(reply.response instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(reply.response)], [1, 2, 3, 250]);
  const pushed = next(channel, "bin");
  await receive(channel.push("bin_push", {}));
  const bytes = await pushed;
  assert.ok(bytes instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(bytes)], [9, 8, 7]);
});

test("a refused join gets the channel's reason", async () => {
  const channel = connect().channel("room:locked");
  assert.deepEqual(await receive(channel.join()), { status: "error", response: { reason: "unauthorized" } });
});

test("a crashed channel restarts in place: the client stays joined", async () => {
  const channel = connect().channel("room:restart");
  let errors = 0;
  channel.onError(() => errors++);
  await receive(channel.join());
  assert.deepEqual(await receive(channel.push("count", {})), { status: "ok", response: { count: 1 } });
  assert.deepEqual(await receive(channel.push("count", {})), { status: "ok", response: { count: 2 } });
  assert.deepEqual(await receive(channel.push("boom", {})), {
    status: "error",
    response: { reason: "channel_crash" },
  });
  assert.equal(channel.state, "joined");
  // Normal service, from the state Join builds.
  assert.deepEqual(await receive(channel.push("count", {})), { status: "ok", response: { count: 1 } });
  assert.equal(errors, 0);
});

test("a temporary channel errors on a crash, rejoins by itself and serves again", async () => {
  const channel = connect().channel("temp:crash");
  // Hooks on the join push run again on every rejoin.
  let joins = 0;
  let firstJoin, rejoin;
  const joined = new Promise((resolve) => (firstJoin = resolve));
  const rejoined = new Promise((resolve) => (rejoin = resolve));
  channel.join().receive("ok", () => (++joins === 1 ? firstJoin() : rejoin()));
  await joined;
  const errored = new Promise((resolve) => channel.onError(resolve));
  channel.push("boom", {});
  await errored;
  await rejoined;
  assert.deepEqual(await receive(channel.push("echo", { again: true })), {
    status: "ok",
    response: { again: true },
  });
});

test("leave closes the channel", async () => {
  const channel = connect().channel("room:leave");
  await receive(channel.join());
  const closed = new Promise((resolve) => channel.onClose(resolve));
  assert.equal((await receive(channel.leave())).status, "ok");
  await closed;
  assert.equal(channel.state, "closed");
});

test("a refused connect never opens", async () => {
  const socket = connect({ token: "bad" }, { reconnectAfterMs: () => 60_000 });
  await new Promise((resolve) => socket.onError(resolve));
  assert.equal(socket.isConnected(), false);
  socket.disconnect();
});

test("heartbeats are answered", async () => {
  const socket = connect();
  await new Promise((resolve) => socket.onOpen(resolve));
  const latency = await new Promise((resolve) => socket.ping(resolve));
  assert.ok(latency >= 0);
});

test("the auth token travels in the subprotocol", async () => {
  const socket = connect({ token: "" }, { authToken: "let me+in/=" });
  const channel = socket.channel("room:auth");
  assert.deepEqual(await receive(channel.join()), { status: "ok", response: { joined: "room:auth" } });
  assert.deepEqual(await receive(channel.push("whoami", {})), { status: "ok", response: { user: "token-user" } });
});
