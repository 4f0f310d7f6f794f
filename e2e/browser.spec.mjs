// The sample's chat page in headless Chromium (Debian's package, driven by
// playwright-core), used as people use it: two pages chatting, a long
// word, a small screen, a bad name, a refused room, a page offline for a
// while, a server restart.
// Run by sample/sample_test.go, which passes SAMPLE_URL, and CONTROL_URL
// to stop and start the sample. Screenshots of each state go to
// e2e/screenshots/.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const base = process.env.SAMPLE_URL;
const control = process.env.CONTROL_URL;
if (!base || !control) throw new Error("SAMPLE_URL or CONTROL_URL is not set: run these tests through `go test ./sample`");
const shots = fileURLToPath(new URL("./screenshots/", import.meta.url));
await mkdir(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
after(() => browser.close());

const narrow = { width: 390, height: 844 };

// newPage opens the chat page in a context of its own (its own storage),
// recording the page's errors and the frames its socket sends.
const wide = { width: 1280, height: 800 };

async function newPage({ viewport, clock, room, colorScheme } = {}) {
  const context = await browser.newContext({ ...(viewport ? { viewport } : {}), ...(colorScheme ? { colorScheme } : {}) });
  context.setDefaultTimeout(15_000);
  if (clock) await context.clock.install();
  const page = await context.newPage();
  const errors = [];
  const consoleErrors = [];
  const sent = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("websocket", (ws) => ws.on("framesent", ({ payload }) => {
    try {
      sent.push(JSON.parse(payload));
    } catch {}
  }));
  await page.goto(room ? `${base}/#${encodeURIComponent(room)}` : base);
  return { page, context, errors, consoleErrors, sent };
}

async function logIn(page, user) {
  await page.fill("#user", user);
  await page.click("#login button");
  await page.waitForSelector("#status.online");
}

async function open(user, room, options) {
  const p = await newPage({ ...options, room });
  await logIn(p.page, user);
  await p.page.waitForSelector(`#online li[data-user="${user}"]`);
  return p;
}

async function send(page, text) {
  await page.fill("#body", text);
  await page.press("#body", "Enter");
}

// broadcast sends a message to a room from outside any channel, past the
// message rate a page is held to.
async function broadcast(room, body, user_id = "outside") {
  const res = await fetch(`${base}/api/broadcast`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      topic: `room:${room}`, event: "new_msg",
      payload: { id: 0, body, user_id, inserted_at: new Date().toISOString() },
    }),
  });
  assert.equal(res.status, 202);
}

function shot(page, name) {
  return page.screenshot({ path: `${shots}${name}.png`, fullPage: true });
}

// The page is as wide as the window: nothing pushed it sideways.
async function assertNoSidewaysScroll(page) {
  const { doc, view } = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    view: document.documentElement.clientWidth,
  }));
  assert.equal(doc, view, "the document is wider than the viewport");
}

async function assertInViewport(page, selector) {
  const box = await page.locator(selector).boundingBox();
  const { width, height } = page.viewportSize();
  assert.ok(box, `${selector} is not shown`);
  assert.ok(box.x >= 0 && box.x + box.width <= width && box.y >= 0 && box.y + box.height <= height,
    `${selector} at ${JSON.stringify(box)} is outside the ${width}×${height} viewport`);
}

async function ctl(path) {
  const res = await fetch(control + path, { method: "POST" });
  assert.equal(res.status, 204, `${path}: ${await res.text()}`);
}

test("two pages exchange a message and see each other online", async () => {
  const room = `browser${Date.now()}`;
  const ann = await open("ann", room);
  const bob = await open("bob", room);
  await ann.page.waitForSelector('#online li[data-user="bob"]');
  await bob.page.waitForSelector('#online li[data-user="ann"]');

  await send(ann.page, "hello from ann's page");
  const atBob = await bob.page.waitForSelector('#messages li:has-text("hello from ann\'s page")');
  assert.equal(await atBob.$eval(".who", (e) => e.textContent), "ann");
  await ann.page.waitForSelector('#messages li:has-text("hello from ann\'s page")');

  // bob types: ann sees it.
  await bob.page.type("#body", "hi");
  await ann.page.waitForSelector('#typing:has-text("bob is typing")');

  // The page's icon is served with it.
  const icon = await ann.page.evaluate(async () => {
    const res = await fetch(document.querySelector('link[rel="icon"]').href);
    return { status: res.status, type: res.headers.get("content-type") };
  });
  assert.deepEqual(icon, { status: 200, type: "image/svg+xml" });

  // bob leaves: ann's list drops him.
  await bob.context.close();
  await ann.page.waitForSelector('#online li[data-user="bob"]', { state: "detached" });
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(bob.errors, []);
  assert.deepEqual(ann.consoleErrors, []);
  await ann.context.close();
});

test("a delivered message is never reported as failed, even past the push timeout", async () => {
  const room = `timeout${Date.now()}`;
  // ann's clock is run by the test: past the client's push timeout (10 s)
  // in an instant, and the typing indicator's own 3 s never end by
  // themselves.
  const ann = await open("ann", room, { clock: true });
  const bob = await open("bob", room);
  await ann.page.waitForSelector('#online li[data-user="bob"]');

  // bob types, then sends: what he was typing has come, and ann no longer
  // reads that he is typing it.
  await bob.page.type("#body", "on its way");
  await ann.page.waitForSelector('#typing:has-text("bob is typing")');
  await bob.page.press("#body", "Enter");
  await ann.page.waitForSelector('#messages li:has-text("on its way")');
  assert.equal(await ann.page.textContent("#typing"), "");

  await send(ann.page, "delivered");
  await bob.page.waitForSelector('#messages li:has-text("delivered")');
  await ann.page.waitForSelector('#messages li:has-text("delivered")');
  // One sent, and the room left at once, before anything could answer.
  await send(ann.page, "sent, then away");
  await ann.page.fill("#room", `${room}-next`);
  await ann.page.click("#join button");
  await ann.page.waitForSelector(`#joined:text-is("#${room}-next")`);
  await bob.page.waitForSelector('#messages li:has-text("sent, then away")');
  await ann.page.clock.runFor(15_000);
  // A round trip after the timers have run: anything they showed is shown.
  await send(ann.page, "still fine");
  await ann.page.waitForSelector('#messages li:has-text("still fine")');
  assert.equal(await ann.page.textContent("#error"), "");
  assert.equal(await bob.page.textContent("#error"), "");
  assert.equal(await bob.page.locator('#messages li:has-text("delivered")').count(), 1);
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(bob.errors, []);
  await ann.context.close();
  await bob.context.close();
});

test("a crash on request is seen by every member: restarted in place, then stopped past the budget", async () => {
  const room = `boom${Date.now()}`;
  const user = `ann_${Date.now()}`;
  const ann = await open(user, room);
  const bob = await open("bob", room);
  await ann.page.waitForSelector('#online li[data-user="bob"]');

  await send(ann.page, "/boom");
  for (const [p, whose] of [[ann, "Your channel"], [bob, `${user}'s channel`]]) {
    await p.page.waitForSelector(`#messages li.notice.crash:has-text("${whose} crashed and was restarted in place, restart 1 of 3 in 5 s")`);
  }
  // A command is not a message being typed to the room.
  assert.equal(await bob.page.textContent("#typing"), "");
  // Nobody left: ann's channel stayed joined, and bob's list kept her
  // through the moment the fresh instance tracked her again.
  assert.equal(await ann.page.textContent("#error"), "");
  await send(ann.page, "after the crash");
  await bob.page.waitForSelector('#messages li:has-text("after the crash")');
  for (const p of [ann, bob]) {
    await p.page.waitForSelector(`#online li[data-user="${user}"]`);
    await p.page.waitForSelector('#online li[data-user="bob"]');
  }
  const gone = await bob.page.evaluate((u) => new Promise((resolve) => {
    // Watched for longer than the page's leave grace.
    const seen = [];
    const list = document.getElementById("online");
    const check = () => seen.push(!!list.querySelector(`li[data-user="${u}"]`));
    const obs = new MutationObserver(check);
    obs.observe(list, { childList: true });
    setTimeout(() => { obs.disconnect(); check(); resolve(seen.includes(false)); }, 2500);
  }), user);
  assert.equal(gone, false, "bob's page showed ann gone");
  await shot(bob.page, "crash-restarted");

  // Three more at once: the third is past the budget (3 restarts in 5 s).
  await send(ann.page, "/boom");
  await send(ann.page, "/boom");
  await ann.page.click("#boom");
  await bob.page.waitForSelector('#messages li.notice.crash:has-text("past its budget of 3 restarts in 5 s and was stopped")');
  await ann.page.waitForSelector('#messages li.notice.crash:has-text("stopped; the page has rejoined the room")');
  await send(ann.page, "rejoined");
  await bob.page.waitForSelector('#messages li:has-text("rejoined")');
  await shot(ann.page, "crash-stopped");
  assert.equal(await ann.page.textContent("#error"), "");
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(bob.errors, []);
  await ann.context.close();
  await bob.context.close();
});

test("it looks like a chat: full height, a room list, grouped messages, links, an empty state, both themes", async () => {
  const room = `look${Date.now()}`;
  // Nothing alarming before anyone has done anything.
  const first = await newPage({ viewport: wide });
  assert.notEqual(await first.page.textContent("#status"), "offline");
  await shot(first.page, "log-in-1280x800");
  await first.context.close();

  const ann = await open("ann", `${room}-other`, { viewport: wide });
  await ann.page.goto(`${base}/#${room}`);
  await ann.page.waitForSelector(`#joined:text-is("#${room}")`);
  // One process, no cluster: nothing is said of clusters.
  assert.ok(await ann.page.isHidden("#node"));
  // An empty room says so.
  await ann.page.waitForSelector(`#empty:has-text("No messages in #${room} yet")`);
  // The rooms this browser has been in, the current one marked.
  await ann.page.waitForSelector(`#rooms a[aria-current="page"]:text-is("#${room}")`);
  await ann.page.waitForSelector(`#rooms a:text-is("#${room}-other")`);

  const bob = await open("bob", room, { viewport: narrow, colorScheme: "dark" });
  await send(ann.page, "hello bob, the notes are at https://example.com/notes?x=1.");
  await send(ann.page, "and not at javascript:alert(1) nor <b>here</b>");
  await send(bob.page, "thanks!");
  for (const p of [ann, bob]) {
    await p.page.waitForSelector('#messages li:has-text("thanks!")');
    assert.ok(await p.page.isHidden("#empty"));
    const link = p.page.locator("#messages a");
    assert.equal(await link.count(), 1, "only the http URL is a link");
    assert.equal(await link.getAttribute("href"), "https://example.com/notes?x=1");
    assert.match(await link.getAttribute("rel"), /noopener/);
    assert.equal(await p.page.locator("#messages b").count(), 0, "a message's text became HTML");
    // Two of ann's in a row: one name over both; a day separator first.
    const items = await p.page.$$eval("#messages li", (lis) => lis.map((li) => [...li.classList].sort().join(" ")));
    assert.deepEqual(items, p === ann ? ["day", "mine msg", "cont mine msg", "msg"] : ["day", "msg", "cont msg", "mine msg"]);
    assert.ok(await p.page.isHidden("#messages li.cont .who"));
    assert.equal(await p.page.textContent("#messages li.day"), "Today");
    await assertNoSidewaysScroll(p.page);
  }
  // Full height: the composer at the bottom of the window.
  for (const p of [ann, bob]) {
    const box = await p.page.locator("#send").boundingBox();
    const { height } = p.page.viewportSize();
    assert.ok(height - (box.y + box.height) < 60, `the composer ends at ${box.y + box.height} of ${height}`);
    await assertInViewport(p.page, "#send button");
  }
  // Buttons as tall as their inputs.
  const [input, button] = await Promise.all(["#body", "#send button"].map((q) => ann.page.locator(q).boundingBox()));
  assert.equal(Math.round(button.height), Math.round(input.height));
  await shot(ann.page, "chat-1280x800-light");
  await shot(bob.page, "chat-390x844-dark");

  // On a phone the rooms are behind a button.
  assert.ok(await bob.page.isHidden("#sidebar"));
  await bob.page.click("#rooms-toggle");
  await bob.page.waitForSelector("#sidebar", { state: "visible" });
  assert.equal(await bob.page.getAttribute("#rooms-toggle", "aria-expanded"), "true");
  await shot(bob.page, "rooms-390x844-dark");
  await bob.page.fill("#room", `${room}-bob`);
  await bob.page.click("#join button");
  await bob.page.waitForSelector(`#joined:text-is("#${room}-bob")`);
  assert.ok(await bob.page.isHidden("#sidebar"));
  await bob.page.click("#rooms-toggle");
  await bob.page.click(`#rooms a:text-is("#${room}")`);
  await bob.page.waitForSelector(`#joined:text-is("#${room}")`);
  await bob.page.waitForSelector('#messages li:has-text("thanks!")');
  assert.ok(await bob.page.isHidden("#sidebar"));

  // The other theme and size of each.
  const annDark = await open("ann", room, { viewport: wide, colorScheme: "dark" });
  const bobLight = await open("bob", room, { viewport: narrow, colorScheme: "light" });
  for (const p of [annDark, bobLight]) await p.page.waitForSelector('#messages li:has-text("thanks!")');
  await shot(annDark.page, "chat-1280x800-dark");
  await shot(bobLight.page, "chat-390x844-light");
  for (const p of [ann, bob, annDark, bobLight]) {
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.consoleErrors, []);
    await p.context.close();
  }
});

test("a reader who scrolled up stays there, and is told of new messages; a node of a cluster says so", async () => {
  const room = `scroll${Date.now()}`;
  const ann = await open("ann", room, { viewport: wide });
  for (let i = 1; i <= 40; i++) await broadcast(room, `filler ${i}`);
  await ann.page.waitForSelector('#messages li:has-text("filler 40")');
  const list = ann.page.locator("#messages");
  const atBottom = () => list.evaluate((l) => l.scrollHeight - l.scrollTop - l.clientHeight < 24);
  assert.ok(await atBottom(), "a reader at the bottom follows");

  await list.evaluate((l) => { l.scrollTop = 0; });
  await ann.page.waitForFunction(() => document.getElementById("messages").scrollTop === 0);
  // The page hears of the scroll in the next rendering update, before
  // its animation frame callbacks: two frames and it has.
  await ann.page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  await broadcast(room, "while you read");
  await broadcast(room, "and another");
  await ann.page.waitForSelector('#messages li:has-text("and another")');
  await ann.page.waitForSelector('#jump:text-is("2 new messages ↓")');
  assert.equal(await list.evaluate((l) => l.scrollTop), 0, "the reader was pulled down");
  await shot(ann.page, "new-messages-marker");
  await ann.page.click("#jump");
  await ann.page.waitForSelector("#jump", { state: "hidden" });
  assert.ok(await atBottom());
  // Sending takes the reader down to what they sent.
  await list.evaluate((l) => { l.scrollTop = 0; });
  await send(ann.page, "mine");
  await ann.page.waitForSelector('#messages li:has-text("mine")');
  await ann.page.waitForFunction(() => { const l = document.getElementById("messages"); return l.scrollHeight - l.scrollTop - l.clientHeight < 24; });

  // In a cluster (its view stood in for here: this sample is one process)
  // the header names the node and how many are up.
  await ann.page.route("**/api/node", (route) => route.fulfill({ json: { node: "n1", nodes: 3, up: 2 } }));
  await ann.page.reload();
  await ann.page.waitForSelector('#node:text-is("node n1 · 2 of 3 nodes up")');
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});

test("a long word wraps, live and in the history, down to 390 px", async () => {
  const room = `long${Date.now()}`;
  // The longest message a page may send (2,000 characters), and a
  // 3,000-character one from outside any channel (POST /api/broadcast).
  const word = "w".repeat(1990) + "0123456789";
  const longer = "x".repeat(2990) + "9876543210";
  const ann = await open("ann", room);
  const bob = await open("bob", room, { viewport: narrow });
  await send(ann.page, word);
  const res = await fetch(`${base}/api/broadcast`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      topic: `room:${room}`, event: "new_msg",
      payload: { id: 0, body: longer, user_id: "outside", inserted_at: new Date().toISOString() },
    }),
  });
  assert.equal(res.status, 202);
  for (const p of [ann, bob]) {
    await p.page.waitForSelector('#messages li:has-text("0123456789")');
    await p.page.waitForSelector('#messages li:has-text("9876543210")');
    await assertNoSidewaysScroll(p.page);
  }
  await assertInViewport(bob.page, "#send button");
  // A newcomer gets the word with the history; a 64-character name is as
  // long as names go.
  const longName = "c".repeat(64);
  const carol = await open(longName, room, { viewport: narrow });
  await carol.page.waitForSelector('#messages li:has-text("0123456789")');
  await carol.page.waitForSelector('#online li[data-user="ann"]');
  await assertNoSidewaysScroll(carol.page);
  for (const selector of ["h1", "#status", "#joined", "#send button", "#body", "#online", `#online li[data-user="${longName}"]`]) {
    await assertInViewport(carol.page, selector);
  }
  await shot(ann.page, "long-word");
  await shot(bob.page, "long-word-390px");
  await shot(carol.page, "long-word-history-390px");
  for (const p of [ann, bob, carol]) {
    assert.deepEqual(p.errors, []);
    await p.context.close();
  }
});

test("a bad name says why next to the field; a good one is remembered, and its session lasts across a reload", async () => {
  const p = await newPage();
  const { page } = p;
  await page.fill("#user", "ann smith");
  await page.click("#login button");
  await page.waitForSelector("#login-error:has-text('without spaces')");
  assert.ok(await page.isVisible("#login-error"));
  assert.ok(await page.isHidden("#chat"));
  await shot(page, "invalid-name");
  // The server's own refusal shows there too.
  await page.evaluate(() => document.getElementById("user").removeAttribute("pattern"));
  await page.click("#login button");
  await page.waitForSelector("#login-error:has-text('user_id must be')");
  // Chromium reports a pattern it cannot compile on the console.
  assert.deepEqual(p.consoleErrors.filter((m) => !m.includes("400")), []);

  const room = `names${Date.now()}`;
  await page.goto(`${base}/#${room}`);
  await logIn(page, "dora");
  await page.waitForSelector(`#joined:text-is("#${room}")`);
  await send(page, "before the reload");
  // A reload keeps the session: back in the room, ready to send, with no
  // log-in.
  await page.reload();
  await page.waitForSelector("#status.online");
  assert.ok(await page.isHidden("#login"));
  await page.waitForSelector(`#joined:text-is("#${room}")`);
  await page.waitForSelector('#online li[data-user="dora"]');
  await page.waitForSelector('#messages li:has-text("before the reload")');
  await send(page, "after the reload");
  await page.waitForSelector('#messages li:has-text("after the reload")');

  // Only spaces: the server refuses it, and the page says so.
  await send(page, "   ");
  await page.waitForSelector("#error:has-text('not sent: invalid body')");
  // Not put back as invisible spaces.
  assert.equal(await page.inputValue("#body"), "");
  await shot(page, "blank-message");

  // Logging out forgets the session, not the name.
  await page.click("#logout");
  await page.waitForSelector("#login", { state: "visible" });
  await page.reload();
  assert.ok(await page.isVisible("#login"));
  assert.equal(await page.inputValue("#user"), "dora");

  // A kept session the server no longer takes (another secret, say) is
  // refused cleanly at the reload: the log-in form, the name filled in.
  await page.evaluate(() => localStorage.setItem("phx-chat:session", JSON.stringify({ user: "dora", token: "not-a-token" })));
  await page.reload();
  await page.waitForSelector("#login-error:has-text('no longer accepts your session')");
  assert.ok(await page.isHidden("#chat"));
  assert.equal(await page.inputValue("#user"), "dora");
  assert.equal(await page.evaluate(() => localStorage.getItem("phx-chat:session")), null);
  assert.deepEqual(p.errors, []);
  await p.context.close();
});

test("a refused room says why, is not retried, and the page stays where it was", async () => {
  const room = `stay${Date.now()}`;
  // A fake clock lets the test run the client's rejoin timers on demand.
  const p = await newPage({ clock: true, room: "admins" });
  const { page, sent } = p;
  const joins = (topic) => sent.filter((f) => f[2] === topic && f[3] === "phx_join").length;

  // Refused as the first room (a link to it): in no room, and a message
  // says why it was not sent.
  await logIn(page, "eve");
  await page.waitForSelector("#error:has-text('cannot join #admins: unauthorized')");
  assert.equal(await page.textContent("#joined"), "not in a room");
  await send(page, "anyone?");
  await page.waitForSelector("#error:has-text('not sent: you are not in a room')");

  await page.fill("#room", room);
  await page.click("#join button");
  await page.waitForSelector(`#joined:text-is("#${room}")`);
  await page.waitForSelector('#online li[data-user="eve"]');

  // Refused from a room: still in it.
  await page.fill("#room", "admins");
  await page.click("#join button");
  await page.waitForSelector(`#error:has-text("cannot join #admins: unauthorized (this room is for admin only); still in #${room}")`);
  assert.equal(await page.textContent("#joined"), `#${room}`);
  assert.equal(await page.inputValue("#room"), "", "the field keeps the refused room");
  await shot(page, "refused-join");

  // Past the client's rejoin delays (1 s, then 2 s, 5 s, 10 s), then a
  // message: frames leave in order, so once it is back any rejoin would
  // have been sent before it.
  await page.clock.runFor(20_000);
  await send(page, "still here");
  await page.waitForSelector('#messages li:has-text("still here")');
  assert.ok(sent.some((f) => f[3] === "new_msg" && f[4].body === "still here"));
  assert.equal(joins("room:admins"), 2, "a refused join was retried");
  assert.deepEqual(p.errors, []);
  await p.context.close();
});

test("a page that was offline shows what it missed, once and in order, and says how many", async () => {
  const room = `away${Date.now()}`;
  // A name of its own: going offline below closes every socket of it.
  const user = `ann_${Date.now()}`;
  const ann = await open(user, room);
  const bob = await open("bob", room);
  await ann.page.waitForSelector('#online li[data-user="bob"]');
  const said = async (p, text) => p.page.waitForSelector(`#messages li .text:text-is("${text}")`);
  await send(bob.page, "before 1");
  await said(ann, "before 1");
  await send(ann.page, "before 2");
  await said(ann, "before 2");
  await said(bob, "before 2");

  // Offline as when the network drops: the server's end closes (a
  // disconnect broadcast on the user's socket id) and no new connection
  // can be made until the context is online again.
  await ann.context.setOffline(true);
  const res = await fetch(`${base}/api/broadcast`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: `users_socket:${user}`, event: "disconnect", payload: {} }),
  });
  assert.equal(res.status, 202);
  await ann.page.waitForSelector("#status.reconnecting");
  await bob.page.waitForSelector(`#online li[data-user="${user}"]`, { state: "detached" });

  // 12 messages meanwhile (their typing is broadcast among them), from
  // two pages: one page alone would pass the sample's message rate, a
  // burst of 10.
  const carol = await open("carol", room);
  const missed = Array.from({ length: 12 }, (_, i) => `missed ${i + 1}`);
  for (const [i, text] of missed.entries()) {
    const from = i % 2 ? carol : bob;
    await send(from.page, text);
    await said(bob, text);
  }
  assert.equal(await ann.page.locator('#messages li .text:text-matches("^missed")').count(), 0, "the offline page got messages");

  await ann.context.setOffline(false);
  await ann.page.waitForSelector("#status.online");
  await ann.page.waitForSelector('#messages li.notice:text-is("12 messages arrived while you were offline")');
  // presence_state comes after the history, which repeats what the page has.
  await ann.page.waitForSelector(`#online li[data-user="${user}"]`);
  await ann.page.waitForSelector('#online li[data-user="bob"]');
  await send(carol.page, "after");
  await said(ann, "after");
  const shown = () => ann.page.$$eval("#messages li:not(.day)", (items) =>
    items.map((li) => (li.classList.contains("notice") ? `(${li.textContent})` : li.querySelector(".text").textContent)));
  assert.deepEqual(await shown(), [
    "before 1", "before 2", "(12 messages arrived while you were offline)", ...missed, "after",
  ]);
  await shot(ann.page, "recovered");
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(bob.errors, []);
  assert.deepEqual(carol.errors, []);
  await ann.context.close();
  await bob.context.close();
  await carol.context.close();
});

// Last: it stops the server.
test("after a restart the pages come back; after a change of secret they ask to log in again", async () => {
  const room = `restart${Date.now()}`;
  const ann = await open("ann", room);
  const bob = await open("bob", room);
  await ann.page.waitForSelector('#online li[data-user="bob"]');
  // Direct messages are not stored: the pages keep them across the restart.
  await send(ann.page, "/dm bob just between us");
  await ann.page.waitForSelector('#messages li.dm:has-text("just between us")');
  await bob.page.waitForSelector('#messages li.dm:has-text("just between us")');

  await ctl("/stop");
  for (const p of [ann, bob]) {
    await p.page.waitForSelector("#status.reconnecting:text-is('reconnecting…')");
    await p.page.waitForSelector("#online-note", { state: "visible" });
    assert.equal(await p.page.locator("#online li").count(), 0, "people shown online while offline");
  }
  await send(ann.page, "into the void");
  await ann.page.waitForSelector("#error:has-text('not sent: offline')");
  await shot(ann.page, "reconnecting");

  // Same database, no -secret: the secret kept beside the database keeps
  // the pages' tokens good.
  await ctl("/start");
  for (const p of [ann, bob]) {
    await p.page.waitForSelector("#status.online");
    await p.page.waitForSelector('#online li[data-user="ann"]');
    await p.page.waitForSelector('#online li[data-user="bob"]');
    assert.ok(await p.page.isHidden("#online-note"));
  }
  await send(bob.page, "back again");
  await ann.page.waitForSelector('#messages li:has-text("back again")');
  for (const p of [ann, bob]) {
    assert.equal(await p.page.locator('#messages li.dm:has-text("just between us")').count(), 1, "a direct message lost in the restart");
  }
  await shot(ann.page, "back-online");

  // Another secret: the tokens are refused, and the pages say so.
  await ctl("/stop");
  await ctl("/start?secret=" + encodeURIComponent("another-secret-key-base-0123456789"));
  for (const p of [ann, bob]) {
    await p.page.waitForSelector("#login-error:has-text('no longer accepts your session')");
    assert.ok(await p.page.isHidden("#chat"));
    assert.equal(await p.page.textContent("#status"), "offline");
  }
  assert.equal(await ann.page.inputValue("#user"), "ann");
  await shot(ann.page, "log-in-again");
  await ann.page.click("#login button");
  await ann.page.waitForSelector("#status.online");
  await ann.page.waitForSelector('#online li[data-user="ann"]');
  await ann.page.waitForSelector('#messages li:has-text("back again")');
  for (const p of [ann, bob]) {
    assert.deepEqual(p.errors, []);
    await p.context.close();
  }
});
