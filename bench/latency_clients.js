// Latency clients for bench/latency.py: N real, unmodified pusher-js clients in one Node process.
//
// Usage: node bench/latency_clients.js <wsHost> <wsPort> <appKey> <channel> <event> <clients>
//
// Why Node and pusher-js: that is what a browser runs, so the measured path is the one users
// get (WebSocket frame -> pusher-js parsing -> the bound callback), not a leaner test client.
//
// Clock: the Python sender puts time.monotonic_ns() (CLOCK_MONOTONIC) into each event's data as
// a decimal string; this process reads process.hrtime.bigint(), which libuv also takes from
// CLOCK_MONOTONIC. Same clock, same machine, nanosecond resolution, no wall-clock steps: the
// difference is the latency. (Date.now() has only millisecond resolution, and
// performance.timeOrigin + performance.now() mixes in a wall-clock origin.) The "clock"
// command lets the Python side check that the two clocks agree before anything is measured.
//
// Protocol: one JSON command per line on stdin, one JSON reply per line on stdout.
//   {"op":"clock"}                         -> {"type":"clock","now":"<ns>"}
//   {"op":"start","round":"r1"}            -> {"type":"started"} (clears the samples)
//   {"op":"end","expect":K,"timeout_ms":T} -> {"type":"samples","received":n,"latencies_us":[...],
//                                              "first_us":[...],"cpu_ms":c} once K deliveries of
//                                              this round arrived or T ms passed
//   {"op":"exit"}
// On start-up it prints {"type":"ready","clients":N} once every client has subscribed.
"use strict";

const path = require("path");
const readline = require("readline");
const Pusher = require(path.join(__dirname, "..", "tests", "node", "node_modules", "pusher-js"));

const [wsHost, wsPort, appKey, channelName, eventName, clientCount] = process.argv.slice(2);
const count = Number(clientCount);
const clients = [];
let round = null;
// Preallocated: at 20,000 deliveries per second a growing array would reallocate mid-round.
let latencies = new Float64Array(1 << 20);
let received = 0;
// Per event (by sequence number): the earliest receipt among the clients, which separates the
// server's path from the time one Node process takes to hand the event to all its clients.
const first = new Float64Array(1 << 17).fill(Infinity);
let lastSeq = -1;
let cpuAtStart = process.cpuUsage();

function report(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function onEvent(data) {
  const now = process.hrtime.bigint();
  if (round === null || data.r !== round) {
    return; // a straggler of an earlier round, or the warm-up
  }
  if (received === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  const latency = Number(now - BigInt(data.t)) / 1000;
  latencies[received++] = latency;
  if (data.s < first.length && latency < first[data.s]) {
    first[data.s] = latency;
    lastSeq = Math.max(lastSeq, data.s);
  }
}

let subscribed = 0;
for (let i = 0; i < count; i++) {
  const pusher = new Pusher(appKey, {
    cluster: "local",
    wsHost,
    wsPort: Number(wsPort),
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
  });
  const channel = pusher.subscribe(channelName);
  channel.bind("pusher:subscription_succeeded", () => {
    subscribed += 1;
    if (subscribed === count) {
      report({ type: "ready", clients: count });
    }
  });
  channel.bind(eventName, onEvent);
  clients.push(pusher);
}

function finish(expect, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const check = () => {
    if (received >= expect || Date.now() >= deadline) {
      const cpu = process.cpuUsage(cpuAtStart);
      report({
        type: "samples",
        received,
        cpu_ms: (cpu.user + cpu.system) / 1000,
        latencies_us: Array.from(latencies.subarray(0, received), (v) => Math.round(v * 10) / 10),
        first_us: Array.from(first.subarray(0, lastSeq + 1), (v) => (Number.isFinite(v) ? Math.round(v * 10) / 10 : null)),
      });
      round = null;
    } else {
      setTimeout(check, 10);
    }
  };
  check();
}

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  const command = JSON.parse(line);
  if (command.op === "clock") {
    report({ type: "clock", now: process.hrtime.bigint().toString() });
  } else if (command.op === "start") {
    round = command.round;
    received = 0;
    first.fill(Infinity);
    lastSeq = -1;
    cpuAtStart = process.cpuUsage();
    report({ type: "started", round });
  } else if (command.op === "end") {
    finish(command.expect, command.timeout_ms);
  } else if (command.op === "exit") {
    for (const pusher of clients) {
      pusher.disconnect();
    }
    setTimeout(() => process.exit(0), 100);
  }
});
input.on("close", () => process.exit(0));
