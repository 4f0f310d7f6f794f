// Recovery with the stock phoenix client: a member that was away rejoins
// with the position of the last broadcast it saw (a params function,
// evaluated at every rejoin) and gets what it missed, in order, once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LongPoll } from "phoenix";
import WebSocket from "ws";
import { openSocket, receive } from "./helpers.mjs";

const base = process.env.PHX_URL;
if (!base) throw new Error("PHX_URL is not set: run these tests through `go test ./e2e`");

// member joins topic as a page would: it keeps the last position it saw,
// and every shout and phx_recovery it gets, in order.
function member(transport, topic) {
  const socket = openSocket(`${base}/socket`, { transport, params: { token: "good" }, timeout: 2000 });
  const m = { socket, last: undefined, shouts: [], recoveries: [], waiters: [] };
  m.channel = socket.channel(topic, () => (m.last ? { recover: m.last } : {}));
  m.channel.on("shout", (payload, ref) => {
    m.last = ref;
    m.shouts.push(payload.n);
    m.wake();
  });
  m.channel.on("phx_recovery", (r) => {
    if (!m.last) m.last = r.position;
    m.recoveries.push(r);
    m.wake();
  });
  m.wake = () => m.waiters.splice(0).forEach((w) => w());
  // until resolves once cond holds.
  m.until = (cond) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timed out")), 5000);
      const check = () => (cond() ? (clearTimeout(timer), resolve()) : m.waiters.push(check));
      check();
    });
  return m;
}

for (const [name, transport] of [["WebSocket", WebSocket], ["LongPoll", LongPoll]]) {
  test(`recovery over ${name}: 50 broadcasts missed while away arrive once, in order`, async () => {
    const topic = `hist:${name}`;
    const away = member(transport, topic);
    await receive(away.channel.join());
    const publisher = openSocket(`${base}/socket`, { transport: WebSocket, params: { token: "good" } }).channel(topic);
    await receive(publisher.join());
    await receive(publisher.push("shout", { n: 0 }));
    await away.until(() => away.shouts.length === 1);

    await new Promise((closed) => away.socket.disconnect(closed)); // gone before the first missed
    for (let n = 1; n <= 50; n++) {
      assert.equal((await receive(publisher.push("shout", { n }))).status, "ok");
    }
    away.socket.connect(); // the channel rejoins with {recover: last}
    await away.until(() => away.recoveries.length === 2 && away.shouts.length === 51);
    assert.deepEqual(away.recoveries[1], { position: away.last, recovered: true, missed: 50 });
    await receive(publisher.push("shout", { n: 51 }));
    await away.until(() => away.shouts.length === 52);
    assert.deepEqual(away.shouts, Array.from({ length: 52 }, (_, i) => i));
  });
}

test("recovery from a position the server never gave: recovered false, nothing old", async () => {
  const topic = "hist:forged";
  const publisher = openSocket(`${base}/socket`, { transport: WebSocket, params: { token: "good" } }).channel(topic);
  await receive(publisher.join());
  await receive(publisher.push("shout", { n: 1 }));
  const m = member(WebSocket, topic);
  m.last = "AAAAAAAAAAAAAAAAAAAAAA.1";
  await receive(m.channel.join());
  await m.until(() => m.recoveries.length === 1);
  assert.equal(m.recoveries[0].recovered, false);
  assert.equal(m.recoveries[0].missed, 0);
  await receive(publisher.push("shout", { n: 2 }));
  await m.until(() => m.shouts.length === 1);
  assert.deepEqual(m.shouts, [2]);
});
