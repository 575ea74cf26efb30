// How a page written in TypeScript uses pushbridge.js and pushbridge-pusher.js; `tsc` checks it
// against the shipped declarations (tests/browser/test_typescript.py).
import Pusher from "pusher-js";
import PushBridge from "../../../pushbridge/js/pushbridge";
import PushBridgePusher from "../../../pushbridge/js/pushbridge-pusher";

PushBridge.logToConsole = true;
const client: PushBridge = PushBridge.fromPage(undefined, { unavailableTimeout: 5000 });
const direct = new PushBridge("app-key", { wsHost: "127.0.0.1", wsPort: 6001, forceTLS: false });
direct.disconnect();

interface Order {
  id: number;
  status: string;
}

const orders = client.subscribe("private-orders", { since: 41 });
orders.bind("order.updated", (order: Order) => console.log(order.id, order.status));
orders.bind("pusher:subscription_error", (error) => console.log(error.status, error.reason ?? error.error));
orders.bind("pushbridge:resync", (details) => console.log("reload from", details.since, "to", details.position));
orders.bind("pushbridge:history_error", (error) => console.log(error.type, error.reason));
const position: number | null = orders.position;
orders.trigger("client-typing", { position });
orders.unbind("order.updated");

const room = client.subscribe("presence-room-1");
room.bind("pusher:subscription_succeeded", (members) => members.each((member) => console.log(member.id)));
room.bind("pusher:member_added", (member) => console.log(member.info));
const count: number = room.members.count;
console.log(count, room.members.me?.id);

client.connection.bind("state_change", ({ previous, current }) => console.log(previous, "->", current));
client.bind_global((event, data) => console.log(event, data));
client.user.bind("notify", (data) => console.log(data));
client.user.bind("pusher:signin_error", (error) => console.log(error.reason));
client.signin();

client
  .post<{ ok: boolean }>("/orders/1/ship/", { note: "today" })
  .then((reply) => console.log(reply.ok))
  .catch((error: PushBridge.RequestError) => console.log(error.status, error.response));

// pusher-js and Laravel Echo from the same page configuration.
const config = PushBridgePusher.readConfig();
const pusher = PushBridgePusher.fromPage(Pusher);
const same = new Pusher(config.key, PushBridgePusher.options(config));
const echoOptions = PushBridgePusher.echoOptions(config);
console.log(echoOptions.broadcaster, same.connection.state);
const history = PushBridgePusher.withHistory(pusher, "private-orders", { since: 41 });
history.bind("order.updated", (order: Order) => console.log(order.status));
history.bind("pushbridge:resync", (details) => console.log(details.position));
