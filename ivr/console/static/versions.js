// The Versions page while the draft is tested: every two seconds the test's progress is read
// from /console/versions/test.json and each step's status, note and output are updated; when
// the test is done the page reloads to show its report. Served from the console itself, as the
// Content-Security-Policy requires (no inline script).
"use strict";

const PROGRESS = "/console/versions/test.json";
const EVERY_MS = 2000;

function showStep(step) {
  const section = document.querySelector(`section.draft-step[data-step="${step.name}"]`);
  if (!section) {
    return;
  }
  section.className = `draft-step ${step.status}`;
  section.querySelector(".status").textContent = step.status;
  section.querySelector(".step-note").textContent = step.note;
  const output = section.querySelector("pre.output");
  const lines = step.live ? [...step.lines, step.live] : step.lines;
  output.textContent = lines.join("\n");
  if (step.status === "running") {
    section.querySelector("details").open = true;
    output.scrollTop = output.scrollHeight;
  }
}

async function follow(started) {
  try {
    const response = await fetch(PROGRESS, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const progress = await response.json();
      const test = progress.test;
      if (!progress.running || !test || String(test.started_at) !== started) {
        window.location.reload();
        return;
      }
      test.steps.forEach(showStep);
    }
  } catch (error) {
    // The server may be restarting: try again at the next tick.
  }
  setTimeout(() => follow(started), EVERY_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  const running = document.querySelector("section.draft-test.running");
  if (running) {
    setTimeout(() => follow(running.dataset.started), EVERY_MS);
  }
});
