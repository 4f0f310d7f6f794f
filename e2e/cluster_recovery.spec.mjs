// Three sample nodes in one cluster, started by cluster_test.go
// (TestClusterRecoveryAfterKill), whose HTTP addresses arrive in
// NODE1_URL, NODE2_URL and NODE3_URL. A member on node 2 keeps the
// position of the last message it saw; node 2 is killed (kill -9) when
// this file prints "KILL n2"; the member comes back on node 3 with its
// position and gets every message sent meanwhile on nodes 1 and 3, once
// and in order, then the live ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { openSocket, receive } from "./helpers.mjs";

const nodes = [process.env.NODE1_URL, process.env.NODE2_URL, process.env.NODE3_URL];
const skip = nodes.every(Boolean) ? false : "NODE1_URL…NODE3_URL are unset: cluster_test.go runs this file";
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

// member joins topic on the node at base, with params (an object or a
// function, as phoenix takes them), and records the messages it gets,
// each with the ref it came with, and its phx_recovery pushes.
async function member(base, user, topic, params = {}) {
  const socket = openSocket(`ws${base.slice("http".length)}/socket`, {
    transport: WebSocket,
    params: { token: await tokenFor(base, user) },
    timeout: 10_000,
  });
  const channel = socket.channel(topic, params);
  const m = { socket, channel, messages: [], recoveries: [], waiters: [] };
  const wake = () => {
    for (const w of [...m.waiters]) if (w.cond()) { m.waiters.splice(m.waiters.indexOf(w), 1); w.resolve(); }
  };
  channel.on("new_msg", (msg, ref) => { m.messages.push({ body: msg.body, id: msg.id, ref }); wake(); });
  channel.on("phx_recovery", (r) => { m.recoveries.push(r); wake(); });
  m.until = (cond, what) =>
    within(new Promise((resolve) => (cond() ? resolve() : m.waiters.push({ cond, resolve }))), `${user}: ${what}`, () =>
      JSON.stringify({ messages: m.messages.map((x) => x.body), recoveries: m.recoveries }),
    );
  const join = await within(receive(channel.join()), `${user}'s join`);
  assert.equal(join.status, "ok", `${user} joins ${topic}: ${JSON.stringify(join.response)}`);
  return m;
}

async function peerDown(base, peer) {
  for (;;) {
    const view = await (await fetch(`${base}/api/cluster`)).json();
    if (view.peers.some((p) => p.node === peer && !p.up)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a member whose node is killed recovers on another node", { skip, timeout: 180_000 }, async () => {
  const topic = "room:recovery";
  const [n1, n2, n3] = nodes;
  const away = await member(n2, "away", topic);
  const one = await member(n1, "one", topic);
  const three = await member(n3, "three", topic);

  for (let i = 0; i < 5; i++) one.channel.push("new_msg", { body: `before ${i}` }, 1000);
  await away.until(() => away.messages.length === 5, "the first five");
  await one.until(() => one.messages.length === 5, "the first five on node 1");
  const last = away.messages[4].ref;
  assert.ok(typeof last === "string" && last.length > 0, `a position in the ref: ${last}`);
  assert.deepEqual(away.messages.map((x) => x.ref), one.messages.map((x) => x.ref).slice(0, 5), "one position per message, on every node");

  // The room's messages are numbered on n2 (the three names' rendezvous
  // with the topic): the kill moves the numbering to another node too.
  const n2stats = (await (await fetch(`${n2}/api/cluster`)).json()).stats;
  assert.ok(n2stats.broadcasts_sequenced >= 5, `n2 numbered the room: ${JSON.stringify(n2stats)}`);

  console.log("KILL n2");
  await within(Promise.all([peerDown(n1, "n2"), peerDown(n3, "n2")]), "n2 down on n1 and n3");
  away.socket.disconnect();

  const sent = [];
  for (let i = 0; i < 20; i++) {
    const from = i % 2 ? three : one;
    const body = `during ${i}`;
    sent.push(body);
    from.channel.push("new_msg", { body }, 1000);
  }
  await three.until(() => three.messages.length === 25, "the twenty on node 3");
  await one.until(() => one.messages.length === 25, "the twenty on node 1");
  const during = three.messages.slice(5);
  assert.deepEqual(one.messages.slice(5), during, "nodes 1 and 3 deliver the same messages at the same positions");
  assert.deepEqual([...during.map((x) => x.body)].sort(), [...sent].sort());

  const back = await member(n3, "away", topic, () => ({ recover: last }));
  await back.until(() => back.messages.length === 20, "what it missed");
  assert.deepEqual(back.recoveries[0] && { recovered: back.recoveries[0].recovered, missed: back.recoveries[0].missed },
    { recovered: true, missed: 20 });
  assert.deepEqual(back.messages, during, "every message missed, once, in order, at its position");

  one.channel.push("new_msg", { body: "after" }, 1000);
  await back.until(() => back.messages.length === 21, "the live one");
  assert.equal(back.messages[20].body, "after");
  assert.equal(new Set(back.messages.map((x) => x.ref)).size, 21, "no message twice");
});
