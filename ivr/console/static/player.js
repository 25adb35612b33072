// The call page's player: "play from here" on a turn and a click on the waveform seek the
// recording; while a replay runs the page reloads until its result is in. Served from the
// console itself, as the Content-Security-Policy requires (no inline script).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const audio = document.getElementById("recording");
  if (audio) {
    for (const button of document.querySelectorAll("button.play-from")) {
      button.addEventListener("click", () => {
        audio.currentTime = Number(button.dataset.at);
        audio.play();
      });
    }
    const wave = document.querySelector("svg.waveform");
    if (wave) {
      wave.addEventListener("click", (event) => {
        const box = wave.getBoundingClientRect();
        if (audio.duration && box.width) {
          audio.currentTime = ((event.clientX - box.left) / box.width) * audio.duration;
        }
      });
    }
  }
  if (document.querySelector(".replay.running")) {
    setTimeout(() => window.location.reload(), 3000);
  }
});
