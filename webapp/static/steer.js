// /steer: the row follows the sliders. Requests are debounced, at most one is in flight, and when
// it returns only the latest settings are asked for next. Each request is the shown row (its text,
// hand and model, from its own address) with the sliders' values; other fields wait for "Write it".
// Without JavaScript the form does the same.
"use strict";

(function () {
  const form = document.getElementById("steer-form");
  const row = document.getElementById("row");
  if (!form || !row) return;
  const names = ["slant", "weight", "width"];
  const state = { inFlight: false, pending: false, timer: null };

  function query() {
    const shown = new URL(document.getElementById("permalink").href).searchParams;
    const params = new URLSearchParams();
    for (const key of ["text", "seed", "model"]) params.set(key, shown.get(key));
    for (const name of names) params.set(name, document.getElementById(name).value);
    return params.toString();
  }

  function show(answer) {
    row.src = "data:image/png;base64," + answer.images[0];
    row.width = answer.width;
    row.height = answer.height;
    document.getElementById("download").href = answer.download;
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
    state.timer = setTimeout(function () {
      if (state.inFlight) state.pending = true;
      else send();
    }, 80);
  }

  for (const name of names) document.getElementById(name).addEventListener("input", changed);
})();
