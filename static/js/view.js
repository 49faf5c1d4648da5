// Fetches the photo with a POST (spending one view) and shows it from a blob URL, so no
// reusable image URL ever exists. Without this script the form posts normally and the
// browser shows the raw image.
(function () {
  "use strict";
  // The texts come from the page language's catalogue (/jsi18n/<lang>.js); English if it
  // did not load.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
  };
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
    button.textContent = gettext("Opening…");
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
        say(error, explain(body, response.status));
        button.disabled = false;
        button.textContent = label;
        if (pin && response.status === 403) {
          pin.value = "";
          pin.focus();
        }
      });
    }).catch(function () {
      say(error, gettext("The connection failed. Check your network and try again."));
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
      say(after, gettext("This was the last view: the photo has now been deleted from the server, and reloading this page will not bring it back."));
    } else if (remaining === "unlimited") {
      say(viewsLeft, gettext("This photo can be viewed any number of times until its link expires."));
    } else {
      var n = parseInt(remaining, 10);
      say(viewsLeft, interpolate(ngettext(
        "This link can be opened %(count)s more time. Each view uses one.",
        "This link can be opened %(count)s more times. Each view uses one.", n), { count: n }, true));
    }
  }

  // The answer is JSON in English with a stable code (README, "Error codes"): say it in
  // the page's language. A code this script does not know keeps the server's words.
  function explain(body, status) {
    var gone = {
      viewed: gettext("This photo has been viewed as many times as the sender allowed, and it has been deleted."),
      expired: gettext("This link has expired and the photo has been deleted."),
      revoked: gettext("The sender deleted this photo."),
      pin: gettext("This photo was deleted after too many wrong PINs."),
      removed: gettext("This photo was removed by a moderator."),
      missing: gettext("This photo is no longer available.")
    };
    switch (body.code) {
      case "pin_wrong":
        return interpolate(ngettext(
          "Wrong PIN. %(count)s attempt left before the photo is deleted.",
          "Wrong PIN. %(count)s attempts left before the photo is deleted.", body.attempts_left),
          { count: body.attempts_left }, true);
      case "pin_required":
        return gettext("This photo needs its PIN: enter the PIN the sender gave you. Nothing was used or counted.");
      case "pin_invalid":
        return gettext("The PIN is 4 to 8 digits.");
      case "gone":
        return gone[body.reason] || gone.expired;
      case "suspended":
        return gettext("This photo has been reported and is under review, so it cannot be viewed for now. No view was used.");
      case "not_found":
        return gettext("There is no photo at this link. Check that you copied the whole link.");
      case "storage_unavailable":
        return gettext("The photo cannot be fetched from storage right now. No view was used: please try again in a minute.");
      case "rate_limited":
        var minutes = Math.ceil((body.retry_after || 60) / 60);
        if (body.limit === "pin_failures") {
          return interpolate(ngettext(
            "Too many wrong PINs from your address. Please wait %(count)s minute and try again.",
            "Too many wrong PINs from your address. Please wait %(count)s minutes and try again.", minutes),
            { count: minutes }, true);
        }
        return interpolate(ngettext(
          "Too many attempts from your address. Please wait %(count)s minute and try again.",
          "Too many attempts from your address. Please wait %(count)s minutes and try again.", minutes),
          { count: minutes }, true);
    }
    return body.error || gettext("The photo could not be shown.");
  }
})();
