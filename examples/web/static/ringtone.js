// A ringtone made with Web Audio (no sound file to ship): 440+480 Hz, 2 s on, 4 s off.

export class Ringtone {
  constructor() {
    this.context = null;
    this.nodes = null;
    this.ringing = false;
  }

  start() {
    if (this.ringing) return;
    this.ringing = true;
    try {
      this.context = this.context || new AudioContext();
      const gain = this.context.createGain();
      gain.gain.value = 0;
      gain.connect(this.context.destination);
      const tones = [440, 480].map((frequency) => {
        const oscillator = this.context.createOscillator();
        oscillator.frequency.value = frequency;
        oscillator.connect(gain);
        oscillator.start();
        return oscillator;
      });
      const now = this.context.currentTime;
      for (let cycle = 0; cycle < 20; cycle++) {
        gain.gain.setValueAtTime(0.1, now + cycle * 6);
        gain.gain.setValueAtTime(0, now + cycle * 6 + 2);
      }
      this.nodes = { gain, tones };
    } catch (err) {
      // No audio output (or autoplay refused): the incoming panel still shows the call.
      this.nodes = null;
    }
  }

  stop() {
    if (!this.ringing) return;
    this.ringing = false;
    if (this.nodes) {
      for (const tone of this.nodes.tones) tone.stop();
      this.nodes.gain.disconnect();
      this.nodes = null;
    }
  }
}
