// Kassa dashboard: small enhancements. Every page works without this file.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="element-id">.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (!el || !navigator.clipboard) return;
    var text = el.innerText.trim();
    navigator.clipboard.writeText(text).then(function () {
      var old = btn.textContent;
      btn.textContent = "✓";
      setTimeout(function () { btn.textContent = old; }, 1500);
    });
  });
  // A network's currencies in the project settings: all or none at once, and the count.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-check]");
    if (!b) return;
    var group = b.closest("details.network");
    var on = b.getAttribute("data-check") === "all";
    group.querySelectorAll("input[type=checkbox]").forEach(function (c) { c.checked = on; });
  });
  // Confirmation before destructive actions: <form data-confirm="question">.
  document.addEventListener("submit", function (e) {
    var form = e.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
  });
  // The bell's unread count, kept fresh without a reload (every 30 s while the tab is seen).
  var bell = document.getElementById("bell");
  if (bell && window.fetch) {
    var refresh = function () {
      if (document.hidden) return;
      fetch(bell.getAttribute("data-count-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j || typeof j.unread !== "number") return;
          var c = document.getElementById("bell-count");
          c.textContent = String(j.unread);
          c.hidden = j.unread === 0;
          bell.classList.toggle("has-unread", j.unread > 0);
          var label = bell.getAttribute("aria-label") || "";
          bell.setAttribute("aria-label", label.replace(/\d+$/, String(j.unread)));
        })
        .catch(function () {});
    };
    setInterval(refresh, 30000);
    document.addEventListener("visibilitychange", refresh);
  }
  // Close the account menu when clicking elsewhere.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.account-menu[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.removeAttribute("open");
    });
  });
})();
