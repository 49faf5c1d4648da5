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
  var protectedPhoto = viewer.getAttribute("data-protected") === "true";

  if (protectedPhoto) {
    ["contextmenu", "dragstart", "selectstart"].forEach(function (type) {
      figure.addEventListener(type, function (event) { event.preventDefault(); });
    });
    img.setAttribute("draggable", "false");
  }

  function say(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
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
        }
        say(error, body.error || "The photo could not be shown.");
        button.disabled = false;
      });
    }).catch(function () {
      say(error, "The connection failed. Check your network and try again.");
      button.disabled = false;
    });
  });

  function show(blob, remaining) {
    img.src = URL.createObjectURL(blob);
    figure.hidden = false;
    form.hidden = true;
    if (remaining === "0") {
      say(viewsLeft, "");
      say(after, "This was the last view: the photo has now been deleted from the server, and reloading this page will not bring it back.");
    } else if (remaining === "unlimited") {
      say(viewsLeft, "This photo can be viewed any number of times until it expires.");
    } else {
      var n = parseInt(remaining, 10);
      say(viewsLeft, "This link can be opened " + n + " more " + (n === 1 ? "time" : "times") + ".");
    }
  }
})();
