// /steer: the row follows the sliders. Requests are debounced, at most one is in flight, and when
// it returns only the latest settings are asked for next. Without JavaScript the form does the same.
"use strict";

(function () {
  const form = document.getElementById("steer-form");
  const row = document.getElementById("row");
  if (!form || !row) return;
  const names = ["slant", "weight", "width"];
  const status = { inFlight: false, pending: false, timer: null };

  function query() {
    const params = new URLSearchParams(new FormData(form));
    return params.toString();
  }

  function show(answer) {
    row.src = "data:image/png;base64," + answer.images[0];
    document.getElementById("download").href = answer.download;
    document.getElementById("permalink").href = answer.permalink;
    document.getElementById("new-hand").href = answer.new_hand;
    history.replaceState(null, "", answer.permalink);
  }

  async function send() {
    status.inFlight = true;
    status.pending = false;
    try {
      const response = await fetch("/api/v1/steer?" + query(), { headers: { Accept: "application/json" } });
      if (response.ok) show(await response.json());
    } catch (error) {
      // The page keeps its last row; the form still submits.
    } finally {
      status.inFlight = false;
      if (status.pending) send();
    }
  }

  function changed() {
    for (const name of names) {
      document.getElementById(name + "-value").textContent = document.getElementById(name).value;
    }
    clearTimeout(status.timer);
    status.timer = setTimeout(function () {
      if (status.inFlight) status.pending = true;
      else send();
    }, 80);
  }

  for (const name of names) document.getElementById(name).addEventListener("input", changed);
})();
