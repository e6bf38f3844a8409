/* The portal's service worker, served at /sw.js (scope: the whole site).
 *
 * It only shows push messages and opens their link: it caches nothing, so every page still
 * comes from the server. A push carries JSON {title, body, url} (portal/notifications/devices.py).
 */
"use strict";

var DEFAULT_TITLE = "Clinic notification";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function readPush(event) {
  if (!event.data) { return {}; }
  try {
    var data = event.data.json();
    return data && typeof data === "object" ? data : {};
  } catch (e) {
    return { body: event.data.text() };
  }
}

// Only links into this site are opened: the path of whatever the message names, on our origin.
function sameOriginUrl(raw) {
  try {
    var target = new URL(raw || "/", self.location.origin);
    if (target.protocol !== "https:" && target.protocol !== "http:") { return self.location.origin + "/"; }
    return self.location.origin + target.pathname + target.search + target.hash;
  } catch (e) {
    return self.location.origin + "/";
  }
}

self.addEventListener("push", function (event) {
  var data = readPush(event);
  var title = typeof data.title === "string" && data.title ? data.title : DEFAULT_TITLE;
  var options = {
    body: typeof data.body === "string" ? data.body : "",
    data: { url: sameOriginUrl(data.url) }
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = sameOriginUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true })
    .then(function (windows) {
      var i;
      for (i = 0; i < windows.length; i++) {
        if (windows[i].url === url && "focus" in windows[i]) { return windows[i].focus(); }
      }
      for (i = 0; i < windows.length; i++) {
        // A tab of ours is open elsewhere: take it to the link instead of opening another.
        if ("navigate" in windows[i] && "focus" in windows[i]) {
          return windows[i].focus().then(function (client) {
            return (client || windows[i]).navigate(url);
          }).catch(function () { return self.clients.openWindow(url); });
        }
      }
      return self.clients.openWindow(url);
    }));
});

/* The browser replaced the subscription (expiry, key change): subscribe again with the same
 * key and tell the server, with the CSRF token the site's pages carry. Best effort: the
 * settings page also re-sends its subscription whenever it is opened. */
function csrfToken() {
  return fetch("/", { credentials: "same-origin" }).then(function (response) {
    return response.text();
  }).then(function (html) {
    var match = /"X-CSRFToken":\s*"([^"]+)"/.exec(html);
    return match ? match[1] : "";
  });
}

self.addEventListener("pushsubscriptionchange", function (event) {
  var old = event.oldSubscription;
  var options = old && old.options ? old.options : null;
  var next = event.newSubscription ? Promise.resolve(event.newSubscription) :
    options ? self.registration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: options.applicationServerKey
    }) : Promise.resolve(null);
  event.waitUntil(Promise.all([next, csrfToken()]).then(function (results) {
    var subscription = results[0];
    var token = results[1];
    if (!token) { return null; }  // signed out: the settings page will sync later
    var headers = { "Content-Type": "application/json", "X-CSRFToken": token };
    var steps = [];
    if (subscription) {
      var json = subscription.toJSON();
      steps.push(fetch("/api/v1/notifications/devices/register", {
        method: "POST", credentials: "same-origin", headers: headers,
        body: JSON.stringify({ kind: "WEBPUSH", token: json.endpoint,
                               p256dh: json.keys.p256dh, auth: json.keys.auth })
      }));
    }
    if (old && old.endpoint && (!subscription || subscription.endpoint !== old.endpoint)) {
      steps.push(fetch("/api/v1/notifications/devices/" + encodeURIComponent(old.endpoint), {
        method: "DELETE", credentials: "same-origin", headers: headers
      }));
    }
    return Promise.all(steps);
  }).catch(function () { return null; }));
});
