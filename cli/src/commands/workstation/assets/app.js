// Collabzium workstation: small progressive enhancements. Every page works
// without this script; it only refreshes what changes while you look.
(function () {
  "use strict";
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    });
  }
  // The invitation page: reload once the patient has joined.
  var inv = document.getElementById("invite-state");
  if (inv && inv.getAttribute("data-state") === "waiting") {
    var timer = setInterval(function () {
      getJSON("/invite/status").then(function (s) {
        if (s.state === "paired") { clearInterval(timer); location.reload(); }
      }).catch(function () {});
    }, 1000);
  }
  // The last-synced line in the header follows the background sync.
  var synced = document.getElementById("synced");
  if (synced) {
    setInterval(function () {
      getJSON("/status").then(function (s) {
        if (s.last_synced) { synced.textContent = "Last synced " + s.last_synced; }
      }).catch(function () {});
    }, 15000);
  }
})();
