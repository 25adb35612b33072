// The talk page: a call to the bot from the microphone, and a text chat with it.
// The call: a one-time ticket from the console (a form POST with the CSRF token), then a
// WebSocket on the same origin carrying 16-bit PCM both ways through the audio worklet
// (talk-worklet.js); "clear" from the bot (the caller barged in) drops queued bot audio.
// The call's turns are polled from /console/talk/call.json. Served by the console itself, as
// the Content-Security-Policy requires (no inline script).
"use strict";

const POLL_MS = 1000;

function csrfToken(form) {
  return form.querySelector('input[name="csrf_token"]').value;
}

async function postForm(url, fields) {
  const response = await fetch(url, {
    method: "POST",
    headers: { Accept: "application/json" },
    body: new URLSearchParams(fields),
  });
  const answer = await response.json();
  if (!response.ok) {
    throw new Error(answer.error || `${response.status}`);
  }
  return answer;
}

function turnItem(turn) {
  const item = document.createElement("li");
  const said = document.createElement("div");
  said.className = "said";
  said.textContent = turn.turn === 0 ? "(call answered)" : turn.transcript || `[${turn.input_kind}]`;
  if (turn.intent) {
    const intent = document.createElement("span");
    intent.className = "intent";
    const confidence = turn.intent_confidence == null ? "" : ` (${turn.intent_confidence.toFixed(2)})`;
    intent.textContent = turn.intent + confidence;
    said.append(intent);
  }
  const bot = document.createElement("div");
  bot.className = "bot";
  bot.textContent = `Bot: ${turn.bot_text}`;
  item.append(said, bot);
  return item;
}

class BrowserCall {
  constructor(root) {
    this.rate = Number(root.dataset.rate);
    this.form = document.getElementById("call-form");
    this.callButton = document.getElementById("call");
    this.hangUpButton = document.getElementById("hang-up");
    this.status = document.getElementById("call-status");
    this.turns = document.getElementById("turns");
    this.callId = document.getElementById("call-id");
    this.bargeIns = 0;
    this.callButton.addEventListener("click", () => this.dial().catch((error) => this.fail(error)));
    this.hangUpButton.addEventListener("click", () => this.hangUp());
    if (root.dataset.voice !== "on") {
      this.callButton.disabled = true;
      this.say("Calls from the browser are off on this server (no media streams).");
    }
  }

  say(text) {
    this.status.textContent = text;
  }

  fail(error) {
    this.say(`The call failed: ${error.message || error}`);
    this.stop();
  }

  async dial() {
    this.callButton.disabled = true;
    this.say("Opening the microphone…");
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule("/console/static/talk-worklet.js");
    this.microphone = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    const ticket = await postForm("/console/talk/ticket", { csrf_token: csrfToken(this.form) });
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(`${scheme}//${location.host}${ticket.url}`);
    this.socket.binaryType = "arraybuffer";
    this.line = new AudioWorkletNode(this.context, "talk-line", {
      outputChannelCount: [1],
      processorOptions: { rate: ticket.rate },
    });
    this.context.createMediaStreamSource(this.microphone).connect(this.line);
    this.line.connect(this.context.destination);
    this.socket.addEventListener("open", () => this.answered(ticket.rate));
    this.socket.addEventListener("message", (event) => this.heard(event.data));
    this.socket.addEventListener("close", (event) => this.closed(event));
  }

  answered(rate) {
    this.socket.send(JSON.stringify({ event: "start", rate }));
    this.line.port.onmessage = (event) => {
      if (this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(event.data);
      }
    };
    this.hangUpButton.disabled = false;
    this.say("In a call: speak to the bot.");
    this.turns.replaceChildren();
    this.poller = setInterval(() => this.poll(), POLL_MS);
  }

  heard(data) {
    if (typeof data !== "string") {
      this.line.port.postMessage(data, [data]);
      return;
    }
    const message = JSON.parse(data);
    if (message.event === "clear") {
      this.line.port.postMessage("clear");
      this.bargeIns += 1;
      this.say(`In a call: speak to the bot. (You interrupted it ${this.bargeIns}×.)`);
    } else if (message.event === "hangup") {
      this.say(`The bot ended the call (${message.reason}).`);
    }
  }

  hangUp() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ event: "stop" }));
      this.socket.close(1000, "caller hung up");
    }
    this.say("You hung up.");
  }

  closed(event) {
    if (!this.status.textContent.startsWith("The bot") && !this.status.textContent.startsWith("You")) {
      this.say(`The call ended${event.reason ? `: ${event.reason}` : "."}`);
    }
    this.stop();
    this.poll();
  }

  stop() {
    clearInterval(this.poller);
    if (this.microphone) {
      this.microphone.getTracks().forEach((track) => track.stop());
    }
    if (this.context) {
      this.context.close();
    }
    this.microphone = this.context = null;
    this.hangUpButton.disabled = true;
    this.callButton.disabled = false;
  }

  async poll() {
    const response = await fetch("/console/talk/call.json", { headers: { Accept: "application/json" } });
    if (!response.ok) {
      return;
    }
    const feed = await response.json();
    if (feed.call) {
      this.callId.textContent = `Call ${feed.call.call_id}: ${feed.call.outcome}`;
      this.turns.replaceChildren(...feed.turns.map(turnItem));
    }
  }
}

class TextChat {
  constructor() {
    this.form = document.getElementById("chat-form");
    this.input = document.getElementById("chat-text");
    this.log = document.getElementById("chat-log");
    this.status = document.getElementById("chat-status");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    document.getElementById("chat-end").addEventListener("click", () => this.end());
  }

  async send() {
    const text = this.input.value;
    this.input.value = "";
    this.status.textContent = "Waiting for the bot…";
    try {
      const answer = await postForm(this.form.action, { csrf_token: csrfToken(this.form), text });
      this.log.append(...answer.turns.map(turnItem));
      this.status.textContent =
        answer.outcome === "in_progress"
          ? `Chat ${answer.call_id}`
          : `Chat ${answer.call_id} ended: ${answer.outcome}. A new message starts another.`;
    } catch (error) {
      this.status.textContent = `Not sent: ${error.message}`;
    }
  }

  async end() {
    const answer = await postForm("/console/talk/text/end", { csrf_token: csrfToken(this.form) });
    this.status.textContent = answer.call_id ? `Chat ${answer.call_id} ended.` : "No chat to end.";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector(".talk");
  if (root) {
    new BrowserCall(root);
    new TextChat();
  }
});
