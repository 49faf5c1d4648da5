// The upload page, enhanced: choose, drop or paste a photo, see a preview and its size,
// get an immediate message for a file that is too large or not an image, then upload it
// with XHR to show progress and allow a cancel.
//
// The XHR posts the same form to "/" (CSRF token included) and the server answers the
// same created page a plain post gets. That page is swapped into <main> here, so the share
// and manage links only ever travel in the body of a no-store response: never in a URL,
// the history or a cache. Without this script the form posts normally and nothing changes.
(function () {
  "use strict";
  // The texts come from the page language's catalogue (/jsi18n/<lang>.js); English if it
  // did not load.
  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
  };
  function fill(text, values) { return interpolate(text, values, true); }
  var language = document.documentElement.lang || "en";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest || !window.URL) return;

  // What the server accepts. HEIC/HEIF (iPhone photos) and AVIF are converted to JPEG
  // there; a browser may not be able to preview them, which is not a reason to refuse.
  var SHOWN_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"];
  var CONVERTED_TYPES = ["image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence", "image/avif"];
  var BY_EXTENSION = {
    jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", gif: "image/gif", webp: "image/webp",
    heic: "image/heic", heif: "image/heif", avif: "image/avif"
  };
  var previewNote = document.getElementById("preview-note");
  var input = document.getElementById("id_photo");
  var dropzone = document.getElementById("dropzone");
  var preview = document.getElementById("preview");
  var previewImg = document.getElementById("preview-img");
  var previewName = document.getElementById("preview-name");
  var previewSize = document.getElementById("preview-size");
  var changeButton = document.getElementById("preview-change");
  var errorBox = document.getElementById("upload-error");
  var photoStatus = document.getElementById("photo-status");
  var submitButton = document.getElementById("upload-submit");
  var progressBox = document.getElementById("upload-progress");
  var progressBar = document.getElementById("progress-bar");
  var progressLabel = document.getElementById("progress-label");
  var progressPercent = document.getElementById("progress-percent");
  var progressAnnounce = document.getElementById("progress-announce");
  var cancelButton = document.getElementById("upload-cancel");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || Infinity;

  var chosen = null;
  var finished = false;  // the created page is showing: the form is gone
  var chosenPreviewable = true;
  var previewUrl = null;
  var request = null;
  var lastAnnounced = -1;

  // A pasted or dropped photo may not fit into the input in every browser, so the script
  // checks for a photo itself instead of the browser's `required`.
  input.required = false;

  function say(element, text) { element.textContent = text || ""; }

  // Sizes and percentages in the page language's number format (Intl), units from the catalogue.
  function number(value, digits) {
    try {
      return new Intl.NumberFormat(language, { maximumFractionDigits: digits || 0 }).format(value);
    } catch (ignored) { return String(Math.round(value)); }
  }
  function percentText(whole) {
    try {
      return new Intl.NumberFormat(language, { style: "percent" }).format(whole / 100);
    } catch (ignored) { return whole + "%"; }
  }
  function sizeText(bytes) {
    if (bytes < 1024) return fill(gettext("%(size)s bytes"), { size: number(bytes) });
    if (bytes < 1024 * 1024) return fill(gettext("%(size)s KB"), { size: number(bytes / 1024) });
    return fill(gettext("%(size)s MB"), { size: number(bytes / (1024 * 1024), 1) });
  }

  function clearPhoto() {
    chosen = null;
    input.value = "";
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    previewImg.removeAttribute("src");
    preview.hidden = true;
    dropzone.classList.remove("has-photo");
    say(photoStatus, "");
  }

  function reject(message) {
    clearPhoto();
    say(errorBox, message);
  }

  function choose(file, how) {
    say(errorBox, "");
    if (!file) return;
    var name = file.name || gettext("pasted photo");
    // Some systems give no type (HEIC on Windows) or an odd one ("image/jpg"): the
    // extension tells then. The server decodes the file whatever either says.
    var known = SHOWN_TYPES.concat(CONVERTED_TYPES);
    var type = known.indexOf(file.type) !== -1 ? file.type
      : BY_EXTENSION[(name.split(".").pop() || "").toLowerCase()] || "";
    if (SHOWN_TYPES.indexOf(type) === -1 && CONVERTED_TYPES.indexOf(type) === -1) {
      reject(fill(gettext("“%(name)s” is not a photo Seen can share. Choose a JPEG, PNG, GIF, WebP, HEIC or AVIF image."), { name: name }));
      return;
    }
    if (file.size === 0) {
      reject(fill(gettext("“%(name)s” is empty. Choose another photo."), { name: name }));
      return;
    }
    if (file.size > maxBytes) {
      reject(fill(gettext("“%(name)s” is %(size)s: the limit is %(limit)s. Choose a smaller photo."),
        { name: name, size: sizeText(file.size), limit: sizeText(maxBytes) }));
      return;
    }
    chosen = file;
    chosenPreviewable = SHOWN_TYPES.indexOf(type) !== -1;
    previewImg.hidden = false;
    say(previewNote, "");
    // Keep the input in step, so a plain submit would send this photo too.
    if (!input.files || input.files[0] !== file) {
      try {
        var transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
      } catch (ignored) { /* older browsers: the script sends `chosen` itself */ }
    }
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    previewImg.src = previewUrl;
    say(previewName, name);
    say(previewSize, sizeText(file.size));
    preview.hidden = false;
    dropzone.classList.add("has-photo");
    var done = how === "paste" ? gettext("Photo pasted from the clipboard: %(name)s, %(size)s.")
      : how === "drop" ? gettext("Photo dropped: %(name)s, %(size)s.")
      : gettext("Photo chosen: %(name)s, %(size)s.");
    say(photoStatus, fill(done, { name: name, size: sizeText(file.size) }));
  }

  previewImg.addEventListener("error", function () {
    if (!chosen || !previewImg.getAttribute("src")) return;
    if (chosenPreviewable) {
      reject(fill(gettext("“%(name)s” could not be read as an image. Choose another photo."), { name: chosen.name || gettext("pasted photo") }));
    } else {
      previewImg.hidden = true;
      say(previewNote, gettext("This browser cannot show a preview of this format. Seen will turn it into a JPEG."));
    }
  });

  input.addEventListener("change", function () {
    if (input.files && input.files[0]) choose(input.files[0], "choose");
  });

  changeButton.addEventListener("click", function () {
    clearPhoto();
    input.click();
  });

  // Drop anywhere on the page: a photo dropped beside the zone must not make the
  // browser leave the page to show it.
  var dragDepth = 0;
  document.addEventListener("dragenter", function (event) {
    if (!hasFiles(event)) return;
    dragDepth += 1;
    dropzone.classList.add("dragging");
  });
  document.addEventListener("dragleave", function () {
    dragDepth = Math.max(dragDepth - 1, 0);
    if (!dragDepth) dropzone.classList.remove("dragging");
  });
  document.addEventListener("dragover", function (event) {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", function (event) {
    dragDepth = 0;
    dropzone.classList.remove("dragging");
    if (!hasFiles(event)) return;
    // Also on the created page: the browser would leave it to show the file, and the
    // links on it cannot be shown again.
    event.preventDefault();
    if (request || finished) return;
    choose(event.dataTransfer.files[0], "drop");
  });

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  document.addEventListener("paste", function (event) {
    var data = event.clipboardData;
    if (!data || request || finished) return;
    var file = null;
    for (var i = 0; i < (data.items || []).length; i++) {
      if (data.items[i].kind === "file") { file = data.items[i].getAsFile(); break; }
    }
    if (!file && data.files && data.files.length) file = data.files[0];
    if (!file) return;  // plain text, e.g. a PIN pasted into its field
    event.preventDefault();
    choose(file, "paste");
  });

  function setProgress(percent) {
    var whole = Math.max(0, Math.min(100, Math.floor(percent)));
    progressBar.value = whole;
    say(progressPercent, percentText(whole));
    // Screen readers hear every quarter, not every percent.
    var quarter = Math.floor(whole / 25) * 25;
    if (quarter !== lastAnnounced) {
      lastAnnounced = quarter;
      say(progressAnnounce, fill(gettext("Uploaded %(percent)s"), { percent: percentText(quarter) }));
    }
  }

  function setBusy(busy) {
    progressBox.hidden = !busy;
    submitButton.hidden = busy;
    changeButton.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
    if (busy) {
      lastAnnounced = -1;
      say(progressLabel, gettext("Uploading…"));
      setProgress(0);
    }
  }

  function finish(message) {
    request = null;
    setBusy(false);
    say(errorBox, message || "");
    submitButton.focus();  // the cancel button that had focus is hidden now
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (request) return;
    if (!chosen) {
      say(errorBox, gettext("Choose a photo to share first."));
      input.focus();
      return;
    }
    var data = new FormData(form);
    data.set("photo", chosen, chosen.name || "photo");
    say(errorBox, "");
    say(photoStatus, "");

    request = new XMLHttpRequest();
    var xhr = request;
    xhr.open("POST", form.getAttribute("action") || "/");
    xhr.responseType = "document";
    xhr.setRequestHeader("Accept", "text/html");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && e.total) setProgress((e.loaded / e.total) * 100);
    });
    xhr.upload.addEventListener("load", function () {
      setProgress(100);
      say(progressLabel, gettext("Uploaded. Removing the photo's hidden details…"));
    });
    xhr.addEventListener("load", function () {
      if (xhr !== request) return;
      var page = xhr.response;
      if (xhr.status === 201 && page && page.getElementById("created")) {
        request = null;
        showCreated(page);
      } else {
        finish(errorFrom(page, xhr.status));
      }
    });
    xhr.addEventListener("error", function () {
      if (xhr === request) finish(gettext("The upload failed: check your connection and try again. Nothing was shared."));
    });
    xhr.addEventListener("abort", function () {
      if (xhr !== request) return;
      finish("");
      say(photoStatus, gettext("Upload cancelled. Nothing was shared."));
    });
    setBusy(true);
    xhr.send(data);
    cancelButton.focus();
  });

  cancelButton.addEventListener("click", function () {
    if (request) request.abort();
  });

  // The server's own words for what went wrong, from the page it answered.
  function errorFrom(page, status) {
    var box = page && (page.getElementById("upload-error") || page.querySelector("main .error") || page.querySelector("main p"));
    var text = box && box.textContent.trim();
    if (text) return text;
    if (status === 413) return fill(gettext("The photo is too large: the limit is %(limit)s."), { limit: sizeText(maxBytes) });
    if (status === 429) return gettext("Too many uploads from here. Please wait a while and try again.");
    return fill(gettext("The upload failed (error %(status)s). Please try again."), { status: status });
  }

  // Put the created page (links, QR code, what was removed) in place of the form.
  function showCreated(page) {
    var main = document.getElementById("main");
    var incoming = page.getElementById("main");
    finished = true;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    while (main.firstChild) main.removeChild(main.firstChild);
    Array.prototype.forEach.call(incoming.childNodes, function (node) {
      main.appendChild(document.importNode(node, true));
    });
    document.title = page.title;
    // The picker would leave this page, whose links cannot be shown again.
    var picker = document.getElementById("language-picker");
    if (picker) picker.hidden = true;
    if (window.seenCreated) window.seenCreated(main);
    if (window.seenLocalTimes) window.seenLocalTimes(main);
    window.scrollTo(0, 0);
    var heading = main.querySelector("h1");
    if (heading) heading.focus();
  }
})();
