// Times in the viewer's own format and time zone. The page writes each one in UTC, the
// zone named, in its language's format (that is what a reader without script sees); with
// script, <time data-local-time> is rewritten by Intl.DateTimeFormat in the page's
// language and this device's zone, and the zone is named again.
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) return;
  var language = document.documentElement.lang || undefined;

  function formatter(seconds) {
    var options = {
      year: "numeric", month: "short", day: "numeric",
      hour: "numeric", minute: "2-digit", timeZoneName: "short"
    };
    if (seconds) options.second = "2-digit";
    try {
      return new Intl.DateTimeFormat(language, options);
    } catch (ignored) {
      return new Intl.DateTimeFormat(undefined, options);
    }
  }

  function localise(root) {
    var formats = {};
    Array.prototype.forEach.call(root.querySelectorAll("time[data-local-time]"), function (element) {
      var moment = new Date(element.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      var precision = element.getAttribute("data-local-time");
      formats[precision] = formats[precision] || formatter(precision === "seconds");
      element.textContent = formats[precision].format(moment);
      element.setAttribute("data-localised", "true");
    });
  }

  // upload.js swaps the created page in and calls this on it.
  window.seenLocalTimes = localise;
  localise(document);
})();
