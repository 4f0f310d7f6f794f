// Helpers shared by the end-to-end tests.
import { after } from "node:test";
import { Socket } from "phoenix";

const sockets = [];
after(() => sockets.forEach((s) => s.disconnect()));

// openSocket makes and connects a phoenix Socket at url, disconnected when
// the test file ends. Short timeouts: a push timer still pending at the end
// would keep node alive.
export function openSocket(url, opts = {}) {
  const socket = new Socket(url, {
    timeout: 1000,
    rejoinAfterMs: () => 50,
    reconnectAfterMs: () => 50,
    ...opts,
  });
  sockets.push(socket);
  socket.connect();
  return socket;
}

// receive resolves with the first reply of a push (or join), whatever its
// status, and rejects on timeout.
export function receive(push) {
  return new Promise((resolve, reject) => {
    push
      .receive("ok", (r) => resolve({ status: "ok", response: r }))
      .receive("error", (r) => resolve({ status: "error", response: r }))
      .receive("timeout", () => reject(new Error("timeout")));
  });
}

// next resolves with the payload of the channel's next event.
export function next(channel, event) {
  return new Promise((resolve) => {
    const ref = channel.on(event, (payload) => {
      channel.off(event, ref);
      resolve(payload);
    });
  });
}
