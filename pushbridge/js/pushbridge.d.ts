// TypeScript declarations for pushbridge.js, pushbridge's browser client (docs/shim.md).
//
// Use it as a module (`import PushBridge from ".../pushbridge"`, with esModuleInterop) or, for a
// page that loads the classic script, as the global `PushBridge`.

export = PushBridge;
export as namespace PushBridge;

declare class PushBridge {
  /** new PushBridge(key, options): connects at once, like pusher-js. */
  constructor(key: string, options?: PushBridge.Options);

  /** A client from the configuration {% pushbridge_config %} renders. */
  static fromConfig(config: PushBridge.PageConfig): PushBridge;
  /** A client from <script type="application/json" id="pushbridge-config"> (or `elementId`). */
  static fromPage(elementId?: string, overrides?: PushBridge.Options): PushBridge;

  static readonly VERSION: string;
  /** Log connection, subscription and recovery steps (refusal reasons included) to the console. */
  static logToConsole: boolean;
  static csrfHeaders(config: PushBridge.Options, url: string): Record<string, string>;
  static fetchHistory(
    endpoint: string,
    channel: string,
    since: number,
    headers?: Record<string, string>,
  ): Promise<PushBridge.HistoryReply>;
  static unwrapEnvelope(data: unknown): PushBridge.Unwrapped | null;

  readonly key: string;
  readonly config: PushBridge.Options;
  readonly connection: PushBridge.Connection;
  readonly user: PushBridge.User;
  readonly channels: Map<string, PushBridge.Channel>;
  /** The connection's socket id while connected, else null. */
  readonly socket_id: string | null;

  connect(): this;
  disconnect(): this;
  signin(): this;

  subscribe(name: `presence-${string}`, options?: PushBridge.SubscribeOptions): PushBridge.PresenceChannel;
  subscribe(name: string, options?: PushBridge.SubscribeOptions): PushBridge.Channel;
  unsubscribe(name: string): void;
  channel(name: string): PushBridge.Channel | undefined;
  allChannels(): PushBridge.Channel[];
  send_event(event: string, data: unknown, channel?: string): boolean;

  /** POST `data` as JSON with the CSRF token and X-Socket-ID; rejects with a RequestError. */
  post<T = unknown>(url: string, data?: unknown, options?: { headers?: Record<string, string> }): Promise<T>;

  /** Callbacks for every event the connection receives, whatever its channel. */
  bind(event: string, callback: PushBridge.EventCallback, context?: unknown): this;
  unbind(event?: string | null, callback?: PushBridge.EventCallback, context?: unknown): this;
  bind_global(callback: PushBridge.GlobalCallback): this;
  unbind_global(callback?: PushBridge.GlobalCallback): this;
  unbind_all(): this;
}

declare namespace PushBridge {
  type ConnectionState = "initialized" | "connecting" | "connected" | "unavailable" | "disconnected" | "failed";

  interface EndpointOptions {
    endpoint?: string;
    params?: Record<string, string>;
    headers?: Record<string, string>;
    /** pusher-js's hook: produce the auth reply yourself. */
    customHandler?: (
      params: { socketId: string; channelName?: string },
      callback: (error: Error | null, data: AuthReply | null) => void,
    ) => void;
  }

  interface AuthReply {
    auth: string;
    channel_data?: string;
    user_data?: string;
  }

  /** pusher-js's option names, plus pushbridge's CSRF and history settings. */
  interface Options {
    cluster?: string;
    wsHost?: string;
    wsPort?: number | null;
    wssPort?: number | null;
    wsPath?: string;
    forceTLS?: boolean;
    channelAuthorization?: EndpointOptions;
    userAuthentication?: EndpointOptions;
    /** Deprecated pusher-js spellings, still understood. */
    authEndpoint?: string;
    auth?: { params?: Record<string, string>; headers?: Record<string, string> };
    activityTimeout?: number;
    pongTimeout?: number;
    unavailableTimeout?: number;
    handshakeTimeout?: number;
    reconnectMinDelay?: number;
    reconnectMaxDelay?: number;
    csrfToken?: string;
    csrfHeaderName?: string;
    csrfCookieName?: string;
    /** Where missed events are fetched after a reconnect (set by {% pushbridge_config %}). */
    historyEndpoint?: string;
  }

  /** What {% pushbridge_config %} renders: the options plus the app key. */
  interface PageConfig extends Options {
    key: string;
  }

  interface SubscribeOptions {
    /** The channel's history position when the page was rendered: later events are fetched. */
    since?: number;
  }

  interface Metadata {
    /** The sender of a client event on a presence channel. */
    user_id?: string;
  }

  type EventCallback<T = any> = (data: T, metadata?: Metadata) => void;
  type GlobalCallback = (event: string, data: any) => void;

  /** Details of pusher:subscription_error, pusher:signin_error and pushbridge:history_error. */
  interface ErrorDetails {
    type: "AuthError" | "HistoryError";
    /** The whole message, the server's reason included. */
    error: string;
    /** The HTTP status (0 when the endpoint could not be reached). */
    status?: number;
    /** The view's own reason: the "error" of its JSON reply, or null. */
    reason: string | null;
  }

  interface ResyncDetails {
    /** The last position the page had. */
    since: number;
    /** The channel's latest position now. */
    position: number;
  }

  interface RequestError extends Error {
    status: number;
    response?: unknown;
    reason?: string | null;
  }

  interface StateChange {
    previous: ConnectionState;
    current: ConnectionState;
  }

  interface HistoryEvent {
    id: string;
    position: number;
    event: string;
    data: unknown;
  }

  interface HistoryReply {
    channel: string;
    position: number;
    resync: boolean;
    events: HistoryEvent[];
  }

  interface Unwrapped {
    id: string;
    position: number;
    data: unknown;
  }

  class Emitter {
    bind(event: string, callback: EventCallback, context?: unknown): this;
    unbind(event?: string | null, callback?: EventCallback, context?: unknown): this;
    bind_global(callback: GlobalCallback): this;
    unbind_global(callback?: GlobalCallback): this;
    unbind_all(): this;
    emit(event: string, data?: unknown, metadata?: Metadata): this;
  }

  class Channel extends Emitter {
    readonly name: string;
    readonly pusher: PushBridge;
    readonly subscribed: boolean;
    readonly subscriptionPending: boolean;
    readonly subscriptionCount: number | null;
    /** The last history position delivered; null for channels without history. */
    readonly position: number | null;
    bind(event: "pusher:subscription_error", callback: (error: ErrorDetails) => void, context?: unknown): this;
    bind(event: "pushbridge:history_error", callback: (error: ErrorDetails) => void, context?: unknown): this;
    bind(event: "pushbridge:resync", callback: (details: ResyncDetails) => void, context?: unknown): this;
    bind(event: string, callback: EventCallback, context?: unknown): this;
    /** Send a client event ("client-..."); private and presence channels only. */
    trigger(event: `client-${string}`, data?: unknown): boolean;
  }

  interface Member<Info = any> {
    id: string;
    info: Info;
  }

  class Members<Info = any> {
    readonly members: Record<string, Info>;
    readonly count: number;
    readonly myID: string | null;
    readonly me: Member<Info> | null;
    get(id: string): Member<Info> | null;
    each(callback: (member: Member<Info>) => void): void;
  }

  class PresenceChannel<Info = any> extends Channel {
    readonly members: Members<Info>;
    bind(event: "pusher:subscription_succeeded", callback: (members: Members<Info>) => void, context?: unknown): this;
    bind(event: "pusher:member_added" | "pusher:member_removed", callback: (member: Member<Info>) => void, context?: unknown): this;
    bind(event: "pusher:subscription_error", callback: (error: ErrorDetails) => void, context?: unknown): this;
    bind(event: "pushbridge:history_error", callback: (error: ErrorDetails) => void, context?: unknown): this;
    bind(event: "pushbridge:resync", callback: (details: ResyncDetails) => void, context?: unknown): this;
    bind(event: string, callback: EventCallback, context?: unknown): this;
  }

  class Connection extends Emitter {
    readonly state: ConnectionState;
    readonly socket_id: string | null;
    bind(event: "state_change", callback: (change: StateChange) => void, context?: unknown): this;
    bind(event: "connected", callback: (data: { socket_id: string }) => void, context?: unknown): this;
    bind(event: "connecting_in", callback: (seconds: number) => void, context?: unknown): this;
    bind(event: "error", callback: (error: { type: string; error?: unknown; data?: any }) => void, context?: unknown): this;
    bind(event: ConnectionState, callback: () => void, context?: unknown): this;
    bind(event: string, callback: EventCallback, context?: unknown): this;
  }

  class User extends Emitter {
    readonly user_data: { id: string; user_info?: unknown; [key: string]: unknown } | null;
    readonly signin_requested: boolean;
    signin(): void;
    bind(event: "pusher:signin_error", callback: (error: ErrorDetails) => void, context?: unknown): this;
    bind(event: string, callback: EventCallback, context?: unknown): this;
  }

  /** One channel's recovery (used by pushbridge-pusher.js too). */
  class Recovery {
    constructor(options: {
      since?: number | null;
      fetch: ((since: number) => Promise<HistoryReply>) | null;
      deliver: (event: string, data: unknown, metadata: Metadata) => void;
      resync: (details: ResyncDetails) => void;
      failed: (error: RequestError) => void;
    });
    readonly position: number | null;
    readonly recovering: boolean;
    receive(event: string, data: unknown, metadata: Metadata): void;
    subscribed(): void;
    cancel(): void;
  }
}
