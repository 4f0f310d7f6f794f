// The phoenix client's Presence class, unchanged, against presence_state
// and presence_diff from the Go server (see e2e_test.go).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Presence } from "phoenix";
import WebSocket from "ws";
import { openSocket } from "./helpers.mjs";

const base = process.env.PHX_URL;
if (!base) throw new Error("PHX_URL is not set: run these tests through `go test ./e2e`");

const opened = [];

function connect() {
  const socket = openSocket(`${base}/socket`, { transport: WebSocket, params: { token: "good" } });
  opened.push(socket);
  return socket;
}

// member joins topic as user on a new socket and records what its Presence
// sees.
function member(topic, user, device) {
  const channel = connect().channel(topic, { user, device });
  const presence = new Presence(channel);
  const seen = { joins: [], leaves: [], syncs: 0 };
  const waiters = [];
  presence.onJoin((key, current, joined) => seen.joins.push({ key, had: !!current, metas: joined.metas.map((m) => m.device) }));
  presence.onLeave((key, current, left) => seen.leaves.push({ key, remaining: current.metas.length, metas: left.metas.map((m) => m.device) }));
  presence.onSync(() => {
    seen.syncs++;
    for (const w of [...waiters]) if (w.cond()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  const until = (cond) => new Promise((resolve) => (cond() ? resolve() : waiters.push({ cond, resolve })));
  const list = () =>
    Object.fromEntries(presence.list((key, { metas }) => [key, metas.map((m) => m.device + (m.status ? `:${m.status}` : "")).sort()]));
  return { channel, presence, seen, until, list };
}

const joined = (m) => new Promise((resolve, reject) => m.channel.join().receive("ok", resolve).receive("error", reject));

test("Presence syncs joins, a user on two sockets, an update and leaves", async () => {
  const topic = `presence:${Math.random().toString(36).slice(2)}`;
  const ann = member(topic, "ann", "laptop");
  await joined(ann);
  await ann.until(() => ann.list().ann?.length === 1);
  assert.deepEqual(ann.list(), { ann: ["laptop"] });

  const bob = member(topic, "bob", "phone");
  await joined(bob);
  await bob.until(() => Object.keys(bob.list()).length === 2);
  await ann.until(() => Object.keys(ann.list()).length === 2);
  assert.deepEqual(bob.list(), { ann: ["laptop"], bob: ["phone"] });
  assert.deepEqual(ann.list(), { ann: ["laptop"], bob: ["phone"] });

  // ann again, on a second socket: one key, two metas.
  const ann2 = member(topic, "ann", "tablet");
  await joined(ann2);
  await bob.until(() => bob.list().ann?.length === 2);
  assert.deepEqual(bob.list(), { ann: ["laptop", "tablet"], bob: ["phone"] });
  assert.ok(bob.seen.joins.some((j) => j.key === "ann" && j.had && j.metas.includes("tablet")));

  // An update: the meta changes in place, the key stays.
  assert.equal(await new Promise((r) => bob.channel.push("away", {}).receive("ok", () => r("ok"))), "ok");
  await ann.until(() => ann.list().bob?.[0] === "phone:away");
  assert.deepEqual(ann.list().bob, ["phone:away"]);

  // ann's tablet leaves: ann stays, with one meta.
  await new Promise((r) => ann2.channel.leave().receive("ok", r));
  await bob.until(() => bob.list().ann?.length === 1);
  assert.deepEqual(bob.list(), { ann: ["laptop"], bob: ["phone:away"] });
  assert.ok(bob.seen.leaves.some((l) => l.key === "ann" && l.remaining === 1 && l.metas[0] === "tablet"));

  // ann's last socket goes: ann leaves entirely.
  opened[0].disconnect();
  await bob.until(() => !bob.list().ann);
  assert.deepEqual(bob.list(), { bob: ["phone:away"] });
  assert.ok(bob.seen.leaves.some((l) => l.key === "ann" && l.remaining === 0 && l.metas[0] === "laptop"));
});
