// WebRTC for one device: a peer connection per other leg in the room (a mesh), signalled through
// the server. Whoever joins a room offers to those already in it; an offer for a leg we already
// talk to replaces that connection (the other side reloaded or renegotiates).

const LOOPBACK_PAGE = ["127.0.0.1", "localhost", "[::1]", "::1"].includes(location.hostname);

function isLoopbackCandidate(candidate) {
  // Field 5 of an ICE candidate line is its address.
  const address = candidate.address || (candidate.candidate || "").split(" ")[4] || "";
  return address === "127.0.0.1" || address === "::1" || address.startsWith("127.");
}

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

  newPeer(peerLeg) {
    this.close(peerLeg);
    const pc = new RTCPeerConnection({ iceServers: [] });
    const audio = document.createElement("audio");
    audio.autoplay = true;
    audio.dataset.leg = peerLeg;
    this.audioParent.append(audio);
    const peer = { pc, audio, pending: [] };
    this.peers.set(peerLeg, peer);
    for (const track of this.stream.getAudioTracks()) pc.addTrack(track, this.stream);
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) return;
      if (LOOPBACK_PAGE && !isLoopbackCandidate(candidate)) return;
      this.signal({ type: "ice", leg: this.myLeg, to: peerLeg, candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ streams }) => {
      audio.srcObject = streams[0];
    };
    pc.onconnectionstatechange = () => this.onchange();
    this.applyHold(peerLeg);
    return peer;
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
    await this.microphone();
    const peer = this.newPeer(from);
    await peer.pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    await this.flush(peer);
    await this.signal({ type: "answer", leg, to: from, sdp: answer.sdp });
  }

  async onAnswer({ from, sdp }) {
    const peer = this.peers.get(from);
    if (!peer || peer.pc.signalingState !== "have-local-offer") return;
    await peer.pc.setRemoteDescription({ type: "answer", sdp });
    await this.flush(peer);
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

  shouldOffer(myLeg, peerLeg) {
    // After a resume: keep a connection that still carries media; with none (this page was
    // reloaded) we offer; with a broken one both sides resume, and the lower leg id offers.
    const peer = this.peers.get(peerLeg);
    if (!peer) return true;
    if (["connected", "connecting", "new"].includes(peer.pc.connectionState)) return false;
    return myLeg < peerLeg;
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
