// deskmove workspace: presence heartbeat, new-message notice, frame sizing, list filters.
// No framework, no inline script (the page's CSP allows only this file).
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // The browser's time zone, for servers where the agent has not chosen one.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("tz=") === -1) {
      document.cookie = "tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* old browser: times stay in UTC */ }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch", "Accept": "application/json",
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: body || ""
    });
  }

  // Size each mail frame to its content (same origin, no script inside the frame).
  function fit(frame) {
    try {
      var doc = frame.contentDocument;
      if (doc && doc.documentElement) {
        frame.style.height = Math.min(doc.documentElement.scrollHeight + 8, 4000) + "px";
      }
    } catch (e) { /* leave the default height */ }
  }
  document.querySelectorAll("iframe.body").forEach(function (frame) {
    frame.addEventListener("load", function () {
      fit(frame);
      try {
        frame.contentDocument.querySelectorAll("details").forEach(function (d) {
          d.addEventListener("toggle", function () { fit(frame); });
        });
      } catch (e) { /* ignore */ }
    });
  });
  document.querySelectorAll("a[data-remote]").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      var frame = document.querySelector('iframe[src^="/messages/' + a.dataset.remote + '/body"]');
      if (frame) { ev.preventDefault(); frame.src = a.getAttribute("href"); a.parentNode.hidden = true; }
    });
  });

  // Presence: who else has this ticket open, and whether they are replying.
  var ticket = document.getElementById("ticket");
  if (ticket) {
    var id = ticket.dataset.ticket, latest = parseInt(ticket.dataset.latest || "0", 10);
    var every = parseInt(ticket.dataset.presenceMs || "5000", 10);
    var box = document.getElementById("presence"), newer = document.getElementById("newer");
    var reply = document.getElementById("reply-body"), state = "viewing";
    var label = { viewing: box.dataset.viewing || "viewing", replying: box.dataset.replying || "replying" };
    if (reply) {
      reply.addEventListener("input", function () {
        var now = reply.value.trim() ? "replying" : "viewing";
        if (now !== state) { state = now; beat(); }
      });
    }
    var beat = function () {
      post("/tickets/" + id + "/presence?state=" + state).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (data) {
        if (!data) { return; }
        box.textContent = "";
        if (data.others.length) {
          box.appendChild(document.createTextNode((box.dataset.prefix || "Also here:") + " "));
          data.others.forEach(function (o, i) {
            var s = document.createElement("span");
            s.className = "who " + o.state;
            s.textContent = o.name + " (" + (label[o.state] || o.state) + ")";
            box.appendChild(s);
            if (i < data.others.length - 1) { box.appendChild(document.createTextNode(", ")); }
          });
        }
        if (data.latest > latest && newer) { newer.hidden = false; }
      }).catch(function () { /* the next beat tries again */ });
    };
    beat();
    setInterval(beat, every);
    window.addEventListener("pagehide", function () {
      if (navigator.sendBeacon) {
        var fd = new FormData(); fd.append("csrf", csrf);
        navigator.sendBeacon("/tickets/" + id + "/presence?leave=1", fd);
      }
    });
  }

  // The list: filters apply on change; "More tickets" appends the next page in place.
  var filters = document.getElementById("filters");
  if (filters) {
    filters.querySelectorAll("select").forEach(function (s) {
      s.addEventListener("change", function () { filters.submit(); });
    });
  }
  document.addEventListener("click", function (ev) {
    var more = ev.target.closest && ev.target.closest("a[data-more]");
    if (!more) { return; }
    ev.preventDefault();
    var url = more.getAttribute("href") + "&partial=1";
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var holder = more.closest("p");
      var tmp = document.createElement("div");
      tmp.innerHTML = html;
      var list = document.querySelector("#rows ol.tickets"), rows = tmp.querySelector("ol.tickets");
      if (list && rows) { while (rows.firstChild) { list.appendChild(rows.firstChild); } }
      var next = tmp.querySelector("p.more");
      holder.replaceWith(next || document.createTextNode(""));
    });
  });
})();
