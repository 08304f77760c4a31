// The drawing pad of /draw: pointer events (mouse, pen, touch) on a canvas. On submit, a drawing
// becomes the form's image file and the form posts as it does without JavaScript. The drawing is
// kept in this tab's sessionStorage (never on the server), so the answer's page shows it again on
// the pad: one more stroke, not a new drawing.
"use strict";

(function () {
  const form = document.getElementById("draw-form");
  const pad = document.getElementById("pad");
  if (!form || !pad) return;
  const canvas = document.getElementById("canvas");
  const pen = document.getElementById("pen");
  const file = document.getElementById("image");
  const ctx = canvas.getContext("2d");
  const KEPT = "draw-pad";
  let drawn = false;
  let last = null;

  function clear() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawn = false;
  }

  function forget() {
    clear();
    sessionStorage.removeItem(KEPT);
  }

  function restore() {
    const kept = sessionStorage.getItem(KEPT);
    if (!kept) return;
    const image = new Image();
    image.addEventListener("load", () => { ctx.drawImage(image, 0, 0); drawn = true; });
    image.src = kept;
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width,
            (event.clientY - box.top) * canvas.height / box.height];
  }

  function stroke(to) {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = Number(pen.value);
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
    last = to;
    drawn = true;
  }

  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    stroke(last);  // a tap is a dot
  });
  canvas.addEventListener("pointermove", (event) => { if (last) stroke(point(event)); });
  for (const name of ["pointerup", "pointercancel"]) canvas.addEventListener(name, () => { last = null; });
  document.getElementById("clear").addEventListener("click", forget);
  file.addEventListener("change", () => { if (file.files.length) forget(); });  // a chosen photo replaces the pad

  form.addEventListener("submit", (event) => {
    if (!drawn) return;  // no drawing: the chosen file, if any, goes as it is
    event.preventDefault();
    sessionStorage.setItem(KEPT, canvas.toDataURL("image/png"));
    canvas.toBlob((blob) => {
      const files = new DataTransfer();
      files.items.add(new File([blob], "drawing.png", { type: "image/png" }));
      file.files = files.files;
      form.submit();
    }, "image/png");
  });

  clear();
  restore();
  pad.hidden = false;
  document.getElementById("image-label").textContent = "Or a photo or scan of one digit";
})();
