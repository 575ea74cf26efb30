// TypeScript declarations for pushbridge-pusher.js: pushbridge's page configuration and history
// for pusher-js and Laravel Echo (docs/shim.md, "pusher-js and Laravel Echo").

import PushBridge = require("./pushbridge");

export = PushBridgePusher;
export as namespace PushBridgePusher;

declare namespace PushBridgePusher {
  type Transport = "ws" | "wss" | "xhr_streaming" | "xhr_polling" | "sockjs";

  interface AuthEndpoint {
    endpoint: string;
    transport: "ajax" | "jsonp";
    headers: Record<string, string>;
    params?: Record<string, string>;
  }

  /** What options() returns: assignable to pusher-js's Options. */
  interface PusherOptions {
    cluster: string;
    wsHost?: string;
    wsPort?: number;
    wssPort?: number;
    wsPath?: string;
    forceTLS?: boolean;
    enabledTransports?: Transport[];
    channelAuthorization: AuthEndpoint;
    userAuthentication: AuthEndpoint;
    activityTimeout?: number;
    pongTimeout?: number;
    unavailableTimeout?: number;
  }

  interface EchoOptions extends PusherOptions {
    broadcaster: "pusher";
    key: string;
  }

  /** The parts of a pusher-js client and channel this module uses. */
  interface PusherLike {
    subscribe(name: string): PusherChannelLike;
  }

  interface PusherChannelLike {
    readonly subscribed: boolean;
    bind_global(callback: (event: string, data: any) => void): unknown;
  }

  interface HistorySettings {
    /** The channel's position when the page was rendered ({% pushbridge_position %}). */
    since?: number;
    /** The history endpoint; defaults to the page configuration's historyEndpoint. */
    endpoint?: string;
    /** The page configuration to read historyEndpoint from, instead of the page's script. */
    config?: PushBridge.PageConfig;
    /** Extra headers for the history request. */
    headers?: Record<string, string>;
  }

  /** A pusher-js channel seen through pushbridge's history: unwrapped, recovered, de-duplicated. */
  interface HistoryChannel extends PushBridge.Emitter {
    readonly name: string;
    /** The pusher-js channel underneath. */
    readonly channel: PusherChannelLike;
    /** The last history position delivered (null until one is known). */
    readonly position: number | null;
    bind(event: "pushbridge:resync", callback: (details: PushBridge.ResyncDetails) => void, context?: unknown): this;
    bind(event: "pushbridge:history_error", callback: (error: PushBridge.ErrorDetails) => void, context?: unknown): this;
    bind(event: string, callback: PushBridge.EventCallback, context?: unknown): this;
  }

  function readConfig(elementId?: string): PushBridge.PageConfig;
  function options(config: PushBridge.PageConfig, overrides?: Partial<PusherOptions>): PusherOptions;
  function echoOptions(config: PushBridge.PageConfig, overrides?: Record<string, unknown>): EchoOptions;
  function fromPage<Client>(
    Pusher: new (key: string, options: PusherOptions) => Client,
    elementId?: string,
    overrides?: Partial<PusherOptions>,
  ): Client;
  function withHistory(pusher: PusherLike, name: string, settings?: HistorySettings): HistoryChannel;
  function unwrap(data: unknown): PushBridge.Unwrapped | null;
}
