// Fetches the photo with a POST (spending one view) and shows it from a blob URL, so no
// reusable image URL ever exists. Without this script the form posts normally and the
// browser shows the raw image.
(function () {
  "use strict";
  var form = document.getElementById("view-form");
  if (!form || !window.fetch || !window.URL) return;
  var viewer = document.getElementById("viewer");
  var error = document.getElementById("view-error");
  var figure = document.getElementById("photo");
  var img = document.getElementById("photo-img");
  var after = document.getElementById("after-view");
  var viewsLeft = document.getElementById("views-left");
  var button = document.getElementById("view-button") || form.querySelector("button");
  var pin = document.getElementById("id_pin");
  var protectedPhoto = viewer.getAttribute("data-protected") === "true";

  // "Prevent download" discourages saving; it cannot stop a screenshot or a determined
  // person, and the page says so. No context menu (also Android's long press), no drag,
  // no selection, no Ctrl+S / Ctrl+P; iOS's long-press menu is off through CSS.
  if (protectedPhoto) {
    ["contextmenu", "dragstart", "selectstart", "copy"].forEach(function (type) {
      figure.addEventListener(type, function (event) { event.preventDefault(); });
    });
    img.setAttribute("draggable", "false");
    document.addEventListener("keydown", function (event) {
      var key = (event.key || "").toLowerCase();
      if ((event.ctrlKey || event.metaKey) && (key === "s" || key === "p")) event.preventDefault();
    });
  }

  function say(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var label = button.textContent;
    button.disabled = true;
    button.textContent = "Opening…";
    say(error, "");
    fetch(window.location.pathname, {
      method: "POST",
      body: new FormData(form),
      headers: { "Accept": "application/json" },
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      if (response.ok) {
        var remaining = response.headers.get("Seen-Views-Remaining");
        return response.blob().then(function (blob) { show(blob, remaining); });
      }
      return response.json().then(function (body) {
        if (response.status === 410) {
          form.hidden = true;
          say(viewsLeft, "");
          var note = document.getElementById("open-note");
          if (note) note.hidden = true;
        }
        say(error, body.error || "The photo could not be shown.");
        button.disabled = false;
        button.textContent = label;
        if (pin && response.status === 403) {
          pin.value = "";
          pin.focus();
        }
      });
    }).catch(function () {
      say(error, "The connection failed. Check your network and try again.");
      button.disabled = false;
      button.textContent = label;
    });
  });

  function show(blob, remaining) {
    var url = URL.createObjectURL(blob);
    if (protectedPhoto) {
      // Once drawn, the blob URL is dropped: "open image in new tab" finds nothing.
      img.addEventListener("load", function () { URL.revokeObjectURL(url); }, { once: true });
    }
    img.src = url;
    figure.hidden = false;
    form.hidden = true;
    var openNote = document.getElementById("open-note");
    if (openNote) openNote.hidden = true;
    if (remaining === "0") {
      say(viewsLeft, "");
      say(after, "This was the last view: the photo has now been deleted from the server, and reloading this page will not bring it back.");
    } else if (remaining === "unlimited") {
      say(viewsLeft, "This photo can be viewed any number of times until its link expires.");
    } else {
      var n = parseInt(remaining, 10);
      say(viewsLeft, "This link can be opened " + n + " more " + (n === 1 ? "time" : "times") + ". Each view uses one.");
    }
  }
})();
