// Times in the viewer's own format and time zone. The page writes each one in UTC, the
// zone named, in its language's format (that is what a reader without script sees); with
// script, <time data-local-time> is rewritten by Intl.DateTimeFormat in the page's
// language and this device's zone, and the zone is named again.
// data-local-time="relative" (the share page's "opened before" line) says "today at
// 10:02" or "yesterday at 18:40" when the day is today or yesterday where the viewer is.
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) return;
  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
  };
  var language = document.documentElement.lang || undefined;

  function formatter(precision) {
    var options = {
      year: "numeric", month: "short", day: "numeric",
      hour: "numeric", minute: "2-digit", timeZoneName: "short"
    };
    if (precision === "seconds") options.second = "2-digit";
    if (precision === "clock") options = { hour: "numeric", minute: "2-digit", timeZoneName: "short" };
    try {
      return new Intl.DateTimeFormat(language, options);
    } catch (ignored) {
      return new Intl.DateTimeFormat(undefined, options);
    }
  }

  // The calendar day of a moment in this device's zone, as a comparable number.
  function dayOf(moment) {
    return Date.UTC(moment.getFullYear(), moment.getMonth(), moment.getDate()) / 86400000;
  }

  function localise(root) {
    var formats = {};
    function format(precision, moment) {
      formats[precision] = formats[precision] || formatter(precision);
      return formats[precision].format(moment);
    }
    Array.prototype.forEach.call(root.querySelectorAll("time[data-local-time]"), function (element) {
      var moment = new Date(element.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      var precision = element.getAttribute("data-local-time");
      var text;
      if (precision === "relative") {
        var daysAgo = dayOf(new Date()) - dayOf(moment);
        var clock = format("clock", moment);
        text = daysAgo === 0 ? interpolate(gettext("today at %(time)s"), { time: clock }, true)
          : daysAgo === 1 ? interpolate(gettext("yesterday at %(time)s"), { time: clock }, true)
          : format("minutes", moment);
      } else {
        text = format(precision, moment);
      }
      element.textContent = text;
      element.setAttribute("data-localised", "true");
    });
  }

  // upload.js swaps the created page in and calls this on it.
  window.seenLocalTimes = localise;
  localise(document);
})();
