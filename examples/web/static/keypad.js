// The dial pad during a call. Local provider: each key plays an RTP telephone-event on every
// connection of the call (RTCDTMFSender), and the server is told the digits so the other side
// can show them (browsers do not report received telephone-events to pages). Twilio: the
// client's sendDigits (see client.js). Digits from others arrive as "dtmf" signals.

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

export class Keypad {
  constructor({ root, send }) {
    this.send = send; // async (digit) => void: plays and reports one digit
    this.sent = "";
    this.from = new Map(); // who -> the digits they pressed during this call
    this.root = root;
    const grid = document.createElement("div");
    grid.className = "keys";
    for (const key of KEYS) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = key;
      button.dataset.digit = key;
      button.setAttribute("aria-label", `Key ${key}`);
      button.addEventListener("click", () => this.press(key));
      grid.append(button);
    }
    this.sentBox = document.createElement("output");
    this.sentBox.id = "digits-sent";
    this.sentBox.setAttribute("aria-label", "Digits you sent");
    this.receivedBox = document.createElement("p");
    this.receivedBox.id = "digits-received";
    this.receivedBox.setAttribute("aria-live", "polite");
    const title = document.createElement("h3");
    title.textContent = "Keypad";
    root.replaceChildren(title, grid, this.sentBox, this.receivedBox);
  }

  async press(key) {
    this.sent += key;
    this.sentBox.textContent = this.sent;
    await this.send(key);
  }

  received({ identity, digits }) {
    const who = (identity || "").replace(/^client:/, "");
    this.from.set(who, (this.from.get(who) || "") + digits);
    this.receivedBox.textContent = [...this.from].map(([name, keys]) => `${name} pressed: ${keys}`).join("; ");
  }

  reset() {
    this.sent = "";
    this.from.clear();
    this.sentBox.textContent = "";
    this.receivedBox.textContent = "";
  }
}

// Play digits as RTP telephone-events on every connection of a Media (local provider).
export function playDtmf(media, digits) {
  let played = 0;
  for (const { pc } of media.peers.values()) {
    for (const sender of pc.getSenders()) {
      if (sender.dtmf && sender.dtmf.canInsertDTMF) {
        if (!sender.dtmf.ontonechange) {
          sender.dtmf.ontonechange = ({ tone }) => {
            if (tone) media.tonesSent = (media.tonesSent || "") + tone;
          };
        }
        // insertDTMF replaces what is still queued: keep quick presses in order.
        sender.dtmf.insertDTMF(sender.dtmf.toneBuffer + digits, 100, 70);
        played += 1;
      }
    }
  }
  return played;
}
