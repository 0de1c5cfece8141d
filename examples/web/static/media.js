// WebRTC for one device: a peer connection per other leg in the room (a mesh), signalled through
// the server. Whoever joins a room offers to those already in it; an offer for a leg we already
// talk to replaces that connection (the other side reloaded or renegotiates).

const LOOPBACK_PAGE = ["127.0.0.1", "localhost", "[::1]", "::1"].includes(location.hostname);

function isLoopbackCandidate(candidate) {
  // Field 5 of an ICE candidate line is its address.
  const address = candidate.address || (candidate.candidate || "").split(" ")[4] || "";
  return address === "127.0.0.1" || address === "::1" || address.startsWith("127.");
}

function gathered(pc, held, ms = 50) {
  // Until the first ICE candidate is found (at most ms), so that a description goes out with
  // one: with no STUN or TURN server it is a host candidate, found in milliseconds, and a call
  // on a LAN then connects with no signalling round for candidates. The rest trickle after.
  if (held.length || pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icecandidate", found);
      resolve();
    };
    const found = () => {
      if (held.length || pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener("icecandidate", found);
  });
}

// The key of a caller's connection before the callee's leg is known: the call goes out with
// its offer, and the callee answers as it accepts (one signalling round less after "accept").
const EARLY = "early";

export class Media {
  constructor(api, device, audioParent) {
    this.api = api;
    this.device = device;
    this.audioParent = audioParent;
    this.peers = new Map(); // peer leg id -> {pc, audio, pending: [candidates]}
    this.stream = null;
    this.muted = false;
    this.myLeg = null;
    this.onchange = () => {};
    this.sending = Promise.resolve();
    this.held = false;
    this.heldPeers = new Set(); // peer legs on hold: we send them nothing
  }

  async microphone() {
    if (this.stream) return this.stream;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch (err) {
      const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
      throw new Error(
        denied
          ? "Microphone access was denied. Allow the microphone for this page to make calls."
          : `No microphone could be opened (${err && err.name}).`,
      );
    }
    this.setMuted(this.muted);
    return this.stream;
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.stream) for (const track of this.stream.getAudioTracks()) track.enabled = !muted;
  }

  setHeld(onHold) {
    // On hold: the room does not hear us and we do not hear the room. The server tells the
    // others too ("peer-hold"), and they stop sending to us: tracks stop both ways.
    this.held = onHold;
    for (const leg of this.peers.keys()) this.applyHold(leg);
  }

  setPeerHeld(peerLeg, onHold) {
    // Someone else in the room is on hold: stop sending them our microphone.
    if (onHold) this.heldPeers.add(peerLeg);
    else this.heldPeers.delete(peerLeg);
    this.applyHold(peerLeg);
  }

  applyHold(peerLeg) {
    const peer = this.peers.get(peerLeg);
    if (!peer || !this.stream) return;
    const silent = Boolean(this.held) || this.heldPeers.has(peerLeg);
    const track = silent ? null : this.stream.getAudioTracks()[0] || null;
    for (const sender of peer.pc.getSenders()) {
      if (sender.track !== track) sender.replaceTrack(track).catch(() => {});
    }
  }

  signal(message) {
    // One request at a time keeps an answer ahead of the candidates that follow it.
    const body = { device: this.device, ...message };
    this.sending = this.sending.then(() => this.api.post("/signal", body)).catch(() => {});
    return this.sending;
  }

  newPeer(peerLeg, { holdCandidates = false } = {}) {
    // holdCandidates: keep our ICE candidates until release() (the server relays them only
    // once both legs are connected: before the call exists, or before our accept is taken).
    this.close(peerLeg);
    const pc = new RTCPeerConnection({ iceServers: [] });
    const audio = document.createElement("audio");
    audio.autoplay = true;
    audio.dataset.leg = peerLeg;
    this.audioParent.append(audio);
    const peer = { pc, audio, pending: [], to: peerLeg, held: holdCandidates ? [] : null };
    this.peers.set(peerLeg, peer);
    for (const track of this.stream.getAudioTracks()) pc.addTrack(track, this.stream);
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) return;
      if (LOOPBACK_PAGE && !isLoopbackCandidate(candidate)) return;
      if (peer.held) peer.held.push(candidate.toJSON());
      else this.signal({ type: "ice", leg: this.myLeg, to: peer.to, candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ streams }) => {
      audio.srcObject = streams[0];
    };
    pc.onconnectionstatechange = () => this.onchange();
    this.applyHold(peerLeg);
    return peer;
  }

  release(peerLeg) {
    // Send the ICE candidates held back (see newPeer).
    const peer = this.peers.get(peerLeg);
    if (!peer || !peer.held) return;
    const held = peer.held;
    peer.held = null;
    for (const candidate of held) {
      this.signal({ type: "ice", leg: this.myLeg, to: peer.to, candidate });
    }
  }

  async offerEarly() {
    // The caller, before the call exists: the offer goes out with it, with its candidates.
    await this.microphone();
    const peer = this.newPeer(EARLY, { holdCandidates: true });
    const offer = await peer.pc.createOffer();
    await peer.pc.setLocalDescription(offer);
    await gathered(peer.pc, peer.held);
    return { sdp: offer.sdp, candidates: peer.held.splice(0) };
  }

  async answerEarly(offer) {
    // The callee, as it accepts: answer the offer (and its candidates) the invite carried.
    // Our candidates wait until the accept is taken (release), when myLeg is ours.
    await this.microphone();
    const peer = this.newPeer(offer.from, { holdCandidates: true });
    await peer.pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    for (const candidate of offer.candidates || []) {
      await peer.pc.addIceCandidate(candidate).catch(() => {});
    }
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    await gathered(peer.pc, peer.held);
    return { sdp: answer.sdp, candidates: peer.held.splice(0) };
  }

  async connectTo(myLeg, peerLeg) {
    this.myLeg = myLeg;
    await this.microphone();
    const { pc } = this.newPeer(peerLeg);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await this.signal({ type: "offer", leg: myLeg, to: peerLeg, sdp: offer.sdp });
  }

  async onOffer({ leg, from, sdp }) {
    this.myLeg = leg;
    this.close(EARLY); // the callee did not answer our early offer: it offers instead
    await this.microphone();
    const peer = this.newPeer(from);
    await peer.pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    await this.flush(peer);
    await this.signal({ type: "answer", leg, to: from, sdp: answer.sdp });
  }

  async onAnswer({ from, sdp, candidates }) {
    let peer = this.peers.get(from);
    if (!peer && this.peers.has(EARLY)) {
      // The answer to the offer our call went out with: now we know whom it connects to.
      peer = this.peers.get(EARLY);
      this.peers.delete(EARLY);
      peer.to = from;
      peer.audio.dataset.leg = from;
      this.peers.set(from, peer);
      this.applyHold(from);
    }
    if (!peer || peer.pc.signalingState !== "have-local-offer") return;
    await peer.pc.setRemoteDescription({ type: "answer", sdp });
    for (const candidate of candidates || []) {
      await peer.pc.addIceCandidate(candidate).catch(() => {});
    }
    await this.flush(peer);
    this.release(from);
  }

  async onIce({ from, candidate }) {
    const peer = this.peers.get(from);
    if (!peer) return;
    if (!peer.pc.remoteDescription) peer.pending.push(candidate);
    else await peer.pc.addIceCandidate(candidate).catch(() => {});
  }

  async flush(peer) {
    for (const candidate of peer.pending.splice(0)) {
      await peer.pc.addIceCandidate(candidate).catch(() => {});
    }
  }

  close(peerLeg) {
    const peer = this.peers.get(peerLeg);
    if (!peer) return;
    peer.pc.close();
    peer.audio.srcObject = null;
    peer.audio.remove();
    this.peers.delete(peerLeg);
    this.heldPeers.delete(peerLeg);
    this.onchange();
  }

  closeAll() {
    for (const leg of [...this.peers.keys()]) this.close(leg);
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.myLeg = null;
    this.held = false;
  }

  async onSignal(message) {
    // The signals every page handles alike (media between legs, flags the server set);
    // whether it was one of them.
    switch (message.type) {
      case "offer":
        await this.onOffer(message);
        return true;
      case "answer":
        await this.onAnswer(message);
        return true;
      case "ice":
        await this.onIce(message);
        return true;
      case "peer-left":
        this.close(message.from);
        return true;
      case "mute":
        this.setMuted(message.muted);
        return true;
      case "hold":
        this.setHeld(message.on_hold);
        return true;
      case "peer-hold":
        this.setPeerHeld(message.from, message.on_hold);
        return true;
      default:
        return false;
    }
  }

  async reconnect(myLeg, peers) {
    // After a resume: offer to the peers whose connection did not survive (see shouldOffer).
    for (const peer of peers) {
      if (this.shouldOffer(myLeg, peer.leg)) await this.connectTo(myLeg, peer.leg);
    }
  }

  shouldOffer(myLeg, peerLeg) {
    // After a resume: keep a connection that still carries media; with none (this page was
    // reloaded) we offer; with a broken one both sides resume, and the lower leg id offers.
    const peer = this.peers.get(peerLeg);
    if (!peer) return true;
    const { connectionState, signalingState } = peer.pc;
    if (connectionState === "connected") return false;
    if (connectionState === "connecting" && signalingState === "stable") return false;
    return myLeg < peerLeg; // the other side waits for our offer (it replaces its connection)
  }

  connected() {
    return [...this.peers.values()].some(({ pc }) => pc.connectionState === "connected");
  }

  // For tests and diagnostics: what each connection receives.
  async inbound() {
    const out = [];
    for (const [leg, { pc }] of this.peers) {
      const stats = await pc.getStats();
      stats.forEach((report) => {
        if (report.type === "inbound-rtp" && report.kind === "audio") {
          out.push({
            leg,
            state: pc.connectionState,
            bytesReceived: report.bytesReceived || 0,
            totalAudioEnergy: report.totalAudioEnergy || 0,
            audioLevel: report.audioLevel || 0,
          });
        }
      });
    }
    return out;
  }
}
