// The talk page's audio line, on the audio thread. Microphone in: averaged down to the call's
// rate (a box filter against aliasing) and posted as 20 ms frames of 16-bit little-endian PCM.
// Bot audio out: frames posted in are queued, interpolated up to the context's rate and played
// once a little is buffered, so network jitter does not break the sound; "clear" (the caller
// barged in) drops what is queued. Loaded by talk.js with audioWorklet.addModule.
"use strict";

const PREBUFFER_S = 0.08; // queued before playing starts (and again after running dry)
const MAX_QUEUE_S = 0.5; // beyond this the oldest audio is dropped: latency must not creep

class TalkLine extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.rate = options.processorOptions.rate;
    // capture
    this.step = sampleRate / this.rate; // input samples per output sample
    this.phase = 0;
    this.sum = 0;
    this.count = 0;
    this.frame = new Int16Array(this.rate / 50);
    this.filled = 0;
    // playback
    this.queue = [];
    this.offset = 0; // next sample in queue[0]
    this.queued = 0;
    this.playing = false;
    this.previous = 0;
    this.current = 0;
    this.fraction = 1;
    this.port.onmessage = (event) => {
      if (event.data === "clear") {
        this.clear();
      } else {
        this.enqueue(new Int16Array(event.data));
      }
    };
  }

  process(inputs, outputs) {
    const microphone = inputs[0][0];
    if (microphone) {
      this.capture(microphone);
    }
    this.play(outputs[0][0]);
    return true;
  }

  capture(samples) {
    for (const sample of samples) {
      this.sum += sample;
      this.count += 1;
      this.phase += 1;
      if (this.phase >= this.step) {
        this.phase -= this.step;
        const level = Math.max(-1, Math.min(1, this.sum / this.count));
        this.frame[this.filled++] = Math.round(level * 32767);
        this.sum = 0;
        this.count = 0;
        if (this.filled === this.frame.length) {
          this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
          this.frame = new Int16Array(this.rate / 50);
          this.filled = 0;
        }
      }
    }
  }

  enqueue(samples) {
    this.queue.push(samples);
    this.queued += samples.length;
    while (this.queued - this.offset > MAX_QUEUE_S * this.rate && this.queue.length > 1) {
      this.queued -= this.queue.shift().length;
      this.offset = 0;
    }
  }

  clear() {
    this.queue = [];
    this.offset = 0;
    this.queued = 0;
    this.playing = false;
  }

  next() {
    while (this.queue.length && this.offset >= this.queue[0].length) {
      this.queued -= this.queue.shift().length;
      this.offset = 0;
    }
    if (!this.queue.length) {
      this.playing = false; // ran dry: buffer again before going on
      return 0;
    }
    return this.queue[0][this.offset++];
  }

  play(output) {
    if (!this.playing && this.queued - this.offset >= PREBUFFER_S * this.rate) {
      this.playing = true;
    }
    const ratio = this.rate / sampleRate;
    for (let i = 0; i < output.length; i++) {
      if (!this.playing) {
        output[i] = 0;
        continue;
      }
      while (this.fraction >= 1) {
        this.previous = this.current;
        this.current = this.next();
        this.fraction -= 1;
      }
      output[i] = (this.previous + (this.current - this.previous) * this.fraction) / 32768;
      this.fraction += ratio;
    }
  }
}

registerProcessor("talk-line", TalkLine);
