/*
 * What every page of the demo shares: one realtime connection (pushbridge's shim, or pusher-js
 * when the site runs with PUSHBRIDGE_JS_CLIENT=pusher-js), post() to Django views, the
 * connection indicator and the notification badge. Pages add their own few lines on top and
 * use only what both clients have in common: subscribe, bind, trigger and presence members.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("pushbridge-config").textContent);

  // pusher-js takes the same configuration under its own option names (CSRF header included):
  // pushbridge-pusher.js translates it.
  const client = document.body.dataset.client === "pusher-js" ? PushBridgePusher.fromPage(Pusher) : PushBridge.fromPage();

  /**
   * POST JSON to a Django view with the CSRF token and X-Socket-ID (so the events the view
   * causes skip this tab). The shim has this built in; for pusher-js it takes a few lines.
   */
  function post(url, data) {
    if (typeof client.post === "function") return client.post(url, data);
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    headers[config.csrfHeaderName] = config.csrfToken;
    if (client.connection.socket_id) headers["X-Socket-ID"] = client.connection.socket_id;
    const request = { method: "POST", credentials: "same-origin", headers, body: JSON.stringify(data || {}) };
    return fetch(url, request).then(async (response) => {
      const reply = await response.json().catch(() => null);
      if (response.ok) return reply;
      const error = new Error("POST " + url + " failed with status " + response.status);
      error.status = response.status;
      error.response = reply;
      throw error;
    });
  }

  /** el("li", {className: "x"}, "text" or [children]): DOM without innerHTML, so text stays text. */
  function el(tag, properties, children) {
    const node = Object.assign(document.createElement(tag), properties || {});
    for (const child of [].concat(children == null ? [] : children)) {
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  for (const time of document.querySelectorAll("time[datetime]")) time.textContent = clock(time.dateTime);

  // -- the connection indicator -------------------------------------------------------------

  const pill = document.getElementById("connection");
  const labels = { connected: "live", connecting: "connecting…", unavailable: "offline, retrying…" };
  function showState(state) {
    pill.dataset.state = state;
    pill.textContent = labels[state] || state;
  }
  showState(client.connection.state);
  client.connection.bind("state_change", (states) => showState(states.current));

  // -- notifications: private-user.{id}, which only this user may subscribe to ----------------

  function toast(text, url) {
    const box = el("a", { className: "toast", href: url || "#" }, text);
    document.getElementById("toasts").append(box);
    setTimeout(() => box.remove(), 6000);
  }

  function setBadge(count) {
    const badge = document.getElementById("notification-count");
    badge.textContent = count;
    badge.hidden = count === 0;
  }

  function addNotification(notification) {
    const list = document.getElementById("notification-list");
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const link = el("a", { href: notification.url || "#" }, notification.text);
    // News about the very page in view (a message in the open room) is read as it shows there:
    // no pop-up, no unread count, and the server is told, so a reload agrees.
    const inView = notification.url === window.location.pathname;
    list.prepend(el("li", { className: inView ? "" : "unread" }, link));
    if (inView) {
      const url = document.body.dataset.notificationReadUrl.replace("/0/", "/" + notification.id + "/");
      post(url).then((reply) => setBadge(reply.unread));
    } else {
      setBadge(Number(document.getElementById("notification-count").textContent || 0) + 1);
      toast(notification.text, notification.url);
    }
  }

  const userId = document.body.dataset.userId;
  if (userId) client.subscribe("private-user." + userId).bind("notification", addNotification);

  window.demo = { client: client, post: post, el: el, clock: clock };
})();
