// The share page after "View photo(s)". The POST spends one view; no reusable image URL
// ever exists on the page:
// - one photo: the answer is the image bytes, shown from a blob URL;
// - an album: the answer is JSON with the note and each photo's one-time address, and each
//   photo is fetched once (GET, no credentials, no cache, no referrer) into a blob URL.
//   The addresses are not kept.
// Then a gallery (previous/next, arrow keys, swipe), any photo full screen with zoom
// (pinch, double-tap, wheel, + and −, drag to pan, Esc to leave), and, when the answer
// allows it, "I'm done, delete it now" with an in-page confirmation.
// Without this script the form posts normally: the browser shows the raw image, or the
// album page (templates/shares/album.html).
(function () {
  "use strict";
  // The texts come from the page language's catalogue (/jsi18n/<lang>.js); English if it
  // did not load.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
  };
  function fill(text, values) { return interpolate(text, values, true); }
  var form = document.getElementById("view-form");
  if (!form || !window.fetch || !window.URL) return;
  var viewer = document.getElementById("viewer");
  var error = document.getElementById("view-error");
  var gallery = document.getElementById("gallery");
  var figure = document.getElementById("photo");
  var img = document.getElementById("photo-img");
  var shield = figure.querySelector(".shield");
  var prevButton = document.getElementById("gallery-prev");
  var nextButton = document.getElementById("gallery-next");
  var counter = document.getElementById("gallery-counter");
  var fullButton = document.getElementById("gallery-full");
  var help = document.getElementById("gallery-help");
  var noteBox = document.getElementById("album-note");
  var noteText = document.getElementById("album-note-text");
  var after = document.getElementById("after-view");
  var viewsLeft = document.getElementById("views-left");
  var button = document.getElementById("view-button") || form.querySelector("button");
  var pin = document.getElementById("id_pin");
  var dialog = document.getElementById("fullscreen");
  var stage = document.getElementById("fs-stage");
  var fsCounter = document.getElementById("fs-counter");
  var fsPrev = document.getElementById("fs-prev");
  var fsNext = document.getElementById("fs-next");
  var endBox = document.getElementById("end-box");
  var endButton = document.getElementById("end-button");
  var endConfirm = document.getElementById("end-confirm");
  var endYes = document.getElementById("end-yes");
  var endNo = document.getElementById("end-no");
  var endStatus = document.getElementById("end-status");
  var protectedPhoto = viewer.getAttribute("data-protected") === "true";
  var rtl = document.documentElement.dir === "rtl";

  var shown = [];        // the photos' <img> elements, in order
  var blobUrls = [];     // kept only where saving is allowed, revoked on leaving
  var current = 0;
  var endUrl = null;
  var returnFocus = null;

  // "Prevent download" discourages saving; it cannot stop a screenshot or a determined
  // person, and the page says so. No context menu (also Android's long press), no drag,
  // no selection, no Ctrl+S / Ctrl+P; iOS's long-press menu is off through CSS. The same
  // on the full-screen view, where each photo moves while it is shown.
  if (protectedPhoto) {
    [figure, stage].forEach(function (element) {
      ["contextmenu", "dragstart", "selectstart", "copy"].forEach(function (type) {
        element.addEventListener(type, function (event) { event.preventDefault(); });
      });
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

  // What the page said before the view (the form, "opening used nothing", what happened
  // to the link before) is over once it is spent.
  function hideBeforeView() {
    form.hidden = true;
    ["open-note", "opened-before"].forEach(function (id) {
      var element = document.getElementById(id);
      if (element) element.hidden = true;
    });
  }

  function restoreButton(label) {
    button.disabled = false;
    button.textContent = label;
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
      var type = response.headers.get("Content-Type") || "";
      if (response.ok && type.indexOf("application/json") === 0) {
        return response.json().then(function (album) { return showAlbum(album, label); });
      }
      if (response.ok) {
        var remaining = response.headers.get("Seen-Views-Remaining");
        endUrl = response.headers.get("Seen-End-Url");
        return response.blob().then(function (blob) { showOne(blob, remaining); });
      }
      return response.json().then(function (body) {
        if (response.status === 410) {
          form.hidden = true;
          say(viewsLeft, "");
          var note = document.getElementById("open-note");
          if (note) note.hidden = true;
        }
        say(error, explain(body, response.status));
        restoreButton(label);
        if (pin && response.status === 403) {
          pin.value = "";
          pin.focus();
        }
      });
    }).catch(function () {
      say(error, gettext("The connection failed. Check your network and try again."));
      restoreButton(label);
    });
  });

  // --- one photo ---------------------------------------------------------------------------

  function showOne(blob, remaining) {
    var url = URL.createObjectURL(blob);
    keepOrDrop(img, url);
    img.src = url;
    shown = [img];
    hideBeforeView();
    showGallery();
    if (remaining === "0") {
      say(viewsLeft, "");
      say(after, gettext("This was the last view: the photo has now been deleted from the server, and reloading this page will not bring it back."));
    } else {
      saysViewsLeft(remaining === "unlimited" ? null : parseInt(remaining, 10), false);
    }
    offerEnd();
  }

  // Once drawn, a protected photo's blob URL is dropped: "open image in new tab" finds
  // nothing. Otherwise it stays (saving is allowed) until the page is left.
  function keepOrDrop(element, url) {
    if (protectedPhoto) {
      element.addEventListener("load", function () { URL.revokeObjectURL(url); }, { once: true });
    } else {
      blobUrls.push(url);
    }
  }
  window.addEventListener("pagehide", function () {
    blobUrls.forEach(function (url) { URL.revokeObjectURL(url); });
  });

  function saysViewsLeft(remaining, many) {
    if (remaining === null || isNaN(remaining)) {
      say(viewsLeft, many ? gettext("These photos can be viewed any number of times until their link expires.")
        : gettext("This photo can be viewed any number of times until its link expires."));
    } else {
      say(viewsLeft, fill(ngettext(
        "This link can be opened %(count)s more time. Each view uses one.",
        "This link can be opened %(count)s more times. Each view uses one.", remaining), { count: remaining }));
    }
  }

  // --- an album ----------------------------------------------------------------------------

  function showAlbum(album, label) {
    var photos = album.photos || [];
    var count = photos.length;
    // Each photo once, in parallel; its address is forgotten as soon as it is asked for.
    var fetched = photos.map(function (photo) {
      return fetch(photo.url, {
        method: "GET",
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer"
      }).then(function (response) {
        if (response.ok) return response.blob();
        return response.json().then(function (body) { throw new Error(explain(body, response.status)); },
          function () { throw new Error(gettext("The photo could not be shown.")); });
      });
    });
    return Promise.all(fetched.map(function (promise) {
      return promise.then(function (blob) { return { blob: blob }; }, function (problem) { return { problem: problem }; });
    })).then(function (results) {
      hideBeforeView();
      img.parentNode.removeChild(img);
      shown = [];
      var problems = [];
      results.forEach(function (result, index) {
        if (!result.blob) { problems.push(result.problem.message); return; }
        var photo = photos[index];
        var element = document.createElement("img");
        element.className = "gallery-img";
        if (photo.width && photo.height) {
          element.width = photo.width;
          element.height = photo.height;
        }
        if (protectedPhoto) element.setAttribute("draggable", "false");
        var url = URL.createObjectURL(result.blob);
        keepOrDrop(element, url);
        element.src = url;
        element.hidden = true;
        figure.insertBefore(element, shield);
        shown.push(element);
      });
      shown.forEach(function (element, index) {
        element.alt = fill(gettext("Photo %(position)s of %(count)s"), { position: index + 1, count: shown.length });
      });
      if (album.note) {
        // Plain text: textContent, with the line breaks kept by CSS (white-space: pre-wrap).
        noteText.textContent = album.note;
        noteBox.hidden = false;
      }
      if (shown.length) showGallery();
      say(error, problems.length ? problems[0] : "");
      var remaining = album.views_remaining;
      if (remaining === 0) {
        say(viewsLeft, "");
        say(after, gettext("This was the last view: the photos have now been deleted from the server, and reloading this page will not bring them back."));
      } else {
        saysViewsLeft(remaining === null || remaining === undefined ? null : remaining, count > 1);
      }
      endUrl = album.can_end ? album.end_url : null;
      offerEnd();
      if (!shown.length && !album.note) restoreButton(label);
    });
  }

  // --- the gallery -------------------------------------------------------------------------

  function showGallery() {
    var many = shown.length > 1;
    prevButton.hidden = nextButton.hidden = counter.hidden = help.hidden = !many;
    fsPrev.hidden = fsNext.hidden = !many;
    gallery.hidden = false;
    figure.hidden = false;
    go(0);
  }

  function go(index) {
    if (!shown.length) return;
    current = (index + shown.length) % shown.length;
    shown.forEach(function (element, i) { element.hidden = i !== current; });
    var text = fill(gettext("%(position)s of %(count)s"), { position: current + 1, count: shown.length });
    counter.textContent = shown.length > 1 ? text : "";
    fsCounter.textContent = shown.length > 1 ? text : "";
    if (dialog.open) {
      // The photo shown full screen is the photo itself, moved in and out (a protected
      // photo's blob URL is gone, so it cannot be loaded twice).
      Array.prototype.forEach.call(stage.querySelectorAll("img"), function (element) {
        element.hidden = true;
        figure.insertBefore(element, shield);
      });
      var element = shown[current];
      element.hidden = false;
      stage.appendChild(element);
      resetZoom();
    }
  }

  prevButton.addEventListener("click", function () { go(current - 1); });
  nextButton.addEventListener("click", function () { go(current + 1); });
  fsPrev.addEventListener("click", function () { go(current - 1); });
  fsNext.addEventListener("click", function () { go(current + 1); });
  fullButton.addEventListener("click", openFull);

  // A tap or click on the photo opens it full screen; a swipe changes photo.
  var swipe = null;
  var swiped = false;
  figure.addEventListener("pointerdown", function (event) {
    swipe = { x: event.clientX, y: event.clientY };
  });
  figure.addEventListener("pointerup", function (event) {
    if (!swipe) return;
    var dx = event.clientX - swipe.x;
    var dy = event.clientY - swipe.y;
    swipe = null;
    swiped = Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy) * 1.5;
    if (swiped && shown.length > 1) go(current + ((dx < 0) !== rtl ? 1 : -1));
  });
  figure.addEventListener("click", function () {
    if (swiped) { swiped = false; return; }
    if (shown.length) openFull();
  });

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  // Arrow keys change photo on the page and full screen (mirrored in right-to-left pages).
  document.addEventListener("keydown", function (event) {
    if (gallery.hidden || shown.length < 2 || typing(event.target)) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (dialog.open && scale > 1) return;  // the zoomed photo pans instead
    var forward = rtl ? "ArrowLeft" : "ArrowRight";
    var back = rtl ? "ArrowRight" : "ArrowLeft";
    if (event.key === forward) { go(current + 1); event.preventDefault(); }
    if (event.key === back) { go(current - 1); event.preventDefault(); }
  });

  // --- full screen, with zoom --------------------------------------------------------------

  var scale = 1;
  var offsetX = 0;
  var offsetY = 0;
  var MAX_SCALE = 6;

  function openFull() {
    if (dialog.open || !shown.length) return;
    returnFocus = document.activeElement;
    dialog.showModal();
    go(current);
    document.getElementById("fs-close").focus();
  }

  function closeFull() {
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener("close", function () {
    Array.prototype.forEach.call(stage.querySelectorAll("img"), function (element) {
      figure.insertBefore(element, shield);
      element.style.transform = "";
    });
    go(current);
    // Focus returns to where it was (the Full screen button, or the photo's control).
    var back = returnFocus && returnFocus !== document.body && document.contains(returnFocus) ? returnFocus : fullButton;
    back.focus();
  });
  document.getElementById("fs-close").addEventListener("click", closeFull);

  function photoInStage() { return stage.querySelector("img"); }

  // How far the zoomed photo may move before an edge comes inside the screen.
  function clampOffsets() {
    var element = photoInStage();
    if (!element) return;
    var spareX = Math.max(0, (element.offsetWidth * scale - stage.clientWidth) / 2);
    var spareY = Math.max(0, (element.offsetHeight * scale - stage.clientHeight) / 2);
    offsetX = Math.max(-spareX, Math.min(spareX, offsetX));
    offsetY = Math.max(-spareY, Math.min(spareY, offsetY));
  }

  function apply() {
    var element = photoInStage();
    clampOffsets();
    if (element) element.style.transform = "translate(" + offsetX + "px, " + offsetY + "px) scale(" + scale + ")";
    stage.setAttribute("data-zoom", scale.toFixed(2));
    stage.classList.toggle("zoomed", scale > 1);
    document.getElementById("fs-zoom-out").disabled = scale <= 1;
    document.getElementById("fs-zoom-in").disabled = scale >= MAX_SCALE;
  }

  function resetZoom() {
    scale = 1;
    offsetX = offsetY = 0;
    apply();
  }

  // Zoom to `next`, keeping the point (clientX, clientY) under the finger or pointer.
  function zoomTo(next, clientX, clientY) {
    next = Math.max(1, Math.min(MAX_SCALE, next));
    var box = stage.getBoundingClientRect();
    var px = (clientX === undefined ? box.left + box.width / 2 : clientX) - (box.left + box.width / 2);
    var py = (clientY === undefined ? box.top + box.height / 2 : clientY) - (box.top + box.height / 2);
    offsetX = px - (px - offsetX) * (next / scale);
    offsetY = py - (py - offsetY) * (next / scale);
    scale = next;
    if (scale === 1) offsetX = offsetY = 0;
    apply();
  }

  function toggleZoom(clientX, clientY) {
    if (scale > 1) resetZoom(); else zoomTo(2.5, clientX, clientY);
  }

  document.getElementById("fs-zoom-in").addEventListener("click", function () { zoomTo(scale * 1.5); });
  document.getElementById("fs-zoom-out").addEventListener("click", function () { zoomTo(scale / 1.5); });

  stage.addEventListener("wheel", function (event) {
    event.preventDefault();
    zoomTo(scale * (event.deltaY < 0 ? 1.2 : 1 / 1.2), event.clientX, event.clientY);
  }, { passive: false });

  dialog.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var key = event.key;
    if (key === "+" || key === "=") { zoomTo(scale * 1.5); event.preventDefault(); }
    else if (key === "-" || key === "_") { zoomTo(scale / 1.5); event.preventDefault(); }
    else if (key === "0") { resetZoom(); event.preventDefault(); }
    else if (scale > 1 && /^Arrow/.test(key)) {
      // Zoomed: the arrows move the photo.
      var step = 60;
      if (key === "ArrowLeft") offsetX += step;
      if (key === "ArrowRight") offsetX -= step;
      if (key === "ArrowUp") offsetY += step;
      if (key === "ArrowDown") offsetY -= step;
      apply();
      event.preventDefault();
    }
  });

  // Pointers: one drags a zoomed photo (or swipes to the next one when not zoomed), two
  // pinch; a double tap or double click zooms in and out.
  var pointers = {};
  var pinch = null;
  var drag = null;
  var lastTap = { time: 0, x: 0, y: 0 };
  var lastTouchZoom = 0;

  function pointerList() { return Object.keys(pointers).map(function (id) { return pointers[id]; }); }
  function distance(a, b) { return Math.hypot(a.x - b.x, a.y - b.y); }

  stage.addEventListener("pointerdown", function (event) {
    if (!photoInStage()) return;
    try { stage.setPointerCapture(event.pointerId); } catch (ignored) { /* a synthetic pointer */ }
    pointers[event.pointerId] = { x: event.clientX, y: event.clientY };
    stage.classList.add("pinching");  // no easing while a finger leads
    var list = pointerList();
    if (list.length === 2) {
      pinch = { distance: distance(list[0], list[1]) || 1, scale: scale };
      drag = null;
    } else if (list.length === 1) {
      drag = { x: event.clientX, y: event.clientY, startX: event.clientX, startY: event.clientY, moved: false };
    }
  });

  stage.addEventListener("pointermove", function (event) {
    if (!pointers[event.pointerId]) return;
    pointers[event.pointerId] = { x: event.clientX, y: event.clientY };
    var list = pointerList();
    if (pinch && list.length === 2) {
      var middle = { x: (list[0].x + list[1].x) / 2, y: (list[0].y + list[1].y) / 2 };
      zoomTo(pinch.scale * distance(list[0], list[1]) / pinch.distance, middle.x, middle.y);
    } else if (drag) {
      if (Math.abs(event.clientX - drag.startX) + Math.abs(event.clientY - drag.startY) > 8) drag.moved = true;
      if (scale > 1) {
        offsetX += event.clientX - drag.x;
        offsetY += event.clientY - drag.y;
        apply();
      }
      drag.x = event.clientX;
      drag.y = event.clientY;
    }
  });

  function pointerEnd(event) {
    if (!pointers[event.pointerId]) return;
    delete pointers[event.pointerId];
    if (!pointerList().length) stage.classList.remove("pinching");
    if (pinch && pointerList().length < 2) { pinch = null; drag = null; return; }
    if (!drag || event.type === "pointercancel") { drag = null; return; }
    var dx = event.clientX - drag.startX;
    var dy = event.clientY - drag.startY;
    var moved = drag.moved;
    drag = null;
    if (scale === 1 && moved && Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy) * 1.5 && shown.length > 1) {
      go(current + ((dx < 0) !== rtl ? 1 : -1));
      return;
    }
    if (!moved && event.pointerType !== "mouse") {
      var now = Date.now();
      if (now - lastTap.time < 350 && Math.abs(event.clientX - lastTap.x) < 30 && Math.abs(event.clientY - lastTap.y) < 30) {
        lastTap.time = 0;
        lastTouchZoom = now;
        toggleZoom(event.clientX, event.clientY);
      } else {
        lastTap = { time: now, x: event.clientX, y: event.clientY };
      }
    }
  }
  stage.addEventListener("pointerup", pointerEnd);
  stage.addEventListener("pointercancel", pointerEnd);
  stage.addEventListener("dblclick", function (event) {
    // Touch double taps are counted above; this is the mouse's.
    if (Date.now() - lastTouchZoom < 600) return;
    toggleZoom(event.clientX, event.clientY);
  });

  // --- "I'm done, delete it now" -------------------------------------------------------------

  function offerEnd() {
    if (!endUrl) return;
    endBox.hidden = false;
    endButton.hidden = false;
    endConfirm.hidden = true;
  }

  endButton.addEventListener("click", function () {
    endButton.hidden = true;
    endConfirm.hidden = false;
    // The least harmful choice has the focus; the group's label is read with it.
    endNo.focus();
  });
  endNo.addEventListener("click", function () {
    endConfirm.hidden = true;
    endButton.hidden = false;
    endButton.focus();
  });
  endYes.addEventListener("click", function () {
    var body = new FormData();
    body.append("confirm", "true");
    endYes.disabled = endNo.disabled = true;
    say(error, "");
    fetch(endUrl, {
      method: "POST",
      body: body,
      headers: { "Accept": "application/json" },
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (response.ok || (answer.code === "gone" && answer.reason === "viewer")) { ended(); return; }
        endYes.disabled = endNo.disabled = false;
        say(error, explain(answer, response.status));
      });
    }).catch(function () {
      endYes.disabled = endNo.disabled = false;
      say(error, gettext("The connection failed. Check your network and try again."));
    });
  });

  // The share is over: nothing of it stays on the page either.
  function ended() {
    closeFull();
    shown.forEach(function (element) {
      if (element.parentNode) element.parentNode.removeChild(element);
      element.removeAttribute("src");
    });
    blobUrls.forEach(function (url) { URL.revokeObjectURL(url); });
    blobUrls = [];
    shown = [];
    endUrl = null;
    gallery.hidden = true;
    noteBox.hidden = true;
    noteText.textContent = "";
    endConfirm.hidden = true;
    endButton.hidden = true;
    say(viewsLeft, "");
    say(after, "");
    var opened = document.getElementById("opened-before");
    if (opened) opened.hidden = true;
    var report = document.getElementById("report-link");
    if (report) report.hidden = true;
    endStatus.setAttribute("tabindex", "-1");
    say(endStatus, gettext("Done: the photos have been deleted from the server, and the link no longer works for anyone."));
    endStatus.focus();
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
      missing: gettext("This photo is no longer available."),
      viewer: gettext("Someone who viewed this link deleted it when they were done.")
    };
    switch (body.code) {
      case "pin_wrong":
        return fill(ngettext(
          "Wrong PIN. %(count)s attempt left before the photo is deleted.",
          "Wrong PIN. %(count)s attempts left before the photo is deleted.", body.attempts_left),
          { count: body.attempts_left });
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
      case "photo_fetched":
        return gettext("This photo was already fetched for this view, or its few minutes are over: it cannot be fetched again. Open the link again if it has views left.");
      case "end_not_allowed":
        return gettext("The sender did not allow viewers to delete this link.");
      case "confirm_required":
        return gettext("Confirm first that the photos should be deleted.");
      case "rate_limited":
        var minutes = Math.ceil((body.retry_after || 60) / 60);
        if (body.limit === "pin_failures") {
          return fill(ngettext(
            "Too many wrong PINs from your address. Please wait %(count)s minute and try again.",
            "Too many wrong PINs from your address. Please wait %(count)s minutes and try again.", minutes),
            { count: minutes });
        }
        return fill(ngettext(
          "Too many attempts from your address. Please wait %(count)s minute and try again.",
          "Too many attempts from your address. Please wait %(count)s minutes and try again.", minutes),
          { count: minutes });
    }
    return body.error || gettext("The photo could not be shown.");
  }
})();
