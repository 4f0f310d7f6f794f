// Two sample nodes in one cluster, started by cluster_test.go, whose HTTP
// addresses arrive in NODE1_URL and NODE2_URL: ann on node 1 and bob on
// node 2 chat in one room and see each other in the phoenix Presence.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Presence } from "phoenix";
import WebSocket from "ws";
import { openSocket, receive, next } from "./helpers.mjs";

const node1 = process.env.NODE1_URL;
const node2 = process.env.NODE2_URL;
// Run by itself, without the two nodes, it says what it needs.
const skip = node1 && node2 ? false : "NODE1_URL and NODE2_URL are unset: cluster_test.go runs this file";

// Generous: the nodes are -race binaries on a busy machine.
const patience = 30_000;

function within(promise, what, describe = () => "") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} ${describe()}`)), patience);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function tokenFor(base, user) {
  const res = await fetch(`${base}/api/token?user_id=${user}`);
  assert.equal(res.status, 200, `GET /api/token on ${base}`);
  return (await res.json()).token;
}

// member connects user to the node at base, in topic, and records what its
// Presence sees.
async function member(base, user, topic) {
  const socket = openSocket(`ws${base.slice("http".length)}/socket`, {
    transport: WebSocket,
    params: { token: await tokenFor(base, user) },
    // A join that times out is retried, a second join of the topic: give
    // the first one time on a slow machine instead.
    timeout: 10_000,
  });
  const channel = socket.channel(topic, {});
  const presence = new Presence(channel);
  const leaves = [];
  const waiters = [];
  presence.onLeave((key, current) => leaves.push({ key, remaining: current.metas.length }));
  presence.onSync(() => {
    for (const w of [...waiters]) if (w.cond()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  const users = () => presence.list((key) => key).sort();
  const until = (cond, what) =>
    within(new Promise((resolve) => (cond() ? resolve() : waiters.push({ cond, resolve }))), `${user}: ${what}`, () =>
      JSON.stringify({ presence: users(), leaves }),
    );
  const history = next(channel, "history");
  const join = await within(receive(channel.join()), `${user}'s join`);
  assert.equal(join.status, "ok", `${user} joins ${topic}: ${JSON.stringify(join.response)}`);
  return { socket, channel, leaves, users, until, history: await within(history, `${user}'s history`) };
}

// say pushes new_msg from one member and returns it as every member got it.
async function say(from, body, members) {
  const got = members.map((m) => within(next(m.channel, "new_msg"), `"${body}"`));
  // No reply comes to new_msg, only the broadcast: a short push timeout
  // keeps its timer from holding node open once the sockets are gone.
  from.channel.push("new_msg", { body }, 1000);
  return Promise.all(got);
}

test("ann on node 1 and bob on node 2 chat and share Presence", { skip, timeout: 120_000 }, async () => {
  const topic = "room:cluster";
  const ann = await member(node1, "ann", topic);
  const bob = await member(node2, "bob", topic);
  assert.deepEqual(ann.history, { messages: [] });

  await ann.until(() => ann.users().join() === "ann,bob", "bob in ann's Presence");
  await bob.until(() => bob.users().join() === "ann,bob", "ann in bob's Presence");

  const [hello, helloAtBob] = await say(ann, "hello from node 1", [ann, bob]);
  assert.deepEqual(helloAtBob, hello, "both nodes push the same stored message");
  assert.equal(hello.body, "hello from node 1");
  assert.equal(hello.user_id, "ann");
  assert.equal(typeof hello.id, "number");
  assert.match(hello.inserted_at, /^\d{4}-\d\d-\d\dT/);

  const [reply, replyAtBob] = await say(bob, "hello from node 2", [ann, bob]);
  assert.deepEqual(replyAtBob, reply);
  assert.equal(reply.body, "hello from node 2");
  assert.equal(reply.user_id, "bob");
  assert.ok(reply.id > hello.id, `ids in order: ${hello.id} then ${reply.id}`);

  bob.socket.disconnect();
  await ann.until(() => ann.users().join() === "ann", "bob to leave ann's Presence");
  assert.ok(
    ann.leaves.some((l) => l.key === "bob" && l.remaining === 0),
    `onLeave for bob: ${JSON.stringify(ann.leaves)}`,
  );
});
