// /steer: the row follows the form. Requests are debounced, at most one is in flight, and when it
// returns only the latest settings are asked for next. Each request is the whole form as it is now:
// the number and model shown in it, the shown row's hand (its seed) and the sliders.
// Without JavaScript the form does the same.
"use strict";

(function () {
  const form = document.getElementById("steer-form");
  const row = document.getElementById("row");
  if (!form || !row) return;
  const names = ["slant", "weight", "width"];
  const state = { inFlight: false, pending: false, timer: null, text: document.getElementById("shown-text").textContent };

  function query() {
    return new URLSearchParams(new FormData(form)).toString();
  }

  function show(answer) {
    row.src = "data:image/png;base64," + answer.images[0];
    row.width = answer.width * Number(row.getAttribute("height")) / answer.height;  // the same height, its own width
    row.alt = row.alt.replace(state.text, answer.text);
    document.title = document.title.replace(state.text, answer.text);
    document.getElementById("shown-text").textContent = state.text = answer.text;
    document.getElementById("shown-model").textContent = answer.model.toUpperCase();
    document.getElementById("download").href = answer.download;
    for (const link of document.querySelectorAll("#download-sizes a")) {
      const address = new URL(answer.download, location.href);
      address.searchParams.set("scale", link.dataset.scale);
      link.href = address.pathname + address.search;
    }
    document.getElementById("permalink").href = answer.permalink;
    document.getElementById("new-hand").href = answer.new_hand;
    history.replaceState(null, "", answer.permalink);
  }

  async function send() {
    state.inFlight = true;
    state.pending = false;
    try {
      const response = await fetch(form.dataset.api + "?" + query(), { headers: { Accept: "application/json" } });
      if (response.ok && !state.pending) show(await response.json());  // a newer setting is on its way
    } catch (error) {
      // The page keeps its last row; "Write it" still submits the form.
    } finally {
      state.inFlight = false;
      if (state.pending) send();
    }
  }

  function changed() {
    for (const name of names) {
      document.getElementById(name + "-value").textContent = document.getElementById(name).value;
    }
    clearTimeout(state.timer);
    if (!form.checkValidity()) return;  // a number being typed: the row waits for a valid one
    state.timer = setTimeout(function () {
      if (state.inFlight) state.pending = true;
      else send();
    }, 80);
  }

  form.addEventListener("input", changed);
})();
