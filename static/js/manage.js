// The manage page: the expiry as a live countdown, and a confirmation before "Delete now".
// Without script the page shows the time left when it was loaded and the form posts at once.
(function () {
  "use strict";
  var form = document.getElementById("delete-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      var sure = window.confirm("Delete this photo now? The link stops working at once, and this cannot be undone.");
      if (!sure) event.preventDefault();
    });
  }

  var countdown = document.getElementById("countdown");
  if (!countdown) return;
  // Counted from the server's clock (seconds left when the page was made), not from this
  // device's clock, which may be wrong.
  var endsAt = Date.now() + parseInt(countdown.getAttribute("data-seconds-left"), 10) * 1000;

  function part(value, unit) { return value + " " + unit + (value === 1 ? "" : "s"); }

  function tick() {
    var left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    if (!left) {
      countdown.textContent = "(expired just now: reload the page for its status)";
      return;
    }
    var days = Math.floor(left / 86400);
    var hours = Math.floor((left % 86400) / 3600);
    var minutes = Math.floor((left % 3600) / 60);
    var seconds = left % 60;
    var text = days ? part(days, "day") + " " + part(hours, "hour")
      : hours ? part(hours, "hour") + " " + part(minutes, "minute")
      : part(minutes, "minute") + " " + part(seconds, "second");
    countdown.textContent = "(in " + text + ")";
    setTimeout(tick, 1000);
  }
  tick();
})();
