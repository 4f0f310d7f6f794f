// The chat page: the official phoenix client, served by this server.
import { Socket, Presence } from "/assets/phoenix.mjs";

const $ = (id) => document.getElementById(id);
let socket = null;
let channel = null;
let me = null;
const typingTimers = new Map();

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const user = $("user").value.trim();
  const res = await fetch(`/api/token?user_id=${encodeURIComponent(user)}`);
  const body = await res.json();
  if (!res.ok) {
    $("error").textContent = body.error;
    return;
  }
  me = user;
  socket = new Socket("/socket", { params: { token: body.token } });
  socket.onOpen(() => setStatus(true));
  socket.onClose(() => setStatus(false));
  socket.connect();
  $("login").hidden = true;
  $("chat").hidden = false;
  joinRoom($("room").value.trim());
});

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  joinRoom($("room").value.trim());
});

$("send").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("body");
  if (!channel || !input.value) return;
  channel
    .push("new_msg", { body: input.value })
    .receive("error", (r) => ($("error").textContent = `not sent: ${r.reason}`));
  input.value = "";
});

let lastTyping = 0;
$("body").addEventListener("input", () => {
  const now = Date.now();
  if (channel && now - lastTyping > 1000) {
    lastTyping = now;
    channel.push("typing", {});
  }
});

function setStatus(online) {
  $("status").textContent = online ? `online as ${me}` : "offline";
  $("status").classList.toggle("online", online);
}

function joinRoom(name) {
  if (channel) channel.leave();
  $("messages").replaceChildren();
  $("online").replaceChildren();
  $("error").textContent = "";
  const topic = `room:${name}`;
  channel = socket.channel(topic, {});
  const presence = new Presence(channel);
  presence.onSync(() => renderOnline(presence));
  channel.on("history", ({ messages }) => {
    $("messages").replaceChildren();
    messages.forEach(addMessage);
  });
  channel.on("new_msg", addMessage);
  channel.on("user_typing", ({ user_id }) => showTyping(user_id));
  channel
    .join()
    .receive("ok", () => ($("joined").textContent = `in ${topic}`))
    .receive("error", (r) => ($("error").textContent = `cannot join ${topic}: ${r.reason}`));
}

function addMessage(m) {
  const li = document.createElement("li");
  li.dataset.id = m.id;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = m.user_id;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = m.body;
  const when = document.createElement("time");
  when.dateTime = m.inserted_at;
  when.textContent = new Date(m.inserted_at).toLocaleTimeString();
  li.append(who, text, when);
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
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

function renderOnline(presence) {
  const items = presence.list((id, { metas }) => {
    const li = document.createElement("li");
    li.textContent = metas.length > 1 ? `${id} (${metas.length})` : id;
    li.dataset.user = id;
    return li;
  });
  $("online").replaceChildren(...items);
}
