// Mistakes the declarations must catch; tests/browser/test_typescript.py expects each error.
import PushBridge from "../../../pushbridge/js/pushbridge";

const client = PushBridge.fromPage();
client.subscribe("private-orders").trigger("typing", {}); // not a client- event
client.subscribe("news", { since: "41" }); // since is a number
client.connection.bind("state_change", (change) => change.current === "online"); // no such state
client.subscribe("presence-room").members.cont; // misspelt
