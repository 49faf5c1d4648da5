// The created page: Copy buttons that say "Copied", and a Share button where the browser
// has the Web Share API (mostly phones). Buttons stay hidden without script, where they
// could do nothing; the links are in plain text fields either way.
// upload.js calls window.seenCreated(main) after it swaps the created page in.
(function () {
  "use strict";
  // The texts come from the page language's catalogue (/jsi18n/<lang>.js); English if it
  // did not load.
  var gettext = window.gettext || function (text) { return text; };

  function copy(field) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(field.value);
    }
    // Plain http on a local network has no clipboard API: fall back to the selection.
    return new Promise(function (resolve, reject) {
      field.focus();
      field.select();
      (document.execCommand && document.execCommand("copy")) ? resolve() : reject(new Error("copy refused"));
    });
  }

  function enhance(root) {
    Array.prototype.forEach.call(root.querySelectorAll("input.link[readonly]"), function (field) {
      field.addEventListener("focus", function () { field.select(); });
    });

    Array.prototype.forEach.call(root.querySelectorAll("[data-copy]"), function (button) {
      var field = document.getElementById(button.getAttribute("data-copy"));
      var status = button.closest(".field").querySelector("[role=status]");
      var label = button.textContent;
      var timer = null;
      button.hidden = false;
      button.addEventListener("click", function () {
        copy(field).then(function () {
          button.textContent = gettext("Copied");
          status.textContent = button.getAttribute("data-copied");
          clearTimeout(timer);
          timer = setTimeout(function () { button.textContent = label; }, 2500);
        }, function () {
          field.focus();
          field.select();
          status.textContent = gettext("Copying did not work here: the link is selected, copy it with Ctrl+C or your phone's menu.");
        });
      });
    });

    Array.prototype.forEach.call(root.querySelectorAll("[data-share]"), function (button) {
      var field = document.getElementById(button.getAttribute("data-share"));
      var data = { title: gettext("A photo for you"), url: field.value };
      if (!navigator.share || (navigator.canShare && !navigator.canShare(data))) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.share(data).catch(function () { /* the person closed the share sheet */ });
      });
    });
  }

  window.seenCreated = enhance;
  if (document.getElementById("created")) enhance(document);
})();
