// The manage page: the expiry as a live countdown, and a confirmation before "Delete now".
// Without script the page shows the time left when it was loaded and the form posts at once.
(function () {
  "use strict";
  // The texts come from the page language's catalogue (/jsi18n/<lang>.js); English if it
  // did not load.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
  };
  var form = document.getElementById("delete-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      var sure = window.confirm(gettext("Delete this photo now? The link stops working at once, and this cannot be undone."));
      if (!sure) event.preventDefault();
    });
  }

  var countdown = document.getElementById("countdown");
  if (!countdown) return;
  // Counted from the server's clock (seconds left when the page was made), not from this
  // device's clock, which may be wrong.
  var endsAt = Date.now() + parseInt(countdown.getAttribute("data-seconds-left"), 10) * 1000;

  // Each unit in the page language's plural forms.
  var UNITS = {
    day: function (n) { return ngettext("%(count)s day", "%(count)s days", n); },
    hour: function (n) { return ngettext("%(count)s hour", "%(count)s hours", n); },
    minute: function (n) { return ngettext("%(count)s minute", "%(count)s minutes", n); },
    second: function (n) { return ngettext("%(count)s second", "%(count)s seconds", n); }
  };
  function part(value, unit) { return interpolate(UNITS[unit](value), { count: value }, true); }

  function tick() {
    var left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    if (!left) {
      countdown.textContent = gettext("(expired just now: reload the page for its status)");
      return;
    }
    var days = Math.floor(left / 86400);
    var hours = Math.floor((left % 86400) / 3600);
    var minutes = Math.floor((left % 3600) / 60);
    var seconds = left % 60;
    var text = days ? interpolate(gettext("%(larger)s %(smaller)s"), { larger: part(days, "day"), smaller: part(hours, "hour") }, true)
      : hours ? interpolate(gettext("%(larger)s %(smaller)s"), { larger: part(hours, "hour"), smaller: part(minutes, "minute") }, true)
      : interpolate(gettext("%(larger)s %(smaller)s"), { larger: part(minutes, "minute"), smaller: part(seconds, "second") }, true);
    countdown.textContent = interpolate(gettext("(in %(time)s)"), { time: text }, true);
    setTimeout(tick, 1000);
  }
  tick();
})();
