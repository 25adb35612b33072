// The Prompts page's "Hear it": the text being edited is sent (with the form's CSRF token) and
// the WAV that comes back plays under the form, so a designer hears a change before saving it.
// Without this script the button still works: the browser opens the WAV. Served from the
// console itself, as the Content-Security-Policy requires (no inline script).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("form.prompt-text-form button.hear")) {
    button.addEventListener("click", async (event) => {
      event.preventDefault();
      const form = button.form;
      const player = form.querySelector("audio.hear-it");
      button.disabled = true;
      try {
        const answer = await fetch(button.formAction, {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          credentials: "same-origin",
        });
        if (!answer.ok) {
          throw new Error(`the console answered ${answer.status}`);
        }
        if (player.src) {
          URL.revokeObjectURL(player.src);
        }
        player.src = URL.createObjectURL(await answer.blob());
        player.hidden = false;
        await player.play();
      } catch (error) {
        button.title = `Could not hear it: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
  }
});
