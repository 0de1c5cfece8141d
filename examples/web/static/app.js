// The softphone: state comes from the server (GET /api/calls, the event stream); this page only
// renders it, rings, and carries the media of the legs this device holds.

import { Api } from "./api.js";
import { Media } from "./media.js";
import { Ringtone } from "./ringtone.js";
import { Conference } from "./conference.js";
import { Keypad } from "./keypad.js";
import { createClient, LocalClient } from "./client.js";

const $ = (id) => document.getElementById(id);
const api = new Api();
let device = deviceId();
let media = null; // made once the device id is settled (see claimDevice)
let conference = null; // the room panel (conference.js)
let keypad = null; // the dial pad (keypad.js)
let client = null; // the call media: LocalClient or TwilioClient (client.js)
const ringtone = new Ringtone();
const state = {
  me: null,
  room: null, // the live room shown in the call panel (the server's view)
  invites: new Map(), // leg id -> invite: calls ringing on this device
  heldLeg: null, // the leg whose media this device carries
  failures: new Map(), // conference id -> command-failed event
  known: new Set(), // conference ids this page showed or rang for: their end is explained
  connectedSince: null,
  clockSkew: 0, // our clock minus the server's, in seconds
  endedEarly: new Map(), // conference id -> its conference-ended event (the last few)
  source: null,
  streamToken: null, // names our event stream, for the unload notice
};
window.talkbox = { state, ringtone };

function deviceId() {
  // Per tab (sessionStorage): a reload keeps the id, so the server gives the call back to it.
  let id = sessionStorage.getItem("talkbox-device");
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = "dev-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem("talkbox-device", id);
  }
  return id;
}

// A duplicated tab inherits sessionStorage, and so this tab's device id; two tabs holding one
// device id would take the stream from each other. Ask the other tabs first.
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("talkbox-devices") : null;
if (tabs) {
  tabs.onmessage = ({ data }) => {
    if (data.type === "who-has" && data.device === device) tabs.postMessage({ type: "mine", device });
  };
}

function claimDevice() {
  return new Promise((resolve) => {
    if (!tabs) return resolve();
    const taken = ({ data }) => {
      if (data.type === "mine" && data.device === device) {
        sessionStorage.removeItem("talkbox-device");
        device = deviceId();
      }
    };
    tabs.addEventListener("message", taken);
    tabs.postMessage({ type: "who-has", device });
    setTimeout(() => {
      tabs.removeEventListener("message", taken);
      resolve();
    }, 60);
  });
}

const user = (endpoint) => (endpoint || "").replace(/^client:/, "");

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text || "";
  box.className = kind === "info" ? "info" : "";
  box.hidden = !text;
}

function fail(err) {
  say(err && err.message ? err.message : String(err));
}

// -- session -----------------------------------------------------------------------------------
async function start() {
  await claimDevice();
  media = new Media(api, device, $("audio"));
  media.onchange = () => render();
  conference = new Conference({ api, root: $("conference"), say });
  keypad = new Keypad({ root: $("keypad"), send: sendDigit });
  client = new LocalClient({ api, media, device });
  Object.assign(window.talkbox, { media, device, conference, keypad, client });
  try {
    loggedIn(await api.get("/me"));
  } catch (err) {
    if (err.status === 401) showLogin();
    else fail(err);
  }
}

function showLogin() {
  $("login").hidden = false;
  $("phone").hidden = true;
  $("whoami").hidden = true;
  $("login-name").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  try {
    const name = $("login-name").value.trim();
    const result = await api.post("/login", { name, password: $("login-password").value });
    $("login-password").value = "";
    loggedIn({ user: result.user, csrf_token: result.csrf_token });
  } catch (err) {
    fail(err);
  }
});

$("logout").addEventListener("click", async () => {
  if (state.room && state.room.call_id) await api.post(`/calls/${state.room.call_id}/hangup`).catch(() => {});
  media.closeAll();
  if (state.source) state.source.close();
  await api.post("/logout").catch(() => {});
  location.reload();
});

function loggedIn(me) {
  state.me = me.user;
  api.csrf = me.csrf_token;
  $("me").textContent = me.user;
  $("login").hidden = true;
  $("phone").hidden = false;
  $("whoami").hidden = false;
  connect();
  useProvider();
  refreshUsers();
  refreshCalls();
  refreshHistory();
}

// With the Twilio provider the media goes through @twilio/voice-sdk: swap the client and
// register it; calls ringing on the SDK join the same invites as the local provider's.
async function useProvider() {
  const { provider } = await api.get("/me").catch(() => ({ provider: "local" }));
  if (provider === client.kind) return;
  try {
    client = await createClient(provider, { api, media, device });
    window.talkbox.client = client;
    client.onincoming = (invite) => {
      state.invites.set(invite.leg, invite);
      render();
    };
    client.oncancel = (invite) => {
      state.invites.delete(invite.leg);
      render();
    };
    client.onerror = (message) => say(message);
    await client.register();
  } catch (err) {
    fail(err);
  }
}

// -- the event stream --------------------------------------------------------------------------
function connect() {
  const source = new EventSource(`/api/stream?device=${encodeURIComponent(device)}`);
  state.source = source;
  source.addEventListener("call", (event) => onCallEvent(JSON.parse(event.data)));
  source.addEventListener("signal", (event) => onSignal(JSON.parse(event.data)).catch(fail));
  source.addEventListener("presence", () => refreshUsers());
  source.addEventListener("open", () => refreshCalls());
  source.onerror = () => {
    // EventSource reconnects by itself (with Last-Event-ID) unless the server refused it.
    if (source.readyState === EventSource.CLOSED) {
      say("Lost the connection to the server. Reload the page to reconnect.");
    }
  };
}

let refreshing = null;
function scheduleRefresh() {
  clearTimeout(refreshing);
  refreshing = setTimeout(refreshCalls, 30);
}

function onCallEvent(event) {
  if (event.type === "command-failed") {
    state.failures.set(event.conference_id, event);
    // In a room that goes on (adding someone failed, say), say so; an ending room says why.
    if (state.room && state.room.conference_id === event.conference_id) say(event.message);
  }
  if (event.type === "conference-ended") {
    // A call can end before the request that placed it has answered (a number that cannot be
    // reached fails at once): dial() looks here when its answer comes.
    state.endedEarly.set(event.conference_id, event);
    if (state.endedEarly.size > 20) state.endedEarly.delete(state.endedEarly.keys().next().value);
    const shown = state.room && state.room.conference_id === event.conference_id;
    if (shown || state.known.has(event.conference_id)) ended(event);
    state.known.delete(event.conference_id);
    for (const [leg, invite] of state.invites) {
      if (invite.conference_id === event.conference_id) state.invites.delete(leg);
    }
    refreshHistory();
  }
  scheduleRefresh();
}

function ended(event) {
  const mine = user(event.owner) === state.me;
  const who = user(event.party) || "The other side";
  const failure = state.failures.get(event.conference_id);
  let text;
  if (mine) {
    text = {
      completed: "Call ended.",
      rejected: `${who} declined the call.`,
      "no-answer": `${who} did not answer.`,
      busy: `${who} is busy.`,
      canceled: "Call canceled.",
      "invalid-number": `${who} cannot be reached.`,
      failed:
        failure && failure.code === "offline"
          ? `${who} is offline.`
          : `The call to ${who} failed${failure ? ": " + failure.message : "."}`,
    }[event.reason];
  } else {
    text = {
      completed: "Call ended.",
      rejected: "You declined the call.",
      canceled: `Missed call from ${user(event.owner)}.`,
      "no-answer": `Missed call from ${user(event.owner)}.`,
    }[event.reason];
  }
  const calm = ["completed", "canceled"].includes(event.reason) || !mine;
  say(text || "Call ended.", calm ? "info" : "error");
}

async function onSignal(message) {
  if (await media.onSignal(message)) return;
  switch (message.type) {
    case "hello":
      state.streamToken = message.stream;
      break;
    case "invite":
      state.invites.set(message.leg, message);
      state.known.add(message.conference_id);
      api.post(`/calls/${message.call_id}/ringing`, { device }).catch(() => {});
      render();
      $("accept").focus();
      break;
    case "stop-ringing":
      state.invites.delete(message.leg);
      render();
      break;
    case "hangup":
      media.closeAll();
      state.heldLeg = null;
      scheduleRefresh();
      break;
    case "dtmf":
      keypad.received(message);
      break;
    case "resume":
      // The stream came back (a reload, or the server restarted): the call is still ours.
      // Media flows browser to browser, so connections that survived are kept; the others
      // are renegotiated, by one side only (the reloaded page, or else the lower leg id).
      state.heldLeg = message.leg;
      media.setMuted(message.muted);
      media.setHeld(Boolean(message.on_hold));
      for (const peer of message.peers) if (peer.on_hold) media.setPeerHeld(peer.leg, true);
      try {
        await media.reconnect(message.leg, message.peers);
      } catch (err) {
        fail(err);
      }
      scheduleRefresh();
      break;
    case "replaced":
      // This device id was taken over by another page: stop, or we would take it back.
      state.source.close();
      media.closeAll();
      say("This phone is now open in another tab. Reload to use it here.");
      break;
    case "reset":
      refreshCalls();
      refreshHistory();
      break;
  }
}

// -- commands ----------------------------------------------------------------------------------
async function dial(to) {
  say("");
  if (!to) return;
  if (state.room) {
    say("Hang up the current call first.");
    return;
  }
  try {
    const { view, leg } = await client.dial(to);
    const early = view && state.endedEarly.get(view.conference_id);
    if (early) {
      media.closeAll();
      ended(early);
      return;
    }
    state.heldLeg = leg || client.kind;
    if (view) {
      state.room = view;
      state.known.add(view.conference_id);
    }
    render();
    if (!view) scheduleRefresh();
    if (state.room) $("hangup").focus();
  } catch (err) {
    say(err.error === "offline" ? `${to} is offline.` : err.message);
  }
}

$("dial-form").addEventListener("submit", (event) => {
  event.preventDefault();
  dial($("dial-to").value.trim());
});

$("accept").addEventListener("click", async () => {
  const invite = state.invites.values().next().value;
  if (!invite) return;
  say("");
  try {
    const { leg } = await client.accept(invite);
    state.invites.delete(invite.leg);
    state.heldLeg = leg;
    render();
    scheduleRefresh();
    $("hangup").focus();
  } catch (err) {
    state.invites.delete(invite.leg);
    render();
    fail(err);
  }
});

$("reject").addEventListener("click", async () => {
  const invite = state.invites.values().next().value;
  if (!invite) return;
  state.invites.delete(invite.leg);
  render();
  await client.reject(invite).catch(fail);
});

$("hangup").addEventListener("click", async () => {
  if (!state.room || !state.room.call_id) return;
  await api.post(`/calls/${state.room.call_id}/hangup`).catch(fail);
});

$("mute").addEventListener("click", async () => {
  if (!state.room) return;
  const leg = myLeg(state.room);
  const muted = !(leg && leg.muted);
  await api
    .post(`/calls/${state.room.call_id}/mute`, { muted })
    .then(() => client.setMuted(muted))
    .catch(fail);
});

async function sendDigit(digit) {
  if (!state.room || !state.heldLeg) return;
  await client.sendDigits(state.room.call_id, digit).catch(fail);
}

// -- state from the server ---------------------------------------------------------------------
const myLeg = (room) => room.legs.find((leg) => leg.call_id === room.call_id);

async function refreshCalls() {
  let calls;
  try {
    const data = await api.get("/calls");
    calls = data.calls;
    state.clockSkew = Date.now() / 1000 - data.now;
  } catch (err) {
    if (err.status === 401) showLogin();
    return;
  }
  const room =
    calls.find((c) => {
      const mine = myLeg(c);
      return mine && (c.direction === "outgoing" || mine.joined);
    }) || null;
  if (!room && state.room) {
    media.closeAll();
    state.heldLeg = null;
  }
  state.room = room;
  if (room) state.known.add(room.conference_id);
  render();
}

async function refreshUsers() {
  const { users } = await api.get("/presence").catch(() => ({ users: [] }));
  const list = $("users");
  const names = $("user-names");
  list.replaceChildren();
  names.replaceChildren();
  for (const { name, online } of users) {
    if (name === state.me) continue;
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = online ? "online" : "offline";
    label.textContent = `${name} (${online ? "online" : "offline"})`;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Call";
    button.setAttribute("aria-label", `Call ${name}`);
    button.dataset.online = String(online);
    button.disabled = !online || Boolean(state.room);
    button.addEventListener("click", () => dial(name));
    item.append(label, button);
    list.append(item);
    const option = document.createElement("option");
    option.value = name;
    names.append(option);
  }
}

async function refreshHistory() {
  const { calls } = await api.get("/history?limit=20").catch(() => ({ calls: [] }));
  const list = $("history");
  list.replaceChildren();
  for (const call of calls) {
    const outgoing = user(call.owner) === state.me;
    const peer = call.parties.map(user).filter((p) => p !== state.me).join(", ");
    const when = new Date(call.created_at * 1000).toLocaleTimeString();
    const item = document.createElement("li");
    const length = call.duration ? `, ${formatDuration(call.duration)}` : "";
    item.textContent = `${outgoing ? "To" : "From"} ${peer}: ${call.reason}${length}, ${when}`;
    list.append(item);
  }
}

// -- rendering ---------------------------------------------------------------------------------
function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render() {
  const invite = state.invites.values().next().value;
  $("incoming").hidden = !invite || Boolean(state.room);
  if (invite) $("incoming-from").textContent = user(invite.from);
  if (invite && !state.room) ringtone.start();
  else ringtone.stop();

  const room = state.room;
  $("call").hidden = !room;
  conference.render(room, { me: state.me });
  $("keypad").hidden = !(room && myLeg(room) && myLeg(room).joined && state.heldLeg);
  if (!room) keypad.reset();
  $("dial").disabled = Boolean(room);
  for (const button of $("users").querySelectorAll("button")) {
    button.disabled = Boolean(room) || button.dataset.online !== "true";
  }
  if (!room) {
    state.connectedSince = null;
    $("timer").textContent = "0:00";
    return;
  }
  const mine = myLeg(room);
  const others = room.legs.filter((leg) => leg.call_id !== room.call_id && leg.status !== "canceled");
  $("call-peer").textContent = others.map((leg) => user(leg.endpoint)).join(", ");
  const joined = others.filter((leg) => leg.joined);
  let status;
  if (joined.length) {
    const since = Math.max(...joined.map((leg) => leg.answered_at || 0), mine.answered_at || 0);
    state.connectedSince = since;
    if (!state.heldLeg) status = "Connected on another device";
    else status = client.connected() ? "Connected" : "Connecting audio…";
  } else {
    state.connectedSince = null;
    status = others.some((leg) => leg.status === "ringing") ? "Ringing…" : "Calling…";
  }
  $("call-status").textContent = status;
  $("mute").setAttribute("aria-pressed", String(Boolean(mine && mine.muted)));
  $("mute").textContent = mine && mine.muted ? "Unmute" : "Mute";
  $("mute").disabled = !(mine && mine.joined && joined.length);
  tick();
}

function tick() {
  if (state.connectedSince) {
    const serverNow = Date.now() / 1000 - state.clockSkew;
    $("timer").textContent = formatDuration(serverNow - state.connectedSince);
  }
}

// Closing the tab ends its calls after the server's grace period; a reload is back before that.
window.addEventListener("pagehide", () => {
  if (!state.streamToken || !api.csrf) return;
  fetch(`/api/devices/${encodeURIComponent(device)}/away`, {
    method: "POST",
    keepalive: true,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": api.csrf },
    body: JSON.stringify({ stream: state.streamToken }),
  });
});

setInterval(tick, 1000);
start();
