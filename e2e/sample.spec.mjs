// End-to-end tests of the sample chat server (sample/README.md), row by
// row, with the official phoenix client. sample/sample_test.go (not
// e2e_test.go) builds and starts the server and passes its address in
// SAMPLE_URL (http://host:port), plus tokens it minted itself in
// EXPIRED_TOKEN and FORGED_TOKEN.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { openSocket, receive, next } from "./helpers.mjs";

const base = process.env.SAMPLE_URL;
if (!base) throw new Error("SAMPLE_URL is not set: run these tests through `go test ./sample`");
const wsBase = base.replace(/^http/, "ws");

async function tokenFor(user) {
  const res = await fetch(`${base}/api/token?user_id=${encodeURIComponent(user)}`);
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

async function connect(user, opts = {}) {
  return openSocket(`${wsBase}/socket`, { transport: WebSocket, params: { token: await tokenFor(user) }, ...opts });
}

// join joins topic and returns the channel with its history push.
async function join(socket, topic) {
  const channel = socket.channel(topic);
  const history = next(channel, "history");
  const reply = await receive(channel.join());
  assert.deepEqual(reply, { status: "ok", response: {} });
  return { channel, history: await history };
}

const unique = (name) => `${name}_${Math.random().toString(36).slice(2, 8)}`;

test("GET /api/token signs 1-64 characters of [A-Za-z0-9_-], refuses anything else", async () => {
  for (const ok of ["a", "A-z_09", "x".repeat(64)]) {
    const res = await fetch(`${base}/api/token?user_id=${ok}`);
    assert.equal(res.status, 200, ok);
    assert.match((await res.json()).token, /^SFMyNTY\./);
  }
  for (const bad of ["", "x".repeat(65), "a b", "é", "a/b", "a.b"]) {
    const res = await fetch(`${base}/api/token?user_id=${encodeURIComponent(bad)}`);
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.equal(typeof (await res.json()).error, "string");
  }
  assert.equal((await fetch(`${base}/api/token`)).status, 400);
});

test("GET /healthz and GET / with the phoenix client served here", async () => {
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), "ok");
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /text\/html/);
  const html = await page.text();
  assert.match(html, /\/static\/app\.js/);
  const app = await (await fetch(`${base}/static/app.js`)).text();
  assert.match(app, /from "\/assets\/phoenix\.mjs"/);
  const lib = await fetch(`${base}/assets/phoenix.mjs`);
  assert.equal(lib.status, 200);
  assert.match(await lib.text(), /var Socket = class/);
});

test("a socket with a missing, forged, malformed or expired token is refused", async () => {
  const attempts = {
    missing: "",
    forged: process.env.FORGED_TOKEN,
    malformed: "not-a-token",
    truncated: (await tokenFor("ann")).slice(0, -5),
    expired: process.env.EXPIRED_TOKEN,
  };
  for (const [what, token] of Object.entries(attempts)) {
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(`${wsBase}/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(token)}`);
      ws.on("unexpected-response", (req, res) => {
        resolve(res.statusCode);
        req.destroy(); // else the refused request keeps node alive
      });
      ws.on("open", () => {
        ws.close();
        resolve(101);
      });
      ws.on("error", () => {});
    });
    assert.equal(status, 403, what);
  }
});

test("a token given as authToken (the subprotocol, not the URL) is taken as one in the params", async () => {
  const user = unique("sub");
  const socket = openSocket(`${wsBase}/socket`, { transport: WebSocket, authToken: await tokenFor(user) });
  const { channel } = await join(socket, `room:${unique("auth")}`);
  const got = next(channel, "new_msg");
  channel.push("new_msg", { body: "by subprotocol" }, 1000);
  assert.equal((await got).user_id, user);
  // A forged one is refused all the same: the socket never opens.
  const refused = openSocket(`${wsBase}/socket`, { transport: WebSocket, authToken: process.env.FORGED_TOKEN });
  const status = await new Promise((resolve) => refused.onError((e) => resolve("error")));
  assert.equal(status, "error");
  refused.disconnect();
});

test("vsn 1.0.0 is the default, 2.0.0 speaks arrays", async () => {
  const token = await tokenFor("v1user");
  for (const [query, frame, check] of [
    ["", JSON.stringify({ topic: "room:v", event: "ping", payload: {}, ref: "1" }), (m) => !Array.isArray(m) && m.ref === "1"],
    ["&vsn=1.0.0", JSON.stringify({ topic: "room:v", event: "ping", payload: {}, ref: "1" }), (m) => !Array.isArray(m)],
    ["&vsn=2.0.0", JSON.stringify([null, "1", "room:v", "ping", {}]), (m) => Array.isArray(m) && m[1] === "1"],
  ]) {
    const reply = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`${wsBase}/socket/websocket?token=${token}${query}`);
      ws.on("open", () => ws.send(frame));
      ws.on("message", (data) => {
        resolve(JSON.parse(data.toString()));
        ws.close();
      });
      ws.on("error", reject);
    });
    assert.ok(check(reply), `${query}: ${JSON.stringify(reply)}`);
  }
});

test("room:admins is for admin only", async () => {
  const ann = await connect("ann");
  const refused = await receive(ann.channel("room:admins").join());
  assert.deepEqual(refused, { status: "error", response: { reason: "unauthorized" } });
  const admin = await connect("admin");
  const { history } = await join(admin, "room:admins");
  assert.ok(Array.isArray(history.messages));
});

test("new_msg is stored and broadcast to every member, the sender too, with no reply", async () => {
  const room = `room:${unique("chat")}`;
  const ann = await join(await connect("ann"), room);
  const bob = await join(await connect("bob"), room);
  assert.deepEqual(ann.history, { messages: [] });
  const atAnn = next(ann.channel, "new_msg");
  const atBob = next(bob.channel, "new_msg");
  let replied = false;
  ann.channel.push("new_msg", { body: "hello, bob" }).receive("ok", () => (replied = true));
  const [a, b] = await Promise.all([atAnn, atBob]);
  assert.deepEqual(a, b);
  assert.equal(a.body, "hello, bob");
  assert.equal(a.user_id, "ann");
  assert.equal(typeof a.id, "number");
  assert.ok(Number.isInteger(a.id));
  assert.match(a.inserted_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  // The history of a later joiner holds it, with the same fields.
  const carol = await join(await connect("carol"), room);
  assert.deepEqual(carol.history.messages, [a]);
  assert.equal(replied, false);
});

test("a join is answered, then phx_recovery with the room's position, then history, then presence_state", async () => {
  const channel = (await connect("ann")).channel(`room:${unique("order")}`);
  const frames = [];
  channel.onMessage = (event, payload) => {
    if (!event.startsWith("chan_reply_") && event !== "presence_diff") frames.push([event, payload]);
    return payload;
  };
  const state = next(channel, "presence_state");
  await receive(channel.join());
  await state;
  assert.deepEqual(frames.map(([event]) => event), ["phx_reply", "phx_recovery", "history", "presence_state"]);
  const [, recovery] = frames[1];
  assert.deepEqual(Object.keys(recovery), ["position"]);
  assert.equal(typeof recovery.position, "string");
  assert.deepEqual(frames[2][1], { messages: [] });
});

test("history is the last 50 messages, oldest first", async () => {
  const room = `room:${unique("hist")}`;
  const ann = await join(await connect("ann"), room);
  let last;
  for (let i = 1; i <= 55; i++) {
    last = next(ann.channel, "new_msg");
    ann.channel.push("new_msg", { body: `m${i}` });
    await last;
  }
  const bob = await join(await connect("bob"), room);
  const bodies = bob.history.messages.map((m) => m.body);
  assert.equal(bodies.length, 50);
  assert.equal(bodies[0], "m6");
  assert.equal(bodies[49], "m55");
  const ids = bob.history.messages.map((m) => m.id);
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
});

test("an invalid new_msg body is refused, nothing stored or sent", async () => {
  const room = `room:${unique("invalid")}`;
  const ann = await join(await connect("ann"), room);
  const bob = await join(await connect("bob"), room);
  let leaked = null;
  bob.channel.on("new_msg", (m) => (leaked = m));
  for (const payload of [{}, { body: "" }, { body: " \n\t " }, { body: "x".repeat(2001) }, { body: 42 }, { body: null }, { body: ["x"] }, { text: "hi" }]) {
    assert.deepEqual(await receive(ann.channel.push("new_msg", payload)), {
      status: "error",
      response: { reason: "invalid body" },
    }, JSON.stringify(payload).slice(0, 40));
  }
  // The limit is in characters: 2,000 of them, multi-byte or not, pass.
  const ok = next(bob.channel, "new_msg");
  ann.channel.push("new_msg", { body: "é".repeat(2000) });
  assert.equal((await ok).body.length, 2000);
  leaked = null;
  const carol = await join(await connect("carol"), room);
  assert.equal(carol.history.messages.length, 1);
  assert.equal(leaked, null);
});

test("typing reaches every member but the sender; ping pongs; unknown events are refused", async () => {
  const room = `room:${unique("typing")}`;
  const ann = await join(await connect("ann"), room);
  const bob = await join(await connect("bob"), room);
  let selfTyping = false;
  ann.channel.on("user_typing", () => (selfTyping = true));
  const atBob = next(bob.channel, "user_typing");
  assert.deepEqual(await receive(ann.channel.push("typing", { anything: true })), { status: "ok", response: {} });
  assert.deepEqual(await atBob, { user_id: "ann" });
  assert.deepEqual(await receive(ann.channel.push("ping", {})), { status: "ok", response: { pong: true } });
  assert.deepEqual(await receive(ann.channel.push("whatever", {})), {
    status: "error",
    response: { reason: "unknown event" },
  });
  assert.equal(selfTyping, false);
});

test("boom crashes that channel only; it serves again, others never notice", async () => {
  const room = `room:${unique("boom")}`;
  const socket = await connect("ann");
  const crashing = await join(socket, room);
  const healthy = await join(socket, `room:${unique("healthy")}`);
  const other = await join(await connect("bob"), room);
  const crash = await receive(crashing.channel.push("boom", {}));
  assert.deepEqual(crash, { status: "error", response: { reason: "channel_crash" } });
  assert.deepEqual(await receive(healthy.channel.push("ping", {})), { status: "ok", response: { pong: true } });
  assert.deepEqual(await receive(other.channel.push("ping", {})), { status: "ok", response: { pong: true } });
  const msg = next(other.channel, "new_msg");
  crashing.channel.push("new_msg", { body: "after the crash" });
  assert.equal((await msg).body, "after the crash");
});

test("POST /api/broadcast reaches the topic; malformed bodies get 400", async () => {
  const room = `room:${unique("api")}`;
  const ann = await join(await connect("ann"), room);
  const got = next(ann.channel, "news");
  const res = await fetch(`${base}/api/broadcast`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: room, event: "news", payload: { flash: true } }),
  });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), {});
  assert.deepEqual(await got, { flash: true });
  for (const body of ["", "{", "[]", '{"topic":"x"}', '{"topic":"x","event":"e","payload":[1]}', '{"topic":1,"event":"e","payload":{}}', '{"topic":"x","event":"","payload":{}}']) {
    const bad = await fetch(`${base}/api/broadcast`, { method: "POST", headers: { "content-type": "application/json" }, body });
    assert.equal(bad.status, 400, body);
    assert.equal(typeof (await bad.json()).error, "string");
  }
});

test("a disconnect broadcast on users_socket:<id> closes every socket of that user", async () => {
  const user = unique("leaver");
  const sockets = [await connect(user, { reconnectAfterMs: () => 60_000 }), await connect(user, { reconnectAfterMs: () => 60_000 })];
  const bystander = await connect("bystander");
  await Promise.all([...sockets, bystander].map((s) => new Promise((resolve) => (s.isConnected() ? resolve() : s.onOpen(resolve)))));
  const closes = sockets.map((s) => new Promise((resolve) => s.onClose((e) => resolve(e.code))));
  const res = await fetch(`${base}/api/broadcast`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: `users_socket:${user}`, event: "disconnect", payload: {} }),
  });
  assert.equal(res.status, 202);
  assert.deepEqual(await Promise.all(closes), [1001, 1001]);
  assert.equal(bystander.isConnected(), true);
});

test("bench: join, echo (JSON and binary), broadcast msg to every member with no reply", async () => {
  const topic = `bench:${unique("b")}`;
  const a = (await connect("ann")).channel(topic);
  const b = (await connect("bob")).channel(topic);
  assert.deepEqual(await receive(a.join()), { status: "ok", response: {} });
  assert.deepEqual(await receive(b.join()), { status: "ok", response: {} });
  assert.deepEqual(await receive(a.push("echo", { n: [1, "two", null] })), { status: "ok", response: { n: [1, "two", null] } });
  const bin = await receive(a.push("echo", new Uint8Array([0, 255, 7]).buffer));
  assert.equal(bin.status, "ok");
  assert.deepEqual([...new Uint8Array(bin.response)], [0, 255, 7]);
  const atA = next(a, "msg");
  const atB = next(b, "msg");
  let replied = false;
  a.push("broadcast", { t: 1 }).receive("ok", () => (replied = true));
  assert.deepEqual(await atA, { t: 1 });
  assert.deepEqual(await atB, { t: 1 });
  assert.equal(replied, false);
});

test("presence: the joiner gets presence_state, members get presence_diff for joins and leaves", async () => {
  const room = `room:${unique("presence")}`;
  const annSocket = await connect("ann");
  const ann = annSocket.channel(room);
  const annState = next(ann, "presence_state");
  await receive(ann.join());
  const state = await annState;
  assert.deepEqual(Object.keys(state), ["ann"]);
  assert.equal(state.ann.metas.length, 1);
  assert.equal(typeof state.ann.metas[0].online_at, "number");
  assert.ok(Math.abs(state.ann.metas[0].online_at - Date.now() / 1000) < 60);
  assert.match(state.ann.metas[0].phx_ref, /^[A-Za-z0-9_-]{16}$/);

  const bobJoin = new Promise((resolve) => {
    const ref = ann.on("presence_diff", (d) => {
      if (d.joins.bob) {
        ann.off("presence_diff", ref);
        resolve(d);
      }
    });
  });
  const bob = (await connect("bob")).channel(room);
  const bobState = next(bob, "presence_state");
  await receive(bob.join());
  assert.deepEqual(Object.keys(await bobState).sort(), ["ann", "bob"]);
  const diff = await bobJoin;
  assert.deepEqual(diff.leaves, {});
  assert.equal(diff.joins.bob.metas.length, 1);

  const bobLeave = new Promise((resolve) => {
    const ref = ann.on("presence_diff", (d) => {
      if (d.leaves.bob) {
        ann.off("presence_diff", ref);
        resolve(d);
      }
    });
  });
  await receive(bob.leave());
  const left = await bobLeave;
  assert.deepEqual(left.joins, {});
  assert.equal(left.leaves.bob.metas[0].phx_ref, diff.joins.bob.metas[0].phx_ref);
});

test("/socket/longpoll: a long-poll client chats with a WebSocket client", async () => {
  const { LongPoll } = await import("phoenix");
  const room = `room:${unique("lp")}`;
  const lpSocket = await connect("lpuser", { transport: LongPoll });
  const lp = await join(lpSocket, room);
  const ws = await join(await connect("wsuser"), room);
  const atWS = next(ws.channel, "new_msg");
  const atLP = next(lp.channel, "new_msg");
  lp.channel.push("new_msg", { body: "over long-poll" });
  assert.equal((await atWS).body, "over long-poll");
  assert.equal((await atLP).user_id, "lpuser");
  assert.deepEqual(await receive(lp.channel.push("ping", {})), { status: "ok", response: { pong: true } });
});
