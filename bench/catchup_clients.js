// Catch-up clients for bench/catchup.py: N instances of pushbridge's own shim
// (pushbridge/js/pushbridge.js, unmodified) in one Node process, subscribed to one channel with
// history, each recording when it got back after a push-server restart and what it received.
//
// Usage: node bench/catchup_clients.js <wsHost> <wsPort> <appKey> <historyEndpoint> <channel>
//                                      <event> <clients> <since> [<reconnectMinDelayMs>]
//
// The shim is dependency-free; Node 20 has fetch but no WebSocket, so the `ws` package (from
// tests/node) is given as globalThis.WebSocket, as a browser would have it. Each client gets
// its own historyEndpoint, the real one plus "?client=I", so that the fetch it makes can be
// told from the other 999 (Django ignores the extra parameter); globalThis.fetch is wrapped
// only to time those requests, and hands every call to Node's own fetch unchanged.
//
// Clock: process.hrtime.bigint() is CLOCK_MONOTONIC, the clock of Python's time.monotonic_ns()
// (bench/latency.py checks that the two agree, with the "clock" command).
//
// Protocol: one JSON command per line on stdin, one JSON reply per line on stdout.
//   {"op":"clock"}                            -> {"type":"clock","now":"<ns>"}
//   {"op":"start","round":"r1","expect":K}    -> {"type":"started"}: from now on each client
//       records its first reconnect, resubscription and history reply, and must receive
//       exactly the events {"r":"r1","s":0..K-1}, in order, at its bound callback
//   {"op":"end","timeout_ms":T,"settle_ms":S} -> {"type":"round",...} once every client is
//       resubscribed, has its history reply and (K > 0) all K events, or T ms passed; then
//       S ms more, for a duplicate or a stray event to show up before the verdict
//   {"op":"exit"}
// On start-up it prints {"type":"ready","clients":N} once every client has subscribed and
// its initial history reply (the fetch after its first subscription) has come.
"use strict";

const path = require("path");
const readline = require("readline");

const nodeModules = path.join(__dirname, "..", "tests", "node", "node_modules");
globalThis.WebSocket = require(path.join(nodeModules, "ws"));
const PushBridge = require(path.join(__dirname, "..", "pushbridge", "js", "pushbridge.js"));

const [wsHost, wsPort, appKey, historyEndpoint, channelName, eventName, clientCount, since, minDelay] =
  process.argv.slice(2);
const count = Number(clientCount);
const now = () => process.hrtime.bigint();

function report(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

// -- per-client records ----------------------------------------------------------------------

let round = null; // {id, expect}
const records = []; // per client, reset by "start"

function freshRecord() {
  return {
    connected: null, // first 'connected' state after the round began
    subscribed: null, // first pusher:subscription_succeeded after the round began
    fetchStarted: null, // first history request after the round began
    fetched: null, // its reply (body read)
    fetchStatus: null,
    fetches: 0, // history requests this round (one expected)
    received: [], // the "s" of every event of this round, in delivery order
    done: null, // when the K-th event arrived
    stray: 0, // events of another round, or without the round's shape
    resyncs: 0,
    historyErrors: 0,
  };
}

const realFetch = globalThis.fetch;
const initialFetches = new Set(); // clients whose first history reply (before any round) came

globalThis.fetch = function timedFetch(url, init) {
  const client = Number(new URL(String(url)).searchParams.get("client"));
  const record = round && Number.isInteger(client) ? records[client] : null;
  if (record) {
    record.fetches += 1;
    if (record.fetchStarted === null) record.fetchStarted = now();
  }
  return realFetch(url, init).then((response) =>
    // The shim reads the body next; time the request to its last byte, as the shim sees it.
    response.text().then((text) => {
      if (record && record.fetched === null) {
        record.fetched = now();
        record.fetchStatus = response.status;
      }
      if (!round && response.ok && initialFetches.size < count && !initialFetches.has(client)) {
        initialFetches.add(client);
        if (initialFetches.size === count) setTimeout(() => report({ type: "ready", clients: count }), 50);
      }
      return new Response(text, { status: response.status, headers: response.headers });
    })
  );
};

// -- the clients -----------------------------------------------------------------------------

const clients = [];

for (let i = 0; i < count; i++) {
  const options = {
    wsHost,
    wsPort: Number(wsPort),
    forceTLS: false,
    historyEndpoint: historyEndpoint + (historyEndpoint.includes("?") ? "&" : "?") + "client=" + i,
  };
  if (minDelay) options.reconnectMinDelay = Number(minDelay);
  const pushbridge = new PushBridge(appKey, options);
  pushbridge.connection.bind("state_change", (change) => {
    const record = round && records[i];
    if (record && change.current === "connected" && record.connected === null) record.connected = now();
  });
  const channel = pushbridge.subscribe(channelName, { since: Number(since) });
  channel.bind("pusher:subscription_succeeded", () => {
    const record = round && records[i];
    if (record && record.subscribed === null) record.subscribed = now();
  });
  channel.bind(eventName, (data) => {
    const record = round && records[i];
    if (!record) return; // between rounds nothing is sent
    if (!data || data.r !== round.id || !Number.isInteger(data.s)) {
      record.stray += 1;
      return;
    }
    record.received.push(data.s);
    if (record.received.length === round.expect) record.done = now();
  });
  channel.bind("pushbridge:resync", () => round && records[i].resyncs++);
  channel.bind("pushbridge:history_error", () => round && records[i].historyErrors++);
  clients.push(pushbridge);
}

// -- rounds ----------------------------------------------------------------------------------

function settled(record) {
  if (record.subscribed === null || record.fetched === null) return false;
  return round.expect === 0 || record.done !== null;
}

function verdict(record) {
  // Exactly once and in order: the received sequence must be 0, 1, ..., K-1 and nothing else.
  const wanted = round.expect;
  if (record.stray) return "stray events: " + record.stray;
  if (record.resyncs) return "resync";
  if (record.historyErrors) return "history error";
  if (record.received.length !== wanted) return "received " + record.received.length + " of " + wanted;
  for (let s = 0; s < wanted; s++) {
    if (record.received[s] !== s) return "out of order or duplicated at " + s + ": " + record.received[s];
  }
  return null;
}

const ns = (value) => (value === null ? null : value.toString());

function finish(timeoutMs, settleMs) {
  const deadline = Date.now() + timeoutMs;
  const check = () => {
    if (records.every(settled) || Date.now() >= deadline) {
      const complete = records.filter(settled).length;
      setTimeout(() => {
        const failures = [];
        records.forEach((record, index) => {
          const problem = verdict(record) || (settled(record) ? null : "not settled");
          if (problem) failures.push({ client: index, problem });
        });
        const cpu = process.cpuUsage(cpuAtStart);
        report({
          type: "round",
          round: round.id,
          complete,
          failures: failures.slice(0, 20),
          failed: failures.length,
          cpu_ms: (cpu.user + cpu.system) / 1000,
          connected: records.map((r) => ns(r.connected)),
          subscribed: records.map((r) => ns(r.subscribed)),
          fetch_started: records.map((r) => ns(r.fetchStarted)),
          fetched: records.map((r) => ns(r.fetched)),
          fetch_status: records.map((r) => r.fetchStatus),
          fetches: records.reduce((sum, r) => sum + r.fetches, 0),
          done: records.map((r) => ns(r.done)),
        });
        round = null;
      }, settleMs);
    } else {
      setTimeout(check, 10);
    }
  };
  check();
}

let cpuAtStart = process.cpuUsage();
const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  const command = JSON.parse(line);
  if (command.op === "clock") {
    report({ type: "clock", now: now().toString() });
  } else if (command.op === "start") {
    round = { id: command.round, expect: command.expect };
    records.length = 0;
    for (let i = 0; i < count; i++) records.push(freshRecord());
    cpuAtStart = process.cpuUsage();
    report({ type: "started", round: round.id });
  } else if (command.op === "end") {
    finish(command.timeout_ms, command.settle_ms);
  } else if (command.op === "exit") {
    for (const pushbridge of clients) pushbridge.disconnect();
    setTimeout(() => process.exit(0), 100);
  }
});
input.on("close", () => process.exit(0));
