// Shows every <time datetime="..."> in the browser's own time zone; the UTC value stays on hover (title).
// The pages read well without it: they are written in UTC.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  document.querySelectorAll("time[datetime]").forEach(function (element) {
    var at = new Date(element.getAttribute("datetime"));
    if (!isNaN(at)) {
      element.textContent = format.format(at);
    }
  });
});
