// The one small interface the softphone's UI talks to for a call's media, mirroring the
// provider port on the server: a LocalClient (WebRTC between browsers, signalled through the
// talkbox event stream) and a TwilioClient (@twilio/voice-sdk). Room operations (add, hold,
// remove, transfer) are the same for both: server API calls, see conference.js.
//
//   register()                  be reachable (local: the event stream does it; Twilio: Device)
//   dial(to) -> {view, leg}     place a call from this browser
//   accept(invite) -> {leg}     answer a call ringing here; reject(invite)
//   setMuted(muted)             the microphone (the server's mute is the truth for the room)
//   sendDigits(callId, digits)  DTMF
//   connected()                 whether media flows
//   onincoming(invite), oncancel(invite), onerror(message): set by the page

import { playDtmf } from "./keypad.js";

export class LocalClient {
  constructor({ api, media, device }) {
    this.kind = "local";
    this.api = api;
    this.media = media;
    this.device = device;
    this.onincoming = () => {};
    this.oncancel = () => {};
    this.onerror = () => {};
  }

  async register() {} // the page's event stream registers the device

  async dial(to) {
    try {
      // The call goes out with our media offer; the callee answers it as it accepts.
      const { sdp, candidates } = await this.media.offerEarly();
      const view = await this.api.post("/calls", {
        to,
        device: this.device,
        offer: sdp,
        candidates,
      });
      this.media.myLeg = view.leg;
      return { view, leg: view.leg };
    } catch (err) {
      this.media.closeAll();
      throw err;
    }
  }

  async accept(invite) {
    let answer = {};
    if (invite.offer) {
      const { sdp, candidates } = await this.media.answerEarly(invite.offer);
      answer = { answer: sdp, candidates };
    } else {
      await this.media.microphone();
    }
    let view;
    try {
      view = await this.api.post(`/calls/${invite.call_id}/accept`, {
        device: this.device,
        ...answer,
      });
    } catch (err) {
      if (invite.offer) this.media.close(invite.offer.from);
      throw err;
    }
    this.media.myLeg = view.leg;
    this.media.setHeld(Boolean(view.on_hold));
    for (const peer of view.peers) if (peer.on_hold) this.media.setPeerHeld(peer.leg, true);
    if (invite.offer && view.answered === invite.offer.from) {
      this.media.release(invite.offer.from); // our answer went to the caller: send our candidates
    } else if (invite.offer) {
      this.media.close(invite.offer.from); // the caller's page no longer holds that offer
    }
    for (const peer of view.peers) {
      if (!this.media.peers.has(peer.leg)) await this.media.connectTo(view.leg, peer.leg);
    }
    return { leg: view.leg };
  }

  reject(invite) {
    return this.api.post(`/calls/${invite.call_id}/reject`, { device: this.device });
  }

  setMuted() {} // the server tells the device holding the leg ("mute" signal)

  async sendDigits(callId, digits) {
    playDtmf(this.media, digits);
    await this.api.post(`/calls/${callId}/digits`, { digits, device: this.device });
  }

  connected() {
    return this.media.connected();
  }
}

// Where the page loads the Voice SDK from: the server serves it from examples/web/node_modules
// (installed by 'npm ci' in examples/web), never from a CDN.
export const TWILIO_SDK = "/vendor/twilio-voice-sdk.js";

export function loadTwilioSdk(src = TWILIO_SDK) {
  if (window.Twilio && window.Twilio.Device) return Promise.resolve(window.Twilio);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = () =>
      window.Twilio && window.Twilio.Device ? resolve(window.Twilio) : reject(new Error("the Twilio Voice SDK did not load"));
    script.onerror = () =>
      reject(new Error("The Twilio Voice SDK is not installed on the server: run 'npm ci' in examples/web."));
    document.head.append(script);
  });
}

export class TwilioClient {
  constructor({ api, Device }) {
    this.kind = "twilio";
    this.api = api;
    this.Device = Device;
    this.device = null;
    this.call = null;
    this.identity = null;
    this.tokenFetches = 0;
    this.state = "new"; // new, registering, registered, failed
    this.onincoming = () => {};
    this.oncancel = () => {};
    this.onerror = () => {};
  }

  async token() {
    const data = await this.api.get("/voice-token");
    this.tokenFetches += 1;
    this.identity = data.identity;
    return data.token;
  }

  async register() {
    const device = new this.Device(await this.token(), { closeProtection: true, codecPreferences: ["opus", "pcmu"] });
    this.device = device;
    device.on("incoming", (call) => {
      const invite = {
        leg: call.parameters.CallSid,
        call_id: null,
        from: call.parameters.From,
        conference_id: null,
        twilio: call,
      };
      call.on("cancel", () => this.oncancel(invite));
      call.on("disconnect", () => this.ended(call));
      this.onincoming(invite);
    });
    // Twilio warns before the access token expires (3 minutes by default): fetch a new one.
    device.on("tokenWillExpire", async () => {
      try {
        device.updateToken(await this.token());
      } catch (err) {
        this.onerror(`Could not renew the Twilio token: ${err.message}`);
      }
    });
    device.on("error", (err) => {
      this.state = this.state === "registered" ? "registered" : "failed";
      this.onerror(`Twilio: ${(err && err.message) || err}`);
    });
    device.on("registered", () => (this.state = "registered"));
    this.state = "registering";
    await device.register();
  }

  ended(call) {
    if (this.call === call) this.call = null;
  }

  async dial(to) {
    const call = await this.device.connect({ params: { To: to } });
    this.call = call;
    call.on("disconnect", () => this.ended(call));
    return { view: null, leg: null };
  }

  async accept(invite) {
    invite.twilio.accept();
    this.call = invite.twilio;
    return { leg: invite.leg };
  }

  async reject(invite) {
    invite.twilio.reject();
  }

  setMuted(muted) {
    if (this.call) this.call.mute(muted);
  }

  async sendDigits(_callId, digits) {
    if (this.call) this.call.sendDigits(digits);
  }

  connected() {
    return Boolean(this.call && this.call.status() === "open");
  }
}

// The client for the provider the server runs (GET /api/me says which).
export async function createClient(provider, { api, media, device }) {
  if (provider === "twilio") {
    const Twilio = await loadTwilioSdk();
    return new TwilioClient({ api, Device: Twilio.Device });
  }
  return new LocalClient({ api, media, device });
}
