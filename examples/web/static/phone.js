// A simulated telephone (local provider only): this page registers a number for the logged-in
// session and then acts as that number, so "a telephone calls the softphone" and "the
// softphone calls a telephone" work offline. Every API request names the number (?phone=),
// which the server accepts only for numbers this session registered.

import { Api } from "./api.js";
import { Keypad, playDtmf } from "./keypad.js";
import { Media } from "./media.js";
import { Ringtone } from "./ringtone.js";

const $ = (id) => document.getElementById(id);

class PhoneApi extends Api {
  request(method, path, body) {
    if (this.number) path += `${path.includes("?") ? "&" : "?"}phone=${encodeURIComponent(this.number)}`;
    return super.request(method, path, body);
  }
}

const api = new PhoneApi();
const ringtone = new Ringtone();
const device = (() => {
  let id = sessionStorage.getItem("talkbox-phone-device");
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = "tel-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem("talkbox-phone-device", id);
  }
  return id;
})();
const media = new Media(api, device, $("audio"));
const state = { number: null, invite: null, room: null, source: null };
const keypad = new Keypad({
  root: $("keypad"),
  send: async (digit) => {
    if (!state.room) return;
    playDtmf(media, digit);
    await api.post(`/calls/${state.room.call_id}/digits`, { digits: digit, device }).catch(fail);
  },
});
window.talkbox = { api, media, state, device, ringtone, keypad };
media.onchange = () => render();

const name = (endpoint) => (endpoint || "").replace(/^client:/, "");

function say(text, kind = "error") {
  $("message").textContent = text || "";
  $("message").className = kind === "info" ? "info" : "";
  $("message").hidden = !text;
}
const fail = (err) => say(err && err.message ? err.message : String(err));

async function start() {
  try {
    const me = await api.get("/me");
    api.csrf = me.csrf_token;
  } catch (err) {
    if (err.status === 401) $("phone-login").hidden = false;
    else fail(err);
    return;
  }
  $("phone-setup").hidden = false;
  $("phone-number").focus();
}

$("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  try {
    const { number } = await api.post("/phones", { number: $("phone-number").value.trim() });
    state.number = api.number = number;
    $("phone-registered").textContent = number;
    $("phone-setup").hidden = true;
    $("handset").hidden = false;
    connect();
  } catch (err) {
    fail(err);
  }
});

function connect() {
  if (state.source) state.source.close();
  const query = `device=${encodeURIComponent(device)}&phone=${encodeURIComponent(state.number)}`;
  const source = new EventSource(`/api/stream?${query}`);
  state.source = source;
  source.addEventListener("signal", (event) => onSignal(JSON.parse(event.data)).catch(fail));
  source.addEventListener("call", (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "conference-ended" && state.room && state.room.conference_id === data.conference_id) {
      say("Call ended.", "info");
    }
    refresh();
  });
  source.addEventListener("open", () => refresh());
}

async function onSignal(message) {
  if (!(await media.onSignal(message))) await onPhoneSignal(message);
  render();
}

async function onPhoneSignal(message) {
  switch (message.type) {
    case "invite":
      state.invite = message;
      api.post(`/calls/${message.call_id}/ringing`, { device }).catch(() => {});
      break;
    case "stop-ringing":
      if (state.invite && state.invite.leg === message.leg) state.invite = null;
      break;
    case "hangup":
      media.closeAll();
      refresh();
      break;
    case "dtmf":
      keypad.received(message);
      break;
    case "resume":
      // As in app.js: connections that survived (a server restart) are kept.
      media.myLeg = message.leg;
      await media.reconnect(message.leg, message.peers);
      break;
  }
}

async function refresh() {
  const { calls } = await api.get("/calls").catch(() => ({ calls: [] }));
  const mine = (room) => room.legs.find((leg) => leg.call_id === room.call_id);
  const room = calls.find((c) => mine(c) && (c.direction === "outgoing" || mine(c).joined)) || null;
  if (!room && state.room) {
    media.closeAll();
    keypad.reset();
  }
  state.room = room;
  render();
}

$("phone-dial-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  const to = $("phone-to").value.trim();
  if (!to || state.room) return;
  try {
    await media.microphone();
    const view = await api.post("/calls", { to, device });
    media.myLeg = view.leg;
    state.room = view;
    render();
  } catch (err) {
    media.closeAll();
    fail(err);
  }
});

$("phone-accept").addEventListener("click", async () => {
  const invite = state.invite;
  if (!invite) return;
  say("");
  try {
    await media.microphone();
    const answer = await api.post(`/calls/${invite.call_id}/accept`, { device });
    state.invite = null;
    media.myLeg = answer.leg;
    for (const peer of answer.peers) await media.connectTo(answer.leg, peer.leg);
    refresh();
  } catch (err) {
    state.invite = null;
    fail(err);
  }
  render();
});

$("phone-reject").addEventListener("click", async () => {
  const invite = state.invite;
  state.invite = null;
  render();
  if (invite) await api.post(`/calls/${invite.call_id}/reject`, { device }).catch(fail);
});

$("phone-hangup").addEventListener("click", async () => {
  if (state.room) await api.post(`/calls/${state.room.call_id}/hangup`).catch(fail);
});

function render() {
  const ringing = Boolean(state.invite) && !state.room;
  $("phone-incoming").hidden = !ringing;
  if (state.invite) $("phone-incoming-from").textContent = name(state.invite.from);
  if (ringing) ringtone.start();
  else ringtone.stop();
  const room = state.room;
  $("phone-call").hidden = !room;
  $("phone-call-button").disabled = Boolean(room);
  if (!room) return;
  const others = room.legs.filter((leg) => leg.call_id !== room.call_id && leg.status !== "canceled");
  $("phone-peer").textContent = others.map((leg) => name(leg.endpoint)).join(", ");
  const joined = others.some((leg) => leg.joined);
  $("phone-status").textContent = joined
    ? media.connected()
      ? "Connected"
      : "Connecting audio…"
    : others.some((leg) => leg.status === "ringing")
      ? "Ringing…"
      : "Calling…";
}

start();
