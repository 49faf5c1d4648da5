// The upload page, enhanced: choose, drop or paste up to SEEN_MAX_PHOTOS photos, in one go
// or one at a time; see a preview of each with its size and remove any; get an immediate
// message naming the photo that is too large, not an image, one too many, or past the
// limit for the whole link; then upload them all with one XHR, one progress bar and a
// cancel. The note gets a live character count, and "Let viewers delete it" shows only
// for "No limit" links, the only ones where it means something.
//
// The XHR posts the same form to "/" (CSRF token included) and the server answers the
// same created page a plain post gets. That page is swapped into <main> here, so the share
// and manage links only ever travel in the body of a no-store response: never in a URL,
// the history or a cache. Without this script the form posts normally (a `multiple` file
// input, the note, every option) and nothing changes.
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
  var input = document.getElementById("id_photo");
  var dropzone = document.getElementById("dropzone");
  var preview = document.getElementById("preview");
  var previewList = document.getElementById("preview-list");
  var previewTotal = document.getElementById("preview-total");
  var addButton = document.getElementById("preview-add");
  var errorBox = document.getElementById("upload-error");
  var photoStatus = document.getElementById("photo-status");
  var submitButton = document.getElementById("upload-submit");
  var progressBox = document.getElementById("upload-progress");
  var progressBar = document.getElementById("progress-bar");
  var progressLabel = document.getElementById("progress-label");
  var progressPercent = document.getElementById("progress-percent");
  var progressAnnounce = document.getElementById("progress-announce");
  var cancelButton = document.getElementById("upload-cancel");
  var note = document.getElementById("id_note");
  var noteCount = document.getElementById("note-count");
  var canEnd = document.getElementById("viewer-can-end");
  var canEndBox = document.getElementById("id_viewer_can_end");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || Infinity;
  var maxPhotos = parseInt(form.getAttribute("data-max-photos"), 10) || 10;
  var maxShareBytes = parseInt(form.getAttribute("data-max-share-bytes"), 10) || Infinity;

  var photos = [];  // {file, name, size, url, previewable, item}, in the order they will be sent
  var finished = false;  // the created page is showing: the form is gone
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
  function totalBytes() {
    return photos.reduce(function (sum, photo) { return sum + photo.size; }, 0);
  }

  // Keep the input in step, so a plain submit would send these photos too.
  function syncInput() {
    try {
      var transfer = new DataTransfer();
      photos.forEach(function (photo) { transfer.items.add(photo.file); });
      input.files = transfer.files;
    } catch (ignored) { /* older browsers: the script sends `photos` itself */ }
  }

  function render() {
    photos.forEach(function (photo, index) {
      var position = index + 1;
      photo.item.querySelector(".preview-position").textContent =
        photos.length > 1 ? fill(gettext("Photo %(position)s"), { position: position }) : "";
      photo.remove.setAttribute("aria-label", fill(gettext("Remove %(name)s"), { name: photo.name }));
    });
    preview.hidden = photos.length === 0;
    dropzone.classList.toggle("has-photo", photos.length > 0);
    addButton.hidden = photos.length >= maxPhotos;
    say(previewTotal, photos.length ? fill(ngettext(
      "%(count)s photo, %(size)s in all",
      "%(count)s photos, %(size)s in all", photos.length), { count: photos.length, size: sizeText(totalBytes()) }) : "");
  }

  function removePhoto(photo, announce) {
    var index = photos.indexOf(photo);
    if (index === -1) return;
    photos.splice(index, 1);
    if (photo.url) URL.revokeObjectURL(photo.url);
    previewList.removeChild(photo.item);
    syncInput();
    render();
    if (announce) {
      say(photoStatus, fill(gettext("Removed %(name)s."), { name: photo.name }));
      // Focus stays in the list: the next photo's remove button, or the add button.
      var next = photos[index] || photos[index - 1];
      (next ? next.remove : (addButton.hidden ? input : addButton)).focus();
      if (!photos.length) input.focus();
    }
  }

  function clearPhotos() {
    photos.slice().forEach(function (photo) { removePhoto(photo, false); });
    input.value = "";
  }

  function makeItem(photo) {
    var item = document.createElement("li");
    item.className = "preview-item";
    var img = document.createElement("img");
    img.alt = fill(gettext("Preview of %(name)s"), { name: photo.name });
    var info = document.createElement("div");
    info.className = "preview-info";
    var position = document.createElement("p");
    position.className = "preview-position";
    var name = document.createElement("p");
    name.className = "preview-name";
    name.textContent = photo.name;
    var size = document.createElement("p");
    size.className = "preview-size";
    size.textContent = sizeText(photo.size);
    var hint = document.createElement("p");
    hint.className = "hint preview-note";
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button preview-remove";
    remove.textContent = gettext("Remove");
    remove.addEventListener("click", function () { if (!request) removePhoto(photo, true); });
    info.appendChild(position);
    info.appendChild(name);
    info.appendChild(size);
    info.appendChild(hint);
    item.appendChild(img);
    item.appendChild(info);
    item.appendChild(remove);
    photo.item = item;
    photo.remove = remove;
    img.addEventListener("error", function () {
      if (photos.indexOf(photo) === -1) return;
      if (photo.previewable) {
        removePhoto(photo, false);
        say(errorBox, fill(gettext("“%(name)s” could not be read as an image. Choose another photo."), { name: photo.name }));
      } else {
        img.hidden = true;
        item.classList.add("no-preview");
        hint.textContent = gettext("This browser cannot show a preview of this format. Seen will turn it into a JPEG.");
      }
    });
    photo.url = URL.createObjectURL(photo.file);
    img.src = photo.url;
    return item;
  }

  // Why this file cannot be added, or "" when it can.
  function refusal(file, name) {
    // Some systems give no type (HEIC on Windows) or an odd one ("image/jpg"): the
    // extension tells then. The server decodes the file whatever either says.
    var known = SHOWN_TYPES.concat(CONVERTED_TYPES);
    var type = known.indexOf(file.type) !== -1 ? file.type
      : BY_EXTENSION[(name.split(".").pop() || "").toLowerCase()] || "";
    if (known.indexOf(type) === -1) {
      return fill(gettext("“%(name)s” is not a photo Seen can share. Choose a JPEG, PNG, GIF, WebP, HEIC or AVIF image."), { name: name });
    }
    if (file.size === 0) return fill(gettext("“%(name)s” is empty. Choose another photo."), { name: name });
    if (file.size > maxBytes) {
      return fill(gettext("“%(name)s” is %(size)s: the limit is %(limit)s. Choose a smaller photo."),
        { name: name, size: sizeText(file.size), limit: sizeText(maxBytes) });
    }
    if (photos.length >= maxPhotos) {
      return fill(ngettext(
        "“%(name)s” was not added: one link holds up to %(count)s photo.",
        "“%(name)s” was not added: one link holds up to %(count)s photos.", maxPhotos), { name: name, count: maxPhotos });
    }
    if (totalBytes() + file.size > maxShareBytes) {
      return fill(gettext("“%(name)s” was not added: with it the photos would come to %(size)s, and the limit for one link is %(limit)s."),
        { name: name, size: sizeText(totalBytes() + file.size), limit: sizeText(maxShareBytes) });
    }
    return "";
  }

  function addFiles(files, how) {
    say(errorBox, "");
    var refused = [];
    var added = [];
    Array.prototype.forEach.call(files, function (file) {
      if (!file) return;
      var name = file.name || gettext("pasted photo");
      // The same photo chosen again (the picker remembers its last folder) is not sent twice.
      var twice = photos.some(function (photo) {
        return photo.name === name && photo.size === file.size && photo.file.type === file.type;
      });
      if (twice) return;
      var why = refusal(file, name);
      if (why) { refused.push(why); return; }
      var type = SHOWN_TYPES.indexOf(file.type) !== -1 ? file.type
        : BY_EXTENSION[(name.split(".").pop() || "").toLowerCase()] || file.type;
      var photo = { file: file, name: name, size: file.size, previewable: SHOWN_TYPES.indexOf(type) !== -1 };
      photos.push(photo);
      previewList.appendChild(makeItem(photo));
      added.push(photo);
    });
    syncInput();
    render();
    // Several refusals are several lines of the one alert.
    say(errorBox, refused.join("\n"));
    if (added.length === 1) {
      var done = how === "paste" ? gettext("Photo pasted from the clipboard: %(name)s, %(size)s.")
        : how === "drop" ? gettext("Photo dropped: %(name)s, %(size)s.")
        : gettext("Photo chosen: %(name)s, %(size)s.");
      say(photoStatus, fill(done, { name: added[0].name, size: sizeText(added[0].size) }));
    } else if (added.length > 1) {
      var size = sizeText(added.reduce(function (sum, photo) { return sum + photo.size; }, 0));
      var many = how === "drop" ? ngettext("%(count)s photo dropped, %(size)s.", "%(count)s photos dropped, %(size)s.", added.length)
        : ngettext("%(count)s photo chosen, %(size)s.", "%(count)s photos chosen, %(size)s.", added.length);
      say(photoStatus, fill(many, { count: added.length, size: size }));
    } else {
      say(photoStatus, "");
    }
  }

  input.addEventListener("change", function () {
    if (input.files && input.files.length) {
      // The input's own list is replaced by each pick: keep what is chosen already.
      var picked = Array.prototype.slice.call(input.files);
      var already = photos.map(function (photo) { return photo.file; });
      addFiles(picked.filter(function (file) { return already.indexOf(file) === -1; }), "choose");
    }
  });

  addButton.addEventListener("click", function () { input.click(); });

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
    addFiles(event.dataTransfer.files, "drop");
  });

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  document.addEventListener("paste", function (event) {
    var data = event.clipboardData;
    if (!data || request || finished) return;
    var files = [];
    for (var i = 0; i < (data.items || []).length; i++) {
      if (data.items[i].kind === "file") files.push(data.items[i].getAsFile());
    }
    if (!files.length && data.files && data.files.length) files = Array.prototype.slice.call(data.files);
    if (!files.length) return;  // plain text, e.g. a PIN or the note pasted into its field
    event.preventDefault();
    addFiles(files, "paste");
  });

  // The note: a live count, in the language's numbers. Characters as people count them
  // (an emoji is one), which is how the server counts.
  var noteLimit = parseInt(note.getAttribute("maxlength"), 10) || 1000;
  function countNote() {
    var used = Array.from ? Array.from(note.value).length : note.value.length;
    say(noteCount, fill(gettext("%(used)s of %(limit)s characters"), { used: number(used), limit: number(noteLimit) }));
    noteCount.classList.toggle("near-limit", used > noteLimit * 0.9);
  }
  note.addEventListener("input", countNote);
  countNote();

  // "Let viewers delete it" matters only for "No limit": a limited link always lets its
  // viewers end it. Hidden (and not sent) for the others.
  function showCanEnd() {
    var unlimited = form.querySelector("input[name=views]:checked");
    var shown = !!unlimited && unlimited.value === "0";
    canEnd.hidden = !shown;
    canEndBox.disabled = !shown;
  }
  Array.prototype.forEach.call(form.querySelectorAll("input[name=views]"), function (radio) {
    radio.addEventListener("change", showCanEnd);
  });
  showCanEnd();

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
    addButton.disabled = busy;
    photos.forEach(function (photo) { photo.remove.disabled = busy; });
    form.setAttribute("aria-busy", busy ? "true" : "false");
    if (busy) {
      lastAnnounced = -1;
      say(progressLabel, photos.length > 1
        ? fill(ngettext("Uploading %(count)s photo…", "Uploading %(count)s photos…", photos.length), { count: photos.length })
        : gettext("Uploading…"));
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
    if (!photos.length) {
      say(errorBox, gettext("Choose a photo to share first."));
      input.focus();
      return;
    }
    var data = new FormData(form);
    data.delete("photo");
    photos.forEach(function (photo) { data.append("photo", photo.file, photo.name || "photo"); });
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
      say(progressLabel, photos.length > 1
        ? gettext("Uploaded. Removing the photos' hidden details…")
        : gettext("Uploaded. Removing the photo's hidden details…"));
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

  // The server's own words for what went wrong (they name the photo), from the page it
  // answered.
  function errorFrom(page, status) {
    var box = page && (page.getElementById("upload-error") || page.querySelector("main .error") || page.querySelector("main p"));
    var text = box && box.textContent.trim();
    if (text) return text;
    if (status === 413) {
      return photos.length > 1
        ? fill(gettext("The photos are too large together: the limit for one link is %(limit)s."), { limit: sizeText(maxShareBytes) })
        : fill(gettext("The photo is too large: the limit is %(limit)s."), { limit: sizeText(maxBytes) });
    }
    if (status === 429) return gettext("Too many uploads from here. Please wait a while and try again.");
    return fill(gettext("The upload failed (error %(status)s). Please try again."), { status: status });
  }

  // Put the created page (links, QR code, what was removed) in place of the form.
  function showCreated(page) {
    var main = document.getElementById("main");
    var incoming = page.getElementById("main");
    finished = true;
    clearPhotos();
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
