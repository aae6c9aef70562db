// The console's one script. Every page reads and works without it: times are written in UTC, date filters take
// UTC, and each list's filters are in its URL. With it:
// - every <time datetime="..."> shows in the browser's own time zone (the UTC value stays on hover, as title);
// - a date filter (input[data-utc]) is shown and typed in that zone, and sent as RFC 3339;
// - each list remembers its filters in this tab, and the navigation leads back to them ("Clear" forgets them).
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

  // A datetime-local value is the local wall-clock time, to the second.
  var two = function (n) { return String(n).padStart(2, "0"); };
  var localValue = function (at) {
    return at.getFullYear() + "-" + two(at.getMonth() + 1) + "-" + two(at.getDate()) + "T" +
      two(at.getHours()) + ":" + two(at.getMinutes()) + ":" + two(at.getSeconds());
  };
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time";
  document.querySelectorAll("input[data-utc]").forEach(function (input) {
    var utc = input.getAttribute("data-utc");
    var at = new Date(utc);
    if (utc && !isNaN(at)) {
      input.value = localValue(at);
    }
    var label = input.closest("label");
    var shown = label && label.querySelector(".zone");
    if (shown) {
      shown.textContent = "(" + zone + ")";
    }
  });
  document.querySelectorAll("form.filters").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[data-utc]").forEach(function (input) {
        var at = new Date(input.value);
        if (!input.value || isNaN(at)) {
          return;
        }
        var sent = document.createElement("input");
        sent.type = "hidden";
        sent.name = input.name;
        sent.value = at.toISOString().replace(".000Z", "Z");
        input.removeAttribute("name");
        form.appendChild(sent);
      });
    });
  });

  var lists = ["/console/sessions", "/console/deliveries", "/console/followups"];
  if (lists.indexOf(location.pathname) >= 0) {
    var filters = new URLSearchParams(location.search);
    ["cursor", "trail", "notice"].forEach(function (name) { filters.delete(name); });
    try {
      sessionStorage.setItem("filters:" + location.pathname, filters.toString());
    } catch (storageRefused) {
      // A browser that keeps nothing still has the filters in the URL.
    }
  }
  document.querySelectorAll("header nav a").forEach(function (link) {
    var path = link.getAttribute("href");
    var saved = null;
    try {
      saved = sessionStorage.getItem("filters:" + path);
    } catch (storageRefused) {
      return;
    }
    if (saved) {
      link.setAttribute("href", path + "?" + saved);
    }
  });
});
