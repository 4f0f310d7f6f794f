// The chat page: the official phoenix client, served by this server.
import { Socket, Presence } from "/assets/phoenix.mjs";

const $ = (id) => document.getElementById(id);
const nameKey = "phx-chat:name";
const sessionKey = "phx-chat:session";
const roomsKey = "phx-chat:rooms";
const typingTimers = new Map();

let socket = null;
let me = null;
let token = null;
// room is the room this page is in; pending, one being joined. The page
// stays in its room until the server accepts the next one, so that a
// refused join leaves it where it was.
let room = null;
let pending = null;
let checkingToken = false;
let checkAgain = false;

$("user").value = recall() ?? "";
// The address names the room (/#lobby), so that a reload or a shared link
// comes back to it; the room list's links are such addresses.
window.addEventListener("hashchange", () => {
  const name = roomFromHash();
  showRooms(false);
  if (name && socket) joinRoom(name);
});

$("user").addEventListener("invalid", (e) => {
  e.preventDefault();
  $("user").setAttribute("aria-invalid", "true");
  loginError("A name is 1 to 64 letters, digits, _ or -, without spaces.");
  $("user").focus();
});
$("user").addEventListener("input", () => {
  $("user").removeAttribute("aria-invalid");
  loginError("");
});

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const user = $("user").value.trim();
  loginError("");
  let res, body;
  try {
    res = await fetch(`/api/token?user_id=${encodeURIComponent(user)}`);
    body = await res.json();
    // The name admin takes the admin secret on a server beyond loopback.
    if (res.status === 401 && user === "admin") {
      const secret = window.prompt("The name admin takes the server's admin secret:");
      if (secret) {
        res = await fetch(`/api/token?user_id=admin`, { headers: { Authorization: `Bearer ${secret}` } });
        body = await res.json();
      }
    }
  } catch {
    loginError("The server cannot be reached; try again in a moment.");
    return;
  }
  if (!res.ok) {
    $("user").setAttribute("aria-invalid", "true");
    loginError(body.error ?? `refused (${res.status})`);
    return;
  }
  remember(user);
  keepSession(user, body.token);
  connect(user, body.token);
});

$("logout").addEventListener("click", () => logOut(""));

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("room").value.trim();
  // The field opens a room; the room the page is in is named above the
  // messages, and a refusal names the one refused.
  $("room").value = "";
  showRooms(false);
  joinRoom(name);
});

// On a phone the rooms are behind a button.
$("rooms-toggle").addEventListener("click", () => showRooms(!document.body.classList.contains("rooms-open")));
document.addEventListener("keydown", (e) => e.key === "Escape" && showRooms(false));
$("chat").addEventListener("click", (e) => {
  if (document.body.classList.contains("rooms-open") && !$("sidebar").contains(e.target)) showRooms(false);
});

function showRooms(open) {
  document.body.classList.toggle("rooms-open", open);
  $("rooms-toggle").setAttribute("aria-expanded", String(open));
  if (open) $("rooms").querySelector("a")?.focus();
}

$("boom").addEventListener("click", () => {
  if (room) crash(room);
  else showError("not crashed: you are not in a room");
});

$("send").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("body");
  if (!room) {
    showError(pending ? `not sent: still joining #${pending.name}` : "not sent: you are not in a room; open one from the list of rooms");
    return;
  }
  if (!socket.isConnected()) {
    showError("not sent: offline, reconnecting… (your text is kept)");
    return;
  }
  const body = input.value;
  const r = room;
  showError("");
  // A refusal concerns the room it was sent in: once the page has left it,
  // the room on screen is not the one that refused. A body of spaces only
  // is not put back: invisible, it would look like an empty box.
  const refused = (reason) => {
    if (room !== r) return;
    showError(`not sent: ${explain(reason)}`);
    if (!input.value.trim() && body.trim()) input.value = body;
  };
  // "/boom": this page's channel of the room crashes, on purpose, so that
  // supervision can be watched: every member is told (channel_crashed).
  if (body.trim() === "/boom") {
    input.value = "";
    crash(r);
    return;
  }
  // "/dm ann hello": a direct message to ann, on every page of hers.
  const dm = body.match(/^\/dm\s+(\S+)\s+([\s\S]+)$/);
  if (dm) {
    const [, to, text] = dm;
    r.channel
      .push("dm", { to, body: text })
      .receive("ok", () => room === r && addDirect(`you → ${to}`, text))
      .receive("error", (resp) => refused(resp?.reason))
      // dm is answered, but late is not lost: the server may have sent it.
      .receive("timeout", () => room === r && showError(`no answer yet for your message to ${to}: it may arrive all the same`));
    input.value = "";
    return;
  }
  // new_msg has no reply when it is taken, by the sample's contract: only a
  // refusal is answered. Its echo, the broadcast, is the delivery, and the
  // client's push timeout (10 s) says nothing about it.
  follow = true;
  r.channel.push("new_msg", { body }).receive("error", (resp) => refused(resp?.reason));
  input.value = "";
});

let lastTyping = 0;
$("body").addEventListener("input", () => {
  const now = Date.now();
  // A command (/dm, /boom) is not a message to the room being typed.
  if (room && socket.isConnected() && now - lastTyping > 1000 && !$("body").value.startsWith("/")) {
    lastTyping = now;
    room.channel.push("typing", {});
  }
});

function connect(user, t) {
  me = user;
  token = t;
  const s = new Socket("/socket", { params: { token: t } });
  socket = s;
  // Callbacks of a socket given up on (after a refusal) must not touch the
  // page of the next one.
  s.onOpen(() => {
    if (socket !== s) return;
    setStatus("online");
    showCluster();
  });
  s.onClose(() => socket === s && wentOffline());
  s.onError(() => {
    if (socket !== s) return;
    wentOffline();
    checkToken(s);
  });
  setStatus("connecting");
  s.connect();
  $("login").hidden = true;
  $("chat").hidden = false;
  $("me").textContent = `Signed in as ${user}`;
  $("rooms-toggle").hidden = false;
  room = pending = null;
  clearRoom();
  renderRooms();
  joinRoom(roomFromHash() || "lobby");
}

// A refused WebSocket looks to the page like a server that is down, and
// the client would retry it forever; the server says which it is.
async function checkToken(s) {
  if (checkingToken) {
    // The answer on its way may be the down server's, from before this
    // failure.
    checkAgain = true;
    return;
  }
  checkingToken = true;
  try {
    const res = await fetch("/api/whoami", { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 401 && socket === s && !s.isConnected()) {
      logOut("The server no longer accepts your session (its secret changed, or the session expired): connect again.");
    }
  } catch {
    // Down: the socket keeps trying, and this runs again at its next failure.
  } finally {
    checkingToken = false;
  }
  if (checkAgain) {
    checkAgain = false;
    if (socket === s && !s.isConnected()) checkToken(s);
  }
}

function logOut(message) {
  forgetSession();
  const s = socket;
  socket = null;
  room = pending = null;
  s.disconnect();
  clearRoom();
  renderJoined();
  setStatus("offline");
  $("chat").hidden = true;
  $("rooms-toggle").hidden = true;
  $("node").hidden = true;
  showRooms(false);
  $("login").hidden = false;
  $("user").value = me;
  loginError(message);
  $("user").focus();
}

function wentOffline() {
  setStatus("reconnecting");
  // Who was online is not known any more, and showing them would say they are.
  forgetOnline();
  $("online-note").hidden = false;
  typingTimers.forEach(clearTimeout);
  typingTimers.clear();
  renderTyping();
}

function setStatus(state) {
  const text = {
    offline: "offline",
    connecting: "connecting…",
    reconnecting: "reconnecting…",
    online: `online as ${me}`,
  };
  $("status").textContent = text[state];
  $("status").className = `status ${state}`;
}

function joinRoom(name) {
  const topic = `room:${name}`;
  showError("");
  if (pending) {
    pending.channel.leave();
    pending = null;
  }
  if (room && room.topic === topic) {
    renderJoined();
    return;
  }
  // last is the position of the last broadcast of the room this page
  // saw; every rejoin after a reconnect asks for what came after it.
  // merge: the next history is merged into what the page shows, rather
  // than replace it. recovery counts the broadcasts missed while away as
  // they arrive; missed says whether the one being handled is one of them.
  // joined: a join's history is on its way (a history without one comes
  // of a restart in place). stopped: the channel was stopped past its
  // restart budget, and is being rejoined.
  const r = { name, topic, channel: null, last: null, merge: false, recovery: null, missed: false, joined: false, stopped: false };
  const channel = socket.channel(topic, () => (r.last ? { recover: r.last } : {}));
  r.channel = channel;
  // Every broadcast of the room carries its position in its ref, whatever
  // its event; replies carry their push's ref, pushes none.
  channel.onMessage = (event, payload, ref) => {
    if (typeof ref === "string" && !event.startsWith("phx_") && !event.startsWith("chan_reply_")) {
      r.last = ref;
      r.missed = r.recovery !== null && r.recovery.left > 0;
      if (r.missed && --r.recovery.left === 0) {
        // After this frame's own handlers have run.
        queueMicrotask(() => endRecovery(r));
      }
    }
    return payload;
  };
  channel.on("phx_recovery", ({ position, recovered, missed }) => {
    r.joined = true;
    r.recovery = null;
    r.missed = false;
    r.merge = recovered === true;
    if (recovered) {
      // The missed broadcasts follow, each moving last on.
      if (missed > 0) r.recovery = { left: missed, chats: 0, first: null };
    } else {
      // A first join, or one that could not recover: what the page shows
      // is reloaded from the history that follows.
      r.last = position;
    }
  });
  const presence = new Presence(channel);
  presence.onSync(() => room === r && renderOnline(presence));
  channel.on("history", ({ messages }) => {
    if (room !== r) return;
    // A history that follows no join is a channel restarted in place after
    // a crash, which runs its join again: it brings nothing new.
    if (r.merge || !r.joined) {
      mergeMessages(messages);
    } else {
      // Direct messages are not in the store: the ones shown stay, among
      // the reloaded messages at their time.
      const direct = [...$("messages").querySelectorAll("li.dm")];
      $("messages").replaceChildren();
      messages.forEach(addMessage);
      direct.forEach(placeByTime);
    }
    r.merge = false;
    r.joined = false;
  });
  channel.on("new_msg", (m) => {
    if (room !== r) return;
    // The message that was being typed has come: its writer is no longer
    // typing it.
    if (typingTimers.has(m.user_id)) {
      clearTimeout(typingTimers.get(m.user_id));
      typingTimers.delete(m.user_id);
      renderTyping();
    }
    const li = addMessage(m);
    if (r.missed) {
      r.recovery.chats++;
      r.recovery.first ??= li;
    }
  });
  channel.on("dm", (m) => room === r && addDirect(`${m.from} → you`, m.body));
  channel.on("channel_crashed", (n) => {
    // This page's own stop is told when it has rejoined (onError below),
    // and the notice comes back among what it missed meanwhile.
    if (room !== r || (n.user_id === me && n.directive === "stop" && r.missed)) return;
    addNotice(crashText(n), "crash");
  });
  // Past its restart budget the channel is stopped: the server says so
  // with phx_error, which the client also raises itself when the socket
  // drops, without a reason.
  channel.onError((why) => {
    if (why?.reason === "channel_crash") r.stopped = true;
  });
  // Who was typing while the page was away is old news.
  channel.on("user_typing", ({ user_id }) => room === r && !r.missed && showTyping(user_id));
  pending = r;
  renderJoined();
  // The hooks run again at every rejoin after a reconnect.
  channel
    .join()
    .receive("ok", () => {
      if (room === r && r.stopped) {
        r.stopped = false;
        addNotice("Your channel of this room crashed past its restart budget and was stopped; the page has rejoined the room.", "crash");
      }
      if (pending !== r) return;
      const before = room;
      room = r;
      pending = null;
      if (before) before.channel.leave();
      history.replaceState(null, "", `#${encodeURIComponent(name)}`);
      clearRoom();
      rememberRoom(name);
      renderJoined();
    })
    .receive("error", (resp) => {
      // The client would retry a refused join for as long as the page is open.
      channel.leave();
      const why = explain(resp?.reason);
      if (pending === r) {
        pending = null;
        showError(`cannot join #${name}: ${why}` + (room ? `; still in #${room.name}` : ""));
      } else if (room === r) {
        room = null;
        clearRoom();
        showError(`#${name} refused this page on rejoining: ${why}`);
      }
      renderJoined();
    });
}

// endRecovery says, once the broadcasts missed while away have all
// arrived, how many of them were messages, above the first of them.
function endRecovery(r) {
  const { chats, first } = r.recovery;
  r.recovery = null;
  r.missed = false;
  if (room !== r || chats === 0) return;
  const li = document.createElement("li");
  li.className = "notice";
  li.dataset.at = first?.querySelector("time")?.dateTime ?? new Date().toISOString();
  li.textContent = `${chats} ${chats === 1 ? "message" : "messages"} arrived while you were offline`;
  const list = $("messages");
  list.insertBefore(li, first?.parentNode === list ? first : null);
}

// crash asks the server to crash this page's channel of room r.
function crash(r) {
  r.channel.push("boom", {}).receive("error", (resp) => {
    // channel_crash is the crash asked for; every member is told of it.
    if (room === r && resp?.reason !== "channel_crash") showError(`not crashed: ${explain(resp?.reason)}`);
  });
}

function crashText({ user_id, directive, restarts, max_restarts, window_seconds }) {
  const mine = user_id === me;
  const whose = mine ? "Your channel" : `${user_id}'s channel`;
  if (directive === "restart") {
    return `${whose} crashed and was restarted in place, restart ${restarts} of ${max_restarts} in ${window_seconds} s: ${mine ? "you" : user_id} stayed in the room.`;
  }
  return `${whose} crashed past its budget of ${max_restarts} restarts in ${window_seconds} s and was stopped: ${mine ? "this page rejoins" : "their page rejoins"} the room.`;
}

// addNotice shows a line of the page's own among the messages.
function addNotice(text, kind) {
  const li = document.createElement("li");
  li.className = `notice ${kind}`;
  li.dataset.at = new Date().toISOString();
  li.textContent = text;
  $("messages").append(li);
  return li;
}

function roomFromHash() {
  try {
    return decodeURIComponent(location.hash.slice(1)).trim();
  } catch {
    return "";
  }
}

function clearRoom() {
  $("messages").replaceChildren();
  follow = true;
  seenAll();
  forgetOnline();
  typingTimers.forEach(clearTimeout);
  typingTimers.clear();
  renderTyping();
}

function renderJoined() {
  let text = room ? `#${room.name}` : "not in a room";
  if (pending) text += ` (joining #${pending.name}…)`;
  $("joined").textContent = text;
  $("boom").disabled = !room;
  renderRooms();
  renderEmpty();
}

function explain(reason) {
  switch (reason) {
    case "invalid body":
      return "invalid body (a message is 1 to 2,000 characters, not only spaces)";
    case "unauthorized":
      return "unauthorized (this room is for admin only)";
    case "rate limited":
      return "rate limited (too many at once: wait a moment)";
    case undefined:
      return "refused";
  }
  return reason;
}

function showError(text) {
  $("error").textContent = text;
}

function loginError(text) {
  $("login-error").textContent = text;
}

// Storage may be off (a private window, a policy): the page then forgets
// the name, and a reload logs out.
function remember(user) {
  try {
    localStorage.setItem(nameKey, user);
  } catch {}
}

function recall() {
  try {
    return localStorage.getItem(nameKey);
  } catch {
    return null;
  }
}

// The session is the token, kept so that a reload comes back logged in,
// as a server restart does. The server says when it no longer takes it
// (checkToken), and then it is forgotten.
function keepSession(user, t) {
  try {
    localStorage.setItem(sessionKey, JSON.stringify({ user, token: t }));
  } catch {}
}

function forgetSession() {
  try {
    localStorage.removeItem(sessionKey);
  } catch {}
}

function keptSession() {
  try {
    const { user, token: t } = JSON.parse(localStorage.getItem(sessionKey));
    return typeof user === "string" && typeof t === "string" ? { user, token: t } : null;
  } catch {
    return null;
  }
}

// storeID is a message's id in the server's store, or null for one that
// has none (a direct message, a broadcast from outside any channel).
function storeID(m) {
  return Number.isInteger(m.id) && m.id > 0 ? m.id : null;
}

function shown(id) {
  return $("messages").querySelector(`li[data-id="${id}"]`);
}

// addMessage shows m last, unless it is shown already (a message of the
// store is shown once), and returns its item.
function addMessage(m) {
  const id = storeID(m);
  if (id !== null) {
    const li = shown(id);
    if (li) return li;
  }
  const li = messageItem(m);
  $("messages").append(li);
  return li;
}

// mergeMessages adds to what is shown the messages of a history (oldest
// first) that are not shown yet, each before the first shown message of
// the store that came after it.
function mergeMessages(messages) {
  const list = $("messages");
  for (const m of messages) {
    const id = storeID(m);
    if (id === null || shown(id)) continue;
    const after = [...list.children].find((li) => Number(li.dataset.id) > id);
    list.insertBefore(messageItem(m), after ?? null);
  }
}

// placeByTime puts li before the first message shown that is later.
function placeByTime(li) {
  const at = Date.parse(li.querySelector("time").dateTime);
  const list = $("messages");
  const after = [...list.children].find((x) => Date.parse(x.querySelector("time")?.dateTime) > at);
  list.insertBefore(li, after ?? null);
}

function messageItem(m) {
  const li = document.createElement("li");
  li.className = "msg";
  li.dataset.id = m.id;
  li.dataset.user = m.user_id;
  if (m.user_id === me) li.classList.add("mine");
  const meta = document.createElement("div");
  meta.className = "meta";
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = m.user_id;
  const when = document.createElement("time");
  when.dateTime = m.inserted_at;
  const at = new Date(m.inserted_at);
  when.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  when.title = at.toLocaleString();
  meta.append(who, when);
  const text = document.createElement("div");
  text.className = "text";
  text.append(...linked(m.body));
  li.append(meta, text);
  return li;
}

// linked is body as text, its http and https URLs as links: built node by
// node, never as HTML, and no other scheme (javascript: above all) is
// ever a link.
function linked(body) {
  const out = [];
  let from = 0;
  for (const match of body.matchAll(/\bhttps?:\/\/[^\s<>"]+/gi)) {
    if (match.index < from) continue;
    // Punctuation that ends a sentence is not part of the URL.
    const url = match[0].replace(/[.,;:!?')\]]+$/, "");
    let href;
    try {
      href = new URL(url);
    } catch {
      continue;
    }
    if (href.protocol !== "http:" && href.protocol !== "https:") continue;
    out.push(body.slice(from, match.index));
    const a = document.createElement("a");
    a.href = href.href;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.textContent = url;
    out.push(a);
    from = match.index + url.length;
  }
  out.push(body.slice(from));
  return out;
}

// addDirect shows a direct message among the room's, marked as one.
function addDirect(who, body) {
  const li = addMessage({ id: "", user_id: who, body, inserted_at: new Date().toISOString() });
  li.classList.add("dm");
  li.classList.toggle("mine", who.startsWith("you "));
}

// The list of messages is decorated as it changes, whoever changed it:
// day separators, a sender's consecutive messages grouped under one name,
// the empty state, and the scroll. A reader at the bottom follows what
// comes; one who scrolled up stays where they are, and is told that new
// messages came.
const groupGap = 5 * 60 * 1000;
let follow = true;
let unseen = 0;

const watcher = new MutationObserver((changes) => {
  const list = $("messages");
  const added = changes.flatMap((c) => [...c.addedNodes]).filter((n) => n.classList?.contains("msg")).length;
  watcher.disconnect();
  decorate(list);
  watcher.observe(list, { childList: true });
  renderEmpty();
  if (follow) {
    list.scrollTop = list.scrollHeight;
  } else if (added > 0) {
    unseen += added;
    $("jump").textContent = `${unseen} new ${unseen === 1 ? "message" : "messages"} ↓`;
    $("jump").hidden = false;
  }
});
watcher.observe($("messages"), { childList: true });

$("messages").addEventListener("scroll", () => {
  const list = $("messages");
  // Within a line of the bottom is at the bottom.
  follow = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
  if (follow) seenAll();
});
$("jump").addEventListener("click", () => {
  follow = true;
  $("messages").scrollTop = $("messages").scrollHeight;
  seenAll();
});

function seenAll() {
  unseen = 0;
  $("jump").hidden = true;
}

// decorate changes only what must change, as the list is read aloud
// (aria-live) and a separator put back would be read again.
function decorate(list) {
  let prev = null;
  let day = null;
  for (const li of [...list.children]) {
    if (li.classList.contains("day")) {
      // Kept where it still begins a day.
      const next = li.nextElementSibling;
      const at = next && !next.classList.contains("day") ? itemTime(next) : null;
      if (at && at.toDateString() !== day) {
        day = at.toDateString();
        prev = null;
        const name = dayName(at);
        if (li.textContent !== name) li.textContent = name;
      } else {
        li.remove();
      }
      continue;
    }
    const at = itemTime(li);
    const d = at.toDateString();
    if (d !== day) {
      day = d;
      prev = null;
      const sep = document.createElement("li");
      sep.className = "day";
      sep.setAttribute("role", "separator");
      sep.textContent = dayName(at);
      list.insertBefore(sep, li);
    }
    if (!li.classList.contains("msg")) {
      prev = null;
      continue;
    }
    const cont = prev !== null && !li.classList.contains("dm") && !prev.li.classList.contains("dm") &&
      prev.li.dataset.user === li.dataset.user && at - prev.at < groupGap;
    li.classList.toggle("cont", cont);
    prev = { li, at };
  }
}

// itemTime is when a message was sent, or when a notice of the page's
// own was shown.
function itemTime(li) {
  return new Date(li.dataset.at ?? li.querySelector("time")?.dateTime);
}

function dayName(at) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (at.toDateString() === today.toDateString()) return "Today";
  if (at.toDateString() === yesterday.toDateString()) return "Yesterday";
  return at.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

function renderEmpty() {
  const empty = $("empty");
  if (!room) {
    empty.textContent = pending ? `Joining #${pending.name}…` : "Not in a room: open one from the list of rooms.";
    empty.hidden = false;
    return;
  }
  empty.textContent = `No messages in #${room.name} yet. Say hello!`;
  empty.hidden = $("messages").querySelector("li.msg, li.notice") !== null;
}

// The rooms this browser has been in, most recent first, so that going
// back to one is a click.
function rememberRoom(name) {
  const rooms = [name, ...keptRooms().filter((r) => r !== name)].slice(0, 12);
  try {
    localStorage.setItem(roomsKey, JSON.stringify(rooms));
  } catch {}
}

function keptRooms() {
  try {
    const rooms = JSON.parse(localStorage.getItem(roomsKey));
    return Array.isArray(rooms) ? rooms.filter((r) => typeof r === "string") : [];
  } catch {
    return [];
  }
}

function renderRooms() {
  const names = keptRooms();
  if (room && !names.includes(room.name)) names.unshift(room.name);
  const items = names.map((name) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#${encodeURIComponent(name)}`;
    a.textContent = `#${name}`;
    if (room?.name === name) a.setAttribute("aria-current", "page");
    li.append(a);
    return li;
  });
  $("rooms").replaceChildren(...items);
}

function showTyping(user) {
  clearTimeout(typingTimers.get(user));
  typingTimers.set(user, setTimeout(() => {
    typingTimers.delete(user);
    renderTyping();
  }, 3000));
  renderTyping();
}

function renderTyping() {
  const users = [...typingTimers.keys()];
  $("typing").textContent = users.length ? `${users.join(", ")} ${users.length > 1 ? "are" : "is"} typing…` : "";
}

// A member whose channel crashed and was restarted in place is untracked
// by the instance that crashed and tracked again by the fresh one a moment
// later: a leave is shown once it has lasted, so that the list does not
// blink someone away who never left.
const leaveGrace = 2000;
const leaving = new Map();

function renderOnline(presence) {
  const here = new Map(presence.list((id, { metas }) => [id, metas.length]));
  for (const li of $("online").children) {
    const id = li.dataset.user;
    if (here.has(id) || leaving.has(id)) continue;
    leaving.set(id, setTimeout(() => {
      leaving.delete(id);
      $("online").querySelector(`li[data-user="${CSS.escape(id)}"]`)?.remove();
    }, leaveGrace));
  }
  for (const id of here.keys()) {
    clearTimeout(leaving.get(id));
    leaving.delete(id);
  }
  const items = [...here.keys(), ...leaving.keys()].sort().map((id) => {
    const li = document.createElement("li");
    const n = here.get(id) ?? 1;
    li.textContent = n > 1 ? `${id} (${n})` : id;
    li.dataset.user = id;
    return li;
  });
  $("online").replaceChildren(...items);
  $("online-note").hidden = true;
}

function forgetOnline() {
  $("online").replaceChildren();
  leaving.forEach(clearTimeout);
  leaving.clear();
}

// In a cluster the page says which node it is on and how many are up;
// outside one it says nothing of clusters.
async function showCluster() {
  let v;
  try {
    const res = await fetch("/api/node");
    if (!res.ok) return;
    v = await res.json();
  } catch {
    return;
  }
  clustered = v.nodes > 1;
  $("node").textContent = `node ${v.node} · ${v.up} of ${v.nodes} nodes up`;
  $("node").hidden = !clustered;
}
let clustered = false;
// Nodes come and go while the page is open.
setInterval(() => socket?.isConnected() && clustered && showCluster(), 10_000);

// Last, once everything above is defined: a kept session comes back in
// its room without a log-in.
const kept = keptSession();
if (kept) connect(kept.user, kept.token);
