// The room panel of a call: who is in it and in what state, adding people, the owner's
// controls (mute, hold, remove anyone), and transfers. The server's room view is the truth;
// this module only renders it and sends commands (their outcome arrives as events).

const user = (endpoint) => (endpoint || "").replace(/^client:/, "");
const LIVE = new Set(["queued", "initiated", "ringing", "in-progress"]);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// What a person in the room is doing, in the words the panel shows.
export function legState(leg) {
  if (leg.joined) {
    if (leg.on_hold) return "on hold";
    if (leg.muted) return "muted";
    return "connected";
  }
  if (leg.status === "ringing") return "ringing";
  if (LIVE.has(leg.status)) return "calling";
  return "left";
}

export class Conference {
  constructor({ api, root, say }) {
    this.api = api;
    this.say = say;
    this.room = null;
    this.root = root;
    this.list = el("ul", { id: "participants", ariaLabel: "People in this call" });
    this.addTo = el("input", { id: "add-to", name: "to", autocomplete: "off", required: true });
    this.addTo.setAttribute("list", "user-names");
    this.addTo.placeholder = "user name or number";
    const addForm = el(
      "form",
      { id: "add-form" },
      el("label", { htmlFor: "add-to", textContent: "Add someone" }),
      this.addTo,
      el("button", { type: "submit", id: "add", textContent: "Add" }),
    );
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add(this.addTo.value.trim());
    });
    this.transferTo = el("input", { id: "transfer-to", autocomplete: "off" });
    this.transferTo.setAttribute("list", "user-names");
    this.transferTo.placeholder = "user name or number";
    this.cold = el("button", { type: "button", id: "transfer-cold", textContent: "Transfer" });
    this.warm = el("button", { type: "button", id: "transfer-warm", textContent: "Consult first" });
    this.complete = el("button", { type: "button", id: "transfer-complete", textContent: "Complete transfer" });
    this.cancel = el("button", { type: "button", id: "transfer-cancel", textContent: "Cancel transfer" });
    this.cold.addEventListener("click", () => this.transfer(false));
    this.warm.addEventListener("click", () => this.transfer(true));
    this.complete.addEventListener("click", () => this.command(`${this.roomPath()}/transfer/complete`));
    this.cancel.addEventListener("click", () => this.command(`${this.roomPath()}/transfer/cancel`));
    this.transferBox = el(
      "div",
      { id: "transfer" },
      el("label", { htmlFor: "transfer-to", textContent: "Transfer to" }),
      this.transferTo,
      this.cold,
      this.warm,
      this.complete,
      this.cancel,
    );
    root.replaceChildren(el("h3", { textContent: "People in this call" }), this.list, addForm, this.transferBox);
  }

  mine() {
    return this.room && this.room.legs.find((leg) => leg.call_id === this.room.call_id);
  }

  roomPath() {
    return `/rooms/${this.room.conference_id}`;
  }

  async run(path, body) {
    this.say("");
    try {
      return await this.api.post(path, body);
    } catch (err) {
      this.say(err.message);
      return null;
    }
  }

  async add(to) {
    if (!to || !this.room) return;
    if (await this.run(`${this.roomPath()}/participants`, { to })) this.addTo.value = "";
  }

  async transfer(warm) {
    const to = this.transferTo.value.trim();
    if (!to || !this.room) return;
    if (await this.run(`/calls/${this.room.call_id}/transfer`, { to, warm })) this.transferTo.value = "";
  }

  command(path, body) {
    if (this.room) this.run(path, body);
  }

  render(room, { me }) {
    this.room = room;
    this.root.hidden = !room;
    if (!room) return;
    const mine = this.mine();
    const owner = user(room.owner) === me || room.owner === me;
    const connected = Boolean(mine && mine.joined);
    this.list.replaceChildren();
    for (const leg of room.legs) {
      const state = legState(leg);
      if (state === "left") continue;
      const self = leg.call_id === room.call_id;
      const item = el("li", {}, el("span", { className: "who", textContent: user(leg.endpoint) + (self ? " (you)" : "") }), " ");
      item.dataset.who = user(leg.endpoint);
      item.dataset.state = state;
      item.append(el("span", { className: "state", textContent: state }));
      if (owner && !self && leg.joined) {
        const target = `${this.roomPath()}/participants/${leg.call_id}`;
        const label = user(leg.endpoint);
        const mute = el("button", { type: "button", className: "mute", textContent: leg.muted ? "Unmute" : "Mute" });
        mute.setAttribute("aria-label", `${leg.muted ? "Unmute" : "Mute"} ${label}`);
        mute.addEventListener("click", () => this.command(`${target}/mute`, { muted: !leg.muted }));
        const hold = el("button", { type: "button", className: "hold", textContent: leg.on_hold ? "Resume" : "Hold" });
        hold.setAttribute("aria-label", `${leg.on_hold ? "Resume" : "Hold"} ${label}`);
        hold.addEventListener("click", () => this.command(`${target}/hold`, { on_hold: !leg.on_hold }));
        item.append(" ", mute, " ", hold);
      }
      if (owner && !self) {
        const remove = el("button", { type: "button", className: "remove bad", textContent: "Remove" });
        remove.setAttribute("aria-label", `Remove ${user(leg.endpoint)}`);
        remove.addEventListener("click", () => this.command(`${this.roomPath()}/participants/${leg.call_id}/remove`));
        item.append(" ", remove);
      }
      this.list.append(item);
    }
    const transferring = room.transfer && mine && room.transfer.by_call_id === mine.call_id;
    // Adding works at any time in the room; one transfer at a time.
    this.addTo.disabled = this.root.querySelector("#add").disabled = !connected;
    for (const node of [this.transferTo, this.cold, this.warm]) node.disabled = !connected || Boolean(room.transfer);
    this.complete.hidden = !transferring;
    this.cancel.hidden = !transferring;
  }
}
