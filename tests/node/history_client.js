// Real, unmodified pusher-js (Node build) with pushbridge-pusher.js's withHistory(), for the
// chaos test: subscribes to channels with history and reports every event its callbacks get.
//
// Usage: node history_client.js <wsHost> <wsPort> <appKey> <historyEndpoint> <channel>...
// Reports one JSON object per line on stdout: {"type":"ready"}, {"type":"state","current"},
// {"type":"subscribed","channel"}, {"type":"event","channel","event","data"},
// {"type":"resync","channel",...}, {"type":"history_error","channel",...}.
"use strict";

const Pusher = require("pusher-js");
const PushBridgePusher = require("../../pushbridge/js/pushbridge-pusher.js");

const [wsHost, wsPort, appKey, historyEndpoint, ...channels] = process.argv.slice(2);

function report(message) {
  message.t = Date.now(); // when, for the test's failure messages
  process.stdout.write(JSON.stringify(message) + "\n");
}

const config = { key: appKey, wsHost, wsPort: Number(wsPort), forceTLS: false, historyEndpoint };
// Plain ws only: the test's push server has no TLS, and pusher-js would otherwise also try wss.
const pusher = new Pusher(appKey, PushBridgePusher.options(config, { enabledTransports: ["ws"] }));
pusher.connection.bind("state_change", (states) => report({ type: "state", current: states.current }));

for (const name of channels) {
  const channel = PushBridgePusher.withHistory(pusher, name, { since: 0, config });
  channel.bind_global((event, data) => {
    if (event === "pusher:subscription_succeeded") report({ type: "subscribed", channel: name });
    else if (event === "pushbridge:resync") report({ type: "resync", channel: name, data });
    else if (event === "pushbridge:history_error") report({ type: "history_error", channel: name, data });
    else if (event.indexOf("pusher:") !== 0) report({ type: "event", channel: name, event, data });
  });
}

process.stdin.on("data", () => {}); // the test ends this process by closing stdin
process.stdin.on("end", () => {
  pusher.disconnect();
  process.exit(0);
});
report({ type: "ready" });
