// Spectral console: the only script. It follows a running scan by polling its progress
// fragment (the events cursor is read server-side) and reloads the page once it finishes.
// Everything else works without it.
(function () {
  "use strict";
  function follow() {
    var live = document.getElementById("scan-live");
    if (!live || !live.dataset.poll) return;
    var url = live.dataset.poll;
    window.setTimeout(function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("scan-live");
          if (!fresh) return;
          if (fresh.dataset.done) { window.location.reload(); return; }
          live.replaceWith(document.importNode(fresh, true));
          follow();
        })
        .catch(function () { window.setTimeout(follow, 3000); });
    }, 1000);
  }
  document.addEventListener("DOMContentLoaded", follow);
})();
