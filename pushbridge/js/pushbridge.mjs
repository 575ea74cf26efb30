// ES module entry point for pushbridge.js.
//
// pushbridge.js is a classic (UMD-style) script so that a plain <script> tag works without a
// build step; one file cannot also carry `export` syntax. Importing it for its side effect
// defines globalThis.PushBridge, which this module re-exports:
//
//   import PushBridge from "/static/pushbridge/pushbridge.mjs";
//   import { PushBridge } from "/static/pushbridge/pushbridge.mjs";
import "./pushbridge.js";

const PushBridge = globalThis.PushBridge;
export { PushBridge };
export default PushBridge;
