// Drives real, unmodified pusher-js (the Node build from npm) for pushbridge's server tests.
//
// Usage: node driver.js <wsHost> <wsPort> <appKey> <appSecret>
//
// Python writes one JSON command per line on stdin; this script writes one JSON report per
// line on stdout. Commands:
//   {"op":"connect","client":"a"}                    new Pusher(...) named "a"
//   {"op":"subscribe","client":"a","channel":"c","user":{"user_id":"1","user_info":{}}}
//   {"op":"unsubscribe","client":"a","channel":"c"}
//   {"op":"trigger","client":"a","channel":"c","event":"client-x","data":{...}}  -> {"type":"triggered","ok":bool}
//   {"op":"signin","client":"a","user":{"id":"7","user_info":{}}}
//   {"op":"disconnect","client":"a"}
//   {"op":"exit"}
// Reports: {"type":"state","client","previous","current"}, {"type":"event","client","channel",
// "event","data","user_id"} for every event pusher-js emits on a channel, {"type":"user_event",...}
// for events on pusher.user, {"type":"error","client","data"} for connection errors.
//
// Authorization uses pusher-js's documented customHandler option, signing with the app secret
// exactly as a Django auth endpoint would; pusher-js itself is not modified in any way.
"use strict";

const crypto = require("crypto");
const readline = require("readline");
const Pusher = require("pusher-js");
const nacl = require("tweetnacl");

const [wsHost, wsPort, appKey, appSecret, masterKeyB64] = process.argv.slice(2);
const clients = new Map();

function report(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function sign(text) {
  return appKey + ":" + crypto.createHmac("sha256", appSecret).update(text).digest("hex");
}

function channelAuthorizer(users) {
  return (params, callback) => {
    const { socketId, channelName } = params;
    if (channelName.startsWith("presence-")) {
      const channelData = JSON.stringify(users.get(channelName) || { user_id: "anonymous" });
      callback(null, { auth: sign(`${socketId}:${channelName}:${channelData}`), channel_data: channelData });
    } else if (channelName.startsWith("private-encrypted-")) {
      const key = crypto
        .createHash("sha256")
        .update(Buffer.concat([Buffer.from(channelName), Buffer.from(masterKeyB64 || "", "base64")]))
        .digest("base64");
      callback(null, { auth: sign(`${socketId}:${channelName}`), shared_secret: key });
    } else if (channelName.startsWith("private-bad-")) {
      // A deliberately wrong signature: the server must refuse it.
      callback(null, { auth: appKey + ":" + "0".repeat(64) });
    } else {
      callback(null, { auth: sign(`${socketId}:${channelName}`) });
    }
  };
}

function connect(name) {
  const users = new Map();
  const state = { signinUser: null, users };
  const pusher = new Pusher(appKey, {
    cluster: "local",
    wsHost,
    wsPort: Number(wsPort),
    forceTLS: false,
    enabledTransports: ["ws"],
    nacl,
    channelAuthorization: { customHandler: channelAuthorizer(users) },
    userAuthentication: {
      customHandler: (params, callback) => {
        const userData = JSON.stringify(state.signinUser);
        callback(null, { auth: sign(`${params.socketId}::user::${userData}`), user_data: userData });
      },
    },
  });
  pusher.connection.bind("state_change", (states) =>
    report({ type: "state", client: name, previous: states.previous, current: states.current,
             socket_id: pusher.connection.socket_id }),
  );
  pusher.connection.bind("error", (error) => report({ type: "error", client: name, data: error }));
  pusher.user.bind_global((event, data) => report({ type: "user_event", client: name, event, data }));
  state.pusher = pusher;
  clients.set(name, state);
}

function subscribe(command) {
  const state = clients.get(command.client);
  if (command.user) state.users.set(command.channel, command.user);
  const channel = state.pusher.subscribe(command.channel);
  channel.bind_global((event, data) => {
    const entry = { type: "event", client: command.client, channel: command.channel, event, data };
    if (event === "pusher:subscription_succeeded" && channel.members) {
      entry.members = { count: channel.members.count, me: channel.members.me, ids: Object.keys(channel.members.members) };
    }
    report(entry);
  });
  // Client events on presence channels carry the sender's user_id as metadata.
  if (command.metadata_for) {
    channel.bind(command.metadata_for, (data, metadata) =>
      report({ type: "metadata", client: command.client, channel: command.channel, event: command.metadata_for,
               data, user_id: metadata && metadata.user_id }),
    );
  }
}

function handle(command) {
  switch (command.op) {
    case "connect":
      connect(command.client);
      break;
    case "subscribe":
      subscribe(command);
      break;
    case "unsubscribe":
      clients.get(command.client).pusher.unsubscribe(command.channel);
      break;
    case "trigger": {
      const channel = clients.get(command.client).pusher.channel(command.channel);
      let ok = false;
      try {
        ok = channel.trigger(command.event, command.data);
      } catch (error) {
        report({ type: "triggered", client: command.client, ok: false, error: String(error) });
        break;
      }
      report({ type: "triggered", client: command.client, ok });
      break;
    }
    case "signin": {
      const state = clients.get(command.client);
      state.signinUser = command.user;
      state.pusher.signin();
      break;
    }
    case "disconnect":
      clients.get(command.client).pusher.disconnect();
      break;
    case "exit":
      for (const state of clients.values()) state.pusher.disconnect();
      setTimeout(() => process.exit(0), 50);
      return;
    default:
      report({ type: "bad_command", command });
  }
  if (command.seq !== undefined) report({ type: "ack", seq: command.seq });
}

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (!line.trim()) return;
  try {
    handle(JSON.parse(line));
  } catch (error) {
    report({ type: "driver_error", error: String(error && error.stack ? error.stack : error) });
  }
});
input.on("close", () => process.exit(0));
report({ type: "ready" });
