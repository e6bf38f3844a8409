// The "notifications on this device" switch: fills <div id="push-subscribe"></div>.
//
// It registers the service worker (/sw.js), subscribes with the site's VAPID public key
// (GET /push/vapid-public-key) and sends the subscription to
// POST /api/v1/notifications/devices/register; turning it off unsubscribes and
// DELETEs the device. It says plainly when the browser cannot do push or has blocked it.
// The container's data-state names the state: checking, unsupported, unavailable, denied,
// off, on, busy or error.
(function () {
  "use strict";

  var REGISTER_URL = "/api/v1/notifications/devices/register";
  var DEVICE_URL = "/api/v1/notifications/devices/";
  var KEY_URL = "/push/vapid-public-key";
  var TEXT = {
    checking: "Checking whether this device can get notifications…",
    working: "One moment…",
    unsupported: "This browser can't show push notifications. You'll still get your " +
      "notifications by email, SMS and in the notification centre.",
    insecure: "Push notifications need a secure (https) connection to this site.",
    unavailable: "Push notifications aren't available on this site at the moment.",
    denied: "Notifications are blocked for this site in your browser. To get them, allow " +
      "notifications in your browser's site settings, then reload this page.",
    dismissed: "You didn't allow notifications. Press the button again when you're ready.",
    off: "Notifications are off on this device.",
    on: "This device will get notifications.",
    turnedOn: "Notifications are on for this device.",
    turnedOff: "Notifications are off on this device. You can turn them on again at any time.",
    pushService: "Your browser couldn't reach its push service, so notifications can't be " +
      "turned on right now. Check your connection and try again later.",
    signedOut: "Your session has ended. Log in again, then turn notifications on.",
    saveFailed: "The clinic couldn't save this device. Please try again.",
    offFailed: "Notifications couldn't be turned off. Please try again.",
    failed: "Notifications couldn't be turned on on this device. Please try again."
  };
  var BUTTON_ON = "Turn on notifications on this device";
  var BUTTON_OFF = "Turn off notifications on this device";

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function keyBytes(base64url) {
    var padded = base64url + "====".slice((base64url.length % 4) || 4);
    var raw = window.atob(padded.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function sameKey(subscription, key) {
    var current = subscription.options && subscription.options.applicationServerKey;
    if (!current) { return true; }  // the browser doesn't say: assume it is ours
    var a = new Uint8Array(current);
    if (a.length !== key.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== key[i]) { return false; } }
    return true;
  }

  function api(method, url, body) {
    var options = {
      method: method, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    };
    if (body) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options);
  }

  function saveSubscription(subscription) {
    var json = subscription.toJSON();
    return api("POST", REGISTER_URL, {
      kind: "WEBPUSH", token: json.endpoint, p256dh: json.keys.p256dh, auth: json.keys.auth
    });
  }

  function forget(endpoint) {
    return api("DELETE", DEVICE_URL + encodeURIComponent(endpoint));
  }

  function requestPermission() {
    // Older Safari takes a callback instead of returning a promise.
    return new Promise(function (resolve) {
      var result = Notification.requestPermission(resolve);
      if (result && typeof result.then === "function") { result.then(resolve); }
    });
  }

  function Switch(container) {
    this.container = container;
    this.key = null;
    this.registration = null;
    container.textContent = "";
    this.status = document.createElement("p");
    this.status.className = "push-status";
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.className = "push-toggle";
    this.button.hidden = true;
    container.appendChild(this.status);
    container.appendChild(this.button);
    this.button.addEventListener("click", this.toggle.bind(this));
  }

  Switch.prototype.show = function (state, message, button) {
    this.container.setAttribute("data-state", state);
    this.status.textContent = message;
    this.button.hidden = !button;
    this.button.disabled = state === "busy" || state === "checking";
    if (button) { this.button.textContent = button; }
    this.action = button === BUTTON_OFF ? "off" : "on";
    this.button.setAttribute("aria-pressed", state === "on" ? "true" : "false");
  };

  Switch.prototype.start = function () {
    var self = this;
    if (!supported()) { return self.show("unsupported", TEXT.unsupported); }
    if (!window.isSecureContext) { return self.show("unsupported", TEXT.insecure); }
    if (Notification.permission === "denied") { return self.show("denied", TEXT.denied); }
    self.show("checking", TEXT.checking, BUTTON_ON);
    return fetch(KEY_URL, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.json() : {};
    }).then(function (data) {
      if (!data || !data.key) { throw new Error("unavailable"); }
      self.key = keyBytes(data.key);
      return navigator.serviceWorker.register("/sw.js", { scope: "/" });
    }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      self.registration = registration;
      return registration.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) { return self.show("off", TEXT.off, BUTTON_ON); }
      if (!sameKey(subscription, self.key)) {
        // The site changed its key: the old subscription can no longer receive anything.
        return self.replace(subscription);
      }
      self.show("on", TEXT.on, BUTTON_OFF);
      // Keep the server in step with this browser (it may have been removed there).
      return saveSubscription(subscription).catch(function () { return null; });
    }).catch(function (error) {
      if (error && error.message === "unavailable") {
        return self.show("unavailable", TEXT.unavailable);
      }
      self.fail(TEXT.failed, error, BUTTON_ON);
    });
  };

  Switch.prototype.replace = function (subscription) {
    var self = this;
    var endpoint = subscription.endpoint;
    return subscription.unsubscribe().then(function () {
      forget(endpoint).catch(function () { return null; });
      if (Notification.permission === "granted") { return self.turnOn(); }
      return self.show("off", TEXT.off, BUTTON_ON);
    });
  };

  Switch.prototype.fail = function (message, error, button) {
    this.show("error", message, button);
    if (error && error.name) { this.container.setAttribute("data-error", error.name); }
    if (window.console && error) { window.console.warn("push:", error); }
  };

  Switch.prototype.toggle = function () {
    if (!this.key || !this.registration) { return this.start(); }  // setup failed: try again
    return this.action === "off" ? this.turnOff() : this.turnOn(true);
  };

  Switch.prototype.turnOn = function (asked) {
    var self = this;
    self.container.removeAttribute("data-error");
    self.show("busy", TEXT.working, BUTTON_ON);
    var permission = asked ? requestPermission() : Promise.resolve(Notification.permission);
    return permission.then(function (result) {
      if (result === "denied") { self.show("denied", TEXT.denied); return null; }
      if (result !== "granted") { self.show("off", TEXT.dismissed, BUTTON_ON); return null; }
      return self.registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: self.key
      }).catch(function (error) {
        if (error && error.name === "NotAllowedError") {
          self.show(Notification.permission === "denied" ? "denied" : "off",
                    Notification.permission === "denied" ? TEXT.denied : TEXT.dismissed,
                    Notification.permission === "denied" ? null : BUTTON_ON);
        } else {
          self.fail(TEXT.pushService, error, BUTTON_ON);
        }
        return null;
      }).then(function (subscription) {
        if (!subscription) { return null; }
        return saveSubscription(subscription).then(function (response) {
          if (response.ok) { return self.show("on", TEXT.turnedOn, BUTTON_OFF); }
          // The server didn't take it: don't leave a subscription nobody sends to.
          return subscription.unsubscribe().then(function () {
            self.fail(response.status === 401 ? TEXT.signedOut : TEXT.saveFailed,
                      { name: "HTTP" + response.status }, BUTTON_ON);
          });
        });
      });
    }).catch(function (error) { self.fail(TEXT.failed, error, BUTTON_ON); });
  };

  Switch.prototype.turnOff = function () {
    var self = this;
    self.container.removeAttribute("data-error");
    self.show("busy", TEXT.working, BUTTON_OFF);
    return self.registration.pushManager.getSubscription().then(function (subscription) {
      if (!subscription) { return null; }
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        // 404: the server had already dropped it. Either way this browser is unsubscribed.
        return forget(endpoint).catch(function () { return null; });
      });
    }).then(function () {
      self.show("off", TEXT.turnedOff, BUTTON_ON);
    }).catch(function (error) { self.fail(TEXT.offFailed, error, BUTTON_OFF); });
  };

  function init(root) {
    var container = (root && root.querySelector && root.querySelector("#push-subscribe")) ||
      (root && root.id === "push-subscribe" ? root : null);
    if (!container || container.getAttribute("data-push-ready")) { return; }
    container.setAttribute("data-push-ready", "1");
    new Switch(container).start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
  // Settings swapped in by HTMX.
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
