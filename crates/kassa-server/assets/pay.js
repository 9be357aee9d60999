// Kassa payment page: live status, countdown and copy buttons. The page works without it.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var timer = null;

  function root() { return document.getElementById("pay"); }

  // Copy buttons exist in the markup but stay hidden until they can work.
  function enhance() {
    var r = root();
    if (!r || !navigator.clipboard) return;
    r.querySelectorAll("[data-copy]").forEach(function (b) { b.hidden = false; });
  }

  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (!el) return;
    navigator.clipboard.writeText(el.textContent.trim()).then(function () {
      var old = btn.textContent;
      btn.textContent = root().getAttribute("data-copied") || "✓";
      setTimeout(function () { btn.textContent = old; }, 1500);
    });
  });

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var el = document.querySelector("[data-expires]");
    if (!el) return;
    var left = Math.max(0, Math.floor((Number(el.getAttribute("data-expires")) - Date.now()) / 1000));
    var h = Math.floor(left / 3600), m = Math.floor(left / 60) % 60, s = left % 60;
    el.textContent = (h > 0 ? h + ":" + pad(m) : pad(m)) + ":" + pad(s);
  }

  // Swap in the freshly rendered page (same markup as a reload, without the flash).
  function refresh(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("pay");
        var cur = root();
        if (next && cur) {
          cur.replaceWith(next);
          enhance();
          tick();
        }
      });
  }

  function poll() {
    var r = root();
    var statusUrl = r && r.getAttribute("data-live");
    if (!statusUrl) return; // final state: nothing more will change
    fetch(statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (s) {
        if (s && s.v && s.v !== r.getAttribute("data-v")) {
          return refresh(r.getAttribute("data-page"));
        }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () { timer = setTimeout(poll, POLL_MS); });
  }

  enhance();
  tick();
  setInterval(tick, 1000);
  timer = setTimeout(poll, POLL_MS);
})();
