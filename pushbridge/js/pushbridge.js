/*!
 * pushbridge.js — a small, dependency-free browser client for the Pusher Channels protocol (7).
 *
 * It speaks the same wire protocol as pusher-js, to hosted Pusher, Soketi or pushbridge's
 * embedded server, with the pusher-js API a Django page typically needs: channels, private and
 * presence auth, client events, signin and per-user events, reconnection. It adds what a Django
 * page wants on top: CSRF-aware auth requests, config rendered by the template tag
 * (PushBridge.fromPage) and post() to Django views with the X-Socket-ID header.
 *
 * Not supported: private-encrypted- channels (they need tweetnacl; use pusher-js/with-encryption),
 * HTTP fallback transports, watchlists, stats.
 *
 * Loads as a classic script (window.PushBridge), through require() (module.exports) and, via
 * pushbridge.mjs, as an ES module.
 */
(function (root, factory) {
  'use strict';
  var PushBridge = factory(root);
  if (typeof module === 'object' && module && module.exports) module.exports = PushBridge;
  if (root) root.PushBridge = PushBridge;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this, function (root) {
  'use strict';

  const VERSION = '0.1.0';
  const PROTOCOL = 7;
  const DEFAULTS = {
    activityTimeout: 120000, // pusher-js default; the server's activity_timeout may shorten it
    pongTimeout: 30000,
    unavailableTimeout: 10000, // how long "connecting" lasts before we admit "unavailable"
    handshakeTimeout: 15000, // per attempt: socket open + pusher:connection_established
    reconnectMinDelay: 1000,
    reconnectMaxDelay: 30000,
    csrfHeaderName: 'X-CSRFToken',
    csrfCookieName: 'csrftoken',
  };

  function log() {
    if (PushBridge.logToConsole && typeof console !== 'undefined') {
      console.log.apply(console, ['[pushbridge]'].concat(Array.prototype.slice.call(arguments)));
    }
  }

  // A throwing user callback must not stop the other callbacks or the message loop, yet it
  // should still reach the console / window.onerror, so rethrow it outside our stack.
  function safeCall(fn, context, args) {
    try {
      fn.apply(context, args);
    } catch (err) {
      setTimeout(function () { throw err; }, 0);
    }
  }

  // pusher-js hands callbacks parsed JSON when the data parses and the raw string otherwise.
  function parseData(data) {
    if (typeof data !== 'string') return data;
    try { return JSON.parse(data); } catch (_) { return data; }
  }

  function readCookie(name) {
    if (typeof document === 'undefined' || !document.cookie) return null;
    for (const part of document.cookie.split(';')) {
      const eq = part.indexOf('=');
      if (eq > -1 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
    }
    return null;
  }

  // The CSRF token must never leak to another origin (Django's docs say the same), so it is
  // only attached to requests for this page's origin.
  function isSameOrigin(url) {
    if (!root.location) return false;
    try { return new URL(url, root.location.href).origin === root.location.origin; } catch (_) { return false; }
  }

  /**
   * The CSRF header Django wants on a POST to `url`: the token from the page configuration or
   * the csrftoken cookie, under the configured header name; nothing for other origins.
   */
  function csrfHeaders(config, url) {
    if (!isSameOrigin(url)) return {};
    const token = config.csrfToken || readCookie(config.csrfCookieName || DEFAULTS.csrfCookieName);
    const headers = {};
    if (token) headers[config.csrfHeaderName || DEFAULTS.csrfHeaderName] = token;
    return headers;
  }

  function channelKind(name) {
    if (name.indexOf('private-encrypted-') === 0) return 'encrypted';
    if (name.indexOf('private-') === 0) return 'private';
    if (name.indexOf('presence-') === 0) return 'presence';
    return 'public';
  }

  // -- events --------------------------------------------------------------------------------

  /** bind/unbind/bind_global with pusher-js semantics: callbacks get (data, metadata?). */
  class Emitter {
    constructor() {
      this._callbacks = Object.create(null);
      this._globals = [];
    }

    bind(event, callback, context) {
      (this._callbacks[event] = this._callbacks[event] || []).push({ fn: callback, context: context });
      return this;
    }

    unbind(event, callback, context) {
      const names = event == null ? Object.keys(this._callbacks) : [event];
      for (const name of names) {
        const kept = (this._callbacks[name] || []).filter(function (entry) {
          return (callback && entry.fn !== callback) || (context && entry.context !== context);
        });
        if (kept.length) this._callbacks[name] = kept;
        else delete this._callbacks[name];
      }
      return this;
    }

    bind_global(callback) { this._globals.push(callback); return this; }

    unbind_global(callback) {
      this._globals = callback ? this._globals.filter((fn) => fn !== callback) : [];
      return this;
    }

    unbind_all() { return this.unbind().unbind_global(); }

    emit(event, data, metadata) {
      for (const fn of this._globals.slice()) safeCall(fn, null, [event, data]);
      for (const entry of (this._callbacks[event] || []).slice()) {
        safeCall(entry.fn, entry.context || root, metadata ? [data, metadata] : [data]);
      }
      return this;
    }
  }

  // -- auth ----------------------------------------------------------------------------------

  /**
   * The reason a Django view gave for refusing a request: the JSON body's "error" (pushbridge's
   * views answer {"error": "..."}), else null. Without it a page only learns the status code.
   */
  function reasonOf(body) {
    if (body && typeof body === 'object' && typeof body.error === 'string' && body.error) return body.error;
    return null;
  }

  /** An Error with the HTTP status and the server's reason, for error events and rejections. */
  function requestError(message, status, reason) {
    const error = new Error(reason ? message + ': ' + reason : message);
    error.status = status;
    error.reason = reason || null;
    return error;
  }

  // Failed requests to Django that another try may fix (unreachable: status 0, or a 5xx) are
  // retried after 0.5, 1, 2, 4... seconds, at most 30 s apart.
  const TRANSIENT_RETRY_DELAY = 500;
  const TRANSIENT_RETRY_MAX = 30000;

  function isTransient(error) {
    return error.status === 0 || error.status >= 500;
  }

  function transientRetryDelay(failures) {
    return Math.min(TRANSIENT_RETRY_MAX, TRANSIENT_RETRY_DELAY * Math.pow(2, failures));
  }

  /** What error events carry (pusher-js's {type, error, status}) plus the server's reason. */
  function errorDetails(type, error) {
    const details = { type: type, error: error.message };
    if (error.status !== undefined) details.status = error.status;
    details.reason = error.reason || null;
    return details;
  }

  /**
   * POST form fields to an auth endpoint the way pusher-js's ajax transport does, plus the CSRF
   * header Django insists on. Resolves to the parsed JSON reply; rejects with error.status.
   */
  function requestAuth(client, settings, fields) {
    if (typeof settings.customHandler === 'function') {
      return new Promise(function (resolve, reject) {
        settings.customHandler(
          { socketId: fields.socket_id, channelName: fields.channel_name },
          function (err, data) {
            if (err) reject(err instanceof Error ? err : new Error(String(err)));
            else resolve(data);
          }
        );
      });
    }
    const body = new URLSearchParams();
    for (const name of Object.keys(fields)) if (fields[name] != null) body.append(name, fields[name]);
    const params = settings.params || {};
    for (const name of Object.keys(params)) body.append(name, params[name]);
    const headers = Object.assign(
      { 'Content-Type': 'application/x-www-form-urlencoded' },
      client._csrfHeaders(settings.endpoint),
      settings.headers || {}
    );
    const init = { method: 'POST', headers: headers, body: body.toString(), credentials: 'same-origin' };
    return fetch(settings.endpoint, init)
      .catch(function (err) {
        throw requestError('Could not reach the auth endpoint ' + settings.endpoint, 0, err.message);
      })
      .then(function (response) {
        return response.text().then(function (text) {
          if (response.status !== 200) {
            const status = response.status;
            const reason = reasonOf(parseData(text));
            throw requestError('Could not get auth info from your auth endpoint, status: ' + status, status, reason);
          }
          try {
            return JSON.parse(text);
          } catch (_) {
            const message = 'JSON returned from auth endpoint was invalid, yet status code was 200. Data was: ';
            throw requestError(message + text, 200);
          }
        });
      });
  }

  // -- history: positions, duplicates and recovery -------------------------------------------

  /**
   * The parts of a history envelope, {"pushbridge": {"id", "position"}, "data": value}, which
   * is how events of channels with history travel; null for anything else (those events are
   * delivered exactly as they came, so channels without history see what they always saw).
   */
  function unwrapEnvelope(data) {
    if (!data || typeof data !== 'object' || Array.isArray(data)) return null;
    const meta = data.pushbridge;
    if (!meta || typeof meta !== 'object' || typeof meta.id !== 'string' || !Number.isInteger(meta.position)) {
      return null;
    }
    if (!Object.prototype.hasOwnProperty.call(data, 'data')) return null;
    return { id: meta.id, position: meta.position, data: data.data };
  }

  /** GET the history endpoint: the channel's events after position `since`, as the reply JSON. */
  function fetchHistory(endpoint, channel, since, headers) {
    const base = root.location ? root.location.href : undefined;
    const url = new URL(endpoint, base);
    url.searchParams.set('channel', channel);
    url.searchParams.set('since', String(since));
    const init = { credentials: 'same-origin', headers: Object.assign({ Accept: 'application/json' }, headers || {}) };
    return fetch(url.toString(), init)
      .catch(function (err) {
        throw requestError('Could not reach the history endpoint ' + endpoint, 0, err.message);
      })
      .then(function (response) {
        return response.text().then(function (text) {
          const body = parseData(text);
          if (!response.ok) {
            const message = 'Could not get the history of ' + channel + ', status: ' + response.status;
            throw requestError(message, response.status, reasonOf(body));
          }
          if (!body || typeof body !== 'object' || !Array.isArray(body.events)) {
            throw requestError('The history endpoint answered something other than a history reply', response.status,
              String(text).slice(0, 200));
          }
          return body;
        });
      });
  }

  // How many recent event ids a channel remembers to drop duplicates that positions miss.
  const REMEMBERED_IDS = 1000;
  // A history fetch that fails for want of a server is retried after 0.5, 1, 2 and 4 s.
  const HISTORY_RETRIES = 4;

  /**
   * One channel's recovery: the last position seen, duplicates dropped, and after each
   * (re)subscription the events missed meanwhile fetched and delivered before any live event
   * that arrived while fetching. Used by the shim's channels and by the pusher-js adapter.
   *
   * options: since (the page's position at render time, or null), fetch(since) -> Promise of
   * the history reply (omit it to only unwrap and de-duplicate), deliver(event, data, metadata),
   * resync(details), failed(error).
   */
  class Recovery {
    constructor(options) {
      this.position = options.since == null ? null : Number(options.since);
      if (this.position !== null && !Number.isInteger(this.position)) {
        throw new Error('since must be an integer position (from the pushbridge_position tag), not ' + options.since);
      }
      this._options = options;
      this._ids = new Set();
      this._idOrder = [];
      this._held = null; // live events that arrived while a fetch was in flight, in order
      this._generation = 0;
    }

    /** True while missed events are being fetched (live ones are held back meanwhile). */
    get recovering() {
      return this._held !== null;
    }

    /** A live event from the socket. */
    receive(event, data, metadata) {
      if (this._held) this._held.push([event, data, metadata]);
      else this._live(event, data, metadata);
    }

    /** The channel is (re)subscribed: fetch what was missed since the last position seen. */
    subscribed() {
      if (this.position === null || !this._options.fetch) return;
      const generation = ++this._generation; // a newer subscription makes older replies stale
      if (!this._held) this._held = [];
      this._fetch(generation, this.position, 0);
    }

    _fetch(generation, since, attempt) {
      this._options.fetch(since).then(
        (reply) => {
          if (generation === this._generation) this._recovered(since, reply);
        },
        (error) => {
          if (generation !== this._generation) return;
          // An unreachable or failing server (a deploy, a restart) gets a few more tries before
          // the page is told; a refusal (4xx) is final at once.
          if (isTransient(error) && attempt < HISTORY_RETRIES) {
            setTimeout(() => {
              if (generation === this._generation) this._fetch(generation, since, attempt + 1);
            }, transientRetryDelay(attempt));
            return;
          }
          this._options.failed(error);
          this._release();
        }
      );
    }

    /** The channel is gone (unsubscribed): a fetch in flight and the events held are dropped. */
    cancel() {
      this._generation++;
      this._held = null;
    }

    _recovered(since, reply) {
      if (reply.resync) {
        // The gap is older than the kept window: the page must reload its state instead.
        if (Number.isInteger(reply.position)) this.position = Math.max(this.position, reply.position);
        this._options.resync({ since: since, position: reply.position });
      } else {
        for (const missed of reply.events) {
          this._accept(missed.id, missed.position, missed.event, missed.data, {});
        }
      }
      this._release();
    }

    _release() {
      const held = this._held || [];
      this._held = null;
      for (const [event, data, metadata] of held) this._live(event, data, metadata);
    }

    _live(event, data, metadata) {
      const envelope = unwrapEnvelope(data);
      if (envelope) this._accept(envelope.id, envelope.position, event, envelope.data, metadata);
      else this._options.deliver(event, data, metadata);
    }

    _accept(id, position, event, data, metadata) {
      if (this._ids.has(id) || (this.position !== null && position <= this.position)) return; // seen already
      this._ids.add(id);
      this._idOrder.push(id);
      if (this._idOrder.length > REMEMBERED_IDS) this._ids.delete(this._idOrder.shift());
      this.position = position;
      this._options.deliver(event, data, metadata);
    }
  }

  // -- channels ------------------------------------------------------------------------------

  class Channel extends Emitter {
    constructor(name, client, options) {
      super();
      this.name = name;
      this.pusher = client;
      // Channels of the client emit their events on its global emitter too; the user's
      // server-to-user channel does not (the client routes those itself).
      this._global = !(options && options.global === false);
      const endpoint = client.config.historyEndpoint;
      if (options && options.since != null && !endpoint) {
        log('subscribe(' + name + ', {since}) without a historyEndpoint: missed events cannot be fetched');
      }
      this._recovery = new Recovery({
        since: options && options.since,
        fetch: endpoint ? (since) => fetchHistory(endpoint, name, since) : null,
        deliver: (event, data, metadata) => this._deliver(event, data, metadata),
        resync: (details) => {
          log('history of ' + name + ' is gone since position ' + details.since + ': pushbridge:resync');
          this.emit('pushbridge:resync', details);
        },
        failed: (error) => {
          log('recovery of ' + name + ' failed:', error.message);
          this.emit('pushbridge:history_error', errorDetails('HistoryError', error));
        },
      });
      this.subscribed = false;
      this.subscriptionPending = false;
      this.subscriptionCount = null;
      // Bumped whenever an in-flight subscribe attempt becomes stale (disconnect, unsubscribe),
      // so a late auth reply is dropped instead of being sent on the wrong socket.
      this._attempt = 0;
      this._subscribeSent = false;
      this._authFailures = 0;
    }

    /** Send a client event. Like pusher-js, the name must start with "client-". */
    trigger(event, data) {
      if (typeof event !== 'string' || event.indexOf('client-') !== 0) {
        throw new Error("Event '" + event + "' does not start with 'client-'");
      }
      if (channelKind(this.name) === 'public') {
        throw new Error("Client events are only allowed on private- and presence- channels, not on '" +
          this.name + "'");
      }
      if (!this.subscribed) log('client event ' + event + " sent before '" + this.name + "' was subscribed");
      return this.pusher.send_event(event, data, this.name);
    }

    _authorize() {
      return Promise.resolve({ auth: '' });
    }

    _subscribe() {
      if (this.subscribed || this.subscriptionPending) return;
      const client = this.pusher;
      const socketId = client.connection.socket_id;
      const attempt = ++this._attempt;
      this.subscriptionPending = true;
      const stale = () => attempt !== this._attempt || socketId !== client.connection.socket_id;
      this._authorize(socketId).then(
        (data) => {
          if (stale()) return;
          const payload = { auth: data.auth, channel: this.name };
          if (data.channel_data != null) payload.channel_data = data.channel_data;
          this._subscribeSent = client.send_event('pusher:subscribe', payload);
        },
        (error) => {
          if (stale()) return;
          this.subscriptionPending = false;
          log('subscription to ' + this.name + ' refused:', error.message);
          this.emit('pusher:subscription_error', errorDetails('AuthError', error));
          // Django restarting or unreachable is no refusal: try again while the socket lasts.
          if (isTransient(error)) {
            setTimeout(() => {
              if (!stale() && client.channels.get(this.name) === this) this._subscribe();
            }, transientRetryDelay(this._authFailures++));
          }
        }
      );
    }

    _unsubscribe() {
      if (this.subscribed || this._subscribeSent) this.pusher.send_event('pusher:unsubscribe', { channel: this.name });
      this._recovery.cancel();
      this._disconnect();
    }

    /** The socket is gone: the server forgot this subscription, so must we. */
    _disconnect() {
      this._attempt++;
      this.subscribed = false;
      this.subscriptionPending = false;
      this._subscribeSent = false;
    }

    _handle(message) {
      const event = message.event;
      if (event === 'pusher_internal:subscription_succeeded') {
        this.subscriptionPending = false;
        this.subscribed = true;
        this._authFailures = 0;
        this._succeeded(message.data);
      } else if (event === 'pusher_internal:subscription_count') {
        if (message.data && message.data.subscription_count) this.subscriptionCount = message.data.subscription_count;
        this.emit('pusher:subscription_count', message.data);
      } else if (event.indexOf('pusher_internal:') === 0) {
        this._internal(message);
      } else if (event.indexOf('pusher:') === 0) {
        if (event === 'pusher:subscription_error') this.subscriptionPending = false;
        this._deliver(event, message.data, {});
      } else {
        this._recovery.receive(event, message.data, message.user_id !== undefined ? { user_id: message.user_id } : {});
      }
    }

    /** The last history position this channel delivered (null for channels without history). */
    get position() {
      return this._recovery.position;
    }

    _deliver(event, data, metadata) {
      this.emit(event, data, metadata);
      if (this._global) this.pusher.global_emitter.emit(event, data);
    }

    _succeeded(data) {
      this.emit('pusher:subscription_succeeded', data);
      this._recovery.subscribed();
    }

    _internal() {}
  }

  class PrivateChannel extends Channel {
    _authorize(socketId) {
      return requestAuth(this.pusher, this.pusher.config.channelAuthorization, {
        socket_id: socketId,
        channel_name: this.name,
      });
    }
  }

  /** The same shape as pusher-js's Members: hash of id -> info, count, me, each, get. */
  class Members {
    constructor() {
      this.reset();
    }

    get(id) {
      return Object.prototype.hasOwnProperty.call(this.members, id) ? { id: id, info: this.members[id] } : null;
    }

    each(callback) {
      for (const id of Object.keys(this.members)) callback(this.get(id));
    }

    reset() {
      this.members = {};
      this.count = 0;
      this.myID = null;
      this.me = null;
    }
  }

  class PresenceChannel extends PrivateChannel {
    constructor(name, client, options) {
      super(name, client, options);
      this.members = new Members();
    }

    _authorize(socketId) {
      return super._authorize(socketId).then((data) => {
        if (data.channel_data != null) {
          this.members.myID = JSON.parse(data.channel_data).user_id;
          return data;
        }
        // Without channel_data the server uses the signed-in user as the member (pusher-js 8).
        return this.pusher.user._whenSignedIn().then((userData) => {
          if (!userData) {
            throw new Error("Invalid auth response for channel '" + this.name +
              "': expected 'channel_data', or the user should be signed in.");
          }
          this.members.myID = userData.id;
          return data;
        });
      });
    }

    _succeeded(data) {
      const presence = (data && data.presence) || {};
      this.members.members = presence.hash || {};
      this.members.count = presence.count || 0;
      this.members.me = this.members.get(this.members.myID);
      this.emit('pusher:subscription_succeeded', this.members);
      this._recovery.subscribed();
    }

    _internal(message) {
      const data = message.data || {};
      if (message.event === 'pusher_internal:member_added') {
        // A second connection of a known user only refreshes its info, it does not count twice.
        if (this.members.get(data.user_id) === null) this.members.count++;
        this.members.members[data.user_id] = data.user_info;
        this.emit('pusher:member_added', this.members.get(data.user_id));
      } else if (message.event === 'pusher_internal:member_removed') {
        const member = this.members.get(data.user_id);
        if (member) {
          delete this.members.members[data.user_id];
          this.members.count--;
          this.emit('pusher:member_removed', member);
        }
      }
    }

    _disconnect() {
      const myID = this.members.myID;
      this.members.reset();
      this.members.myID = myID; // re-set by the next auth anyway; keeps `me` resolvable meanwhile
      super._disconnect();
    }
  }

  // -- the signed-in user --------------------------------------------------------------------

  /**
   * pusher.user: signin() authenticates the connection as a user, then listens on
   * #server-to-user-{id}; events sent there (send_to_user) are emitted on this object.
   */
  class User extends Emitter {
    constructor(client) {
      super();
      this.pusher = client;
      this.user_data = null;
      this.signin_requested = false;
      this.serverToUserChannel = null;
      this._waiters = [];
      this._attempt = 0;
      this._failures = 0;
    }

    signin() {
      if (this.signin_requested) return;
      this.signin_requested = true;
      this._signin();
    }

    _signin() {
      const client = this.pusher;
      if (!this.signin_requested || client.connection.state !== 'connected') return;
      const socketId = client.connection.socket_id;
      const attempt = ++this._attempt;
      requestAuth(client, client.config.userAuthentication, { socket_id: socketId }).then(
        (data) => {
          if (attempt !== this._attempt || socketId !== client.connection.socket_id) return;
          client.send_event('pusher:signin', { auth: data.auth, user_data: data.user_data });
        },
        (error) => {
          if (attempt !== this._attempt) return;
          log('signin refused:', error.message);
          this.emit('pusher:signin_error', errorDetails('AuthError', error));
          this._cleanup();
          if (isTransient(error)) {
            const current = this._attempt; // a disconnect or a newer signin makes this retry stale
            setTimeout(() => {
              if (current === this._attempt && socketId === client.connection.socket_id) this._signin();
            }, transientRetryDelay(this._failures++));
          }
        }
      );
    }

    _onSigninSuccess(data) {
      let userData = null;
      try {
        userData = JSON.parse(data.user_data);
      } catch (_) { /* reported below */ }
      if (!userData || typeof userData.id !== 'string' || userData.id === '') {
        log('signin_success without a usable user_data.id:', data && data.user_data);
        this._cleanup();
        return;
      }
      if (this.serverToUserChannel) this.serverToUserChannel.unbind_all()._disconnect();
      this.user_data = userData;
      this._failures = 0;
      const channel = new Channel('#server-to-user-' + userData.id, this.pusher, { global: false });
      channel.bind_global((event, payload) => {
        if (event.indexOf('pusher:') !== 0 && event.indexOf('pusher_internal:') !== 0) this.emit(event, payload);
      });
      this.serverToUserChannel = channel;
      channel._subscribe();
      this._settle();
    }

    _handle(message) {
      if (message.event === 'pusher:signin_success') this._onSigninSuccess(message.data || {});
      const channel = this.serverToUserChannel;
      if (channel && message.channel === channel.name) channel._handle(message);
    }

    _cleanup() {
      this._attempt++;
      this.user_data = null;
      if (this.serverToUserChannel) {
        this.serverToUserChannel.unbind_all();
        this.serverToUserChannel._disconnect();
        this.serverToUserChannel = null;
      }
      this._settle();
    }

    /** Resolves with user_data once a requested signin settles (null if none was requested). */
    _whenSignedIn() {
      if (this.user_data || !this.signin_requested) return Promise.resolve(this.user_data);
      return new Promise((resolve) => this._waiters.push(resolve));
    }

    _settle() {
      const waiters = this._waiters;
      this._waiters = [];
      for (const resolve of waiters) resolve(this.user_data);
    }
  }

  // -- the connection ------------------------------------------------------------------------

  /**
   * One WebSocket at a time, with pusher-js's states:
   * initialized -> connecting -> connected; unavailable after unavailableTimeout without a
   * connection (retrying goes on, and the state stays "unavailable" until connected);
   * disconnected after disconnect() or a refusal (4000-4099, >= 4300); failed without WebSocket.
   */
  class Connection extends Emitter {
    constructor(client) {
      super();
      this.pusher = client;
      this.state = 'initialized';
      this.socket_id = null;
      this._ws = null;
      this._wanted = false;
      this._failures = 0;
      this._timers = {};
      this._activityTimeout = client.config.activityTimeout;
      this._immediateRetryUsed = false;
      this._tls = false;
      if (root.addEventListener) {
        // Back online: don't sit out the rest of a long back-off.
        root.addEventListener('online', () => {
          if (this._wanted && this._timers.retry) this._retry(0);
        });
      }
    }

    connect() {
      this._wanted = true;
      if (this._ws || this._timers.retry) return;
      this._failures = 0;
      this._immediateRetryUsed = false;
      this._open();
    }

    disconnect() {
      this._wanted = false;
      this._clearTimers();
      const ws = this._ws;
      this._ws = null;
      this.socket_id = null;
      if (ws) ws.close(1000, 'disconnect() called');
      this._setState('disconnected');
    }

    send(message) {
      if (!this._ws || this.state !== 'connected') return false;
      this._ws.send(JSON.stringify(message));
      return true;
    }

    url() {
      const config = this.pusher.config;
      const location = root.location;
      const tls = this._tls || config.forceTLS === true || (!!location && location.protocol === 'https:');
      let host = config.wsHost || (location && location.hostname) || 'localhost';
      if (host.indexOf(':') > -1 && host[0] !== '[') host = '[' + host + ']';
      let port = tls ? config.wssPort : config.wsPort;
      // Same-origin by default: the page's own port, unless the page is on the other scheme.
      if (port == null && !config.wsHost && location && location.protocol === (tls ? 'https:' : 'http:')) {
        port = location.port;
      }
      if (port == null || port === '') port = tls ? 443 : 80;
      const path = (config.wsPath || '').replace(/\/$/, '');
      return (tls ? 'wss' : 'ws') + '://' + host + ':' + port + path + '/app/' + encodeURIComponent(this.pusher.key) +
        '?protocol=' + PROTOCOL + '&client=pushbridge-js&version=' + VERSION + '&flash=false';
    }

    _open() {
      this._clear('retry');
      if (typeof root.WebSocket !== 'function') {
        this._wanted = false;
        this._setState('failed');
        return;
      }
      this._reconnecting();
      let ws;
      try {
        ws = new root.WebSocket(this.url());
      } catch (err) {
        this.emit('error', { type: 'WebSocketError', error: err });
        this._retry(this._backoff());
        return;
      }
      this._ws = ws;
      // Every handler checks it still belongs to the current socket: a dropped socket can
      // still deliver a late close event, which must not tear down its successor.
      ws.onmessage = (event) => { if (this._ws === ws) this._onMessage(event.data); };
      ws.onclose = (event) => { if (this._ws === ws) this._onClose(event.code, event.reason); };
      ws.onerror = () => {
        if (this._ws === ws) this.emit('error', { type: 'WebSocketError', error: 'WebSocket error' });
      };
      const handshakeTimeout = this.pusher.config.handshakeTimeout;
      this._timers.handshake = setTimeout(() => this._abandon(4201, 'handshake timed out'), handshakeTimeout);
    }

    _onMessage(raw) {
      let message;
      try {
        message = JSON.parse(raw);
      } catch (_) {
        this.emit('error', { type: 'MessageParseError', error: 'Invalid JSON frame', data: raw });
        return;
      }
      if (!message || typeof message.event !== 'string') return;
      message.data = parseData(message.data);
      this._resetActivity();
      switch (message.event) {
        case 'pusher:connection_established':
          this._established(message.data || {});
          return;
        case 'pusher:ping':
          this.send({ event: 'pusher:pong', data: {} });
          return;
        case 'pusher:pong':
          return;
        case 'pusher:error':
          this.emit('error', { type: 'PusherError', data: message.data });
          break;
      }
      this.emit('message', message);
    }

    _established(data) {
      const serverTimeout = Number(data.activity_timeout) * 1000;
      if (!data.socket_id || !(serverTimeout > 0)) {
        // pusher-js refuses such a handshake too; treat it like a dropped connection.
        this._abandon(1002, 'invalid pusher:connection_established');
        return;
      }
      this._clear('handshake');
      this._clear('unavailable');
      this.socket_id = data.socket_id;
      this._activityTimeout = Math.min(this.pusher.config.activityTimeout, serverTimeout);
      this._failures = 0;
      this._immediateRetryUsed = false;
      this._resetActivity();
      this._setState('connected', { socket_id: this.socket_id });
    }

    // Any inbound frame proves the link is alive; after activityTimeout of silence ask with a
    // ping, and if pongTimeout passes without any frame the socket is dead: replace it now.
    _resetActivity() {
      this._clear('activity');
      this._clear('pong');
      if (!this.socket_id) return;
      this._timers.activity = setTimeout(() => {
        delete this._timers.activity;
        this.send({ event: 'pusher:ping', data: {} });
        this._timers.pong = setTimeout(() => this._abandon(4201, 'pong not received'), this.pusher.config.pongTimeout);
      }, this._activityTimeout);
    }

    /** Drop the current socket ourselves and react as if the server had closed with `code`. */
    _abandon(code, reason) {
      const ws = this._ws;
      if (!ws) return;
      log('dropping the connection:', reason);
      this._ws = null; // its own close event, when it comes, is then ignored
      try { ws.close(); } catch (_) { /* already closing */ }
      this._onClose(code, reason);
    }

    _onClose(code, reason) {
      log('connection closed', code, reason || '');
      this._ws = null;
      this.socket_id = null;
      this._clear('handshake');
      this._clear('activity');
      this._clear('pong');
      if (!this._wanted) {
        this._setState('disconnected');
        return;
      }
      if (code === 4000 && !this._tls) {
        this._tls = true; // "this app only accepts TLS": retry at once with wss://
        this._reconnecting();
        this._retry(0);
      } else if ((code >= 4000 && code <= 4099) || code >= 4300) {
        this._wanted = false; // refused: retrying unchanged cannot help
        this._clearTimers();
        this._setState('disconnected');
      } else if (code >= 4200 && code <= 4299 && !this._immediateRetryUsed) {
        // "Reconnect immediately", but only once in a row: a server that keeps closing us
        // (or is gone) gets the back-off instead of a tight loop.
        this._immediateRetryUsed = true;
        this._reconnecting();
        this._retry(0);
      } else {
        this._reconnecting();
        this._retry(this._backoff());
      }
    }

    _reconnecting() {
      if (this.state !== 'unavailable') this._setState('connecting');
      if (!this._timers.unavailable && this.state === 'connecting') {
        this._timers.unavailable = setTimeout(() => {
          delete this._timers.unavailable;
          if (this.state === 'connecting') this._setState('unavailable');
        }, this.pusher.config.unavailableTimeout);
      }
    }

    // Exponential back-off with jitter, so a restarted server is not hit by every client at once.
    _backoff() {
      const config = this.pusher.config;
      const base = Math.min(config.reconnectMaxDelay, config.reconnectMinDelay * Math.pow(2, this._failures++));
      return Math.min(config.reconnectMaxDelay, Math.round(base * (1 + Math.random() * 0.3)));
    }

    _retry(delay) {
      this._clear('retry');
      if (delay > 0) this.emit('connecting_in', Math.round(delay / 1000));
      this._timers.retry = setTimeout(() => {
        delete this._timers.retry;
        if (this._wanted && !this._ws) this._open();
      }, delay);
    }

    _setState(next, data) {
      if (next === this.state) return;
      const previous = this.state;
      this.state = next;
      log('state', previous, '->', next);
      this.emit('state_change', { previous: previous, current: next });
      this.emit(next, data);
    }

    _clear(name) { clearTimeout(this._timers[name]); delete this._timers[name]; }

    _clearTimers() { for (const name of Object.keys(this._timers)) this._clear(name); }
  }

  // -- the client ----------------------------------------------------------------------------

  function normalizeOptions(options) {
    const config = Object.assign({}, DEFAULTS);
    // Values rendered as null/undefined (e.g. an unset wsPort) mean "use the default".
    for (const name of Object.keys(options)) if (options[name] != null) config[name] = options[name];
    // The deprecated pusher-js spellings (authEndpoint, auth: {params, headers}) still work.
    const legacy = options.auth || {};
    config.channelAuthorization = Object.assign(
      { endpoint: options.authEndpoint || '/pusher/auth', params: legacy.params, headers: legacy.headers },
      options.channelAuthorization
    );
    config.userAuthentication = Object.assign({ endpoint: '/pusher/user-auth' }, options.userAuthentication);
    return config;
  }

  class PushBridge {
    /**
     * new PushBridge(key, options): options as pusher-js names them (wsHost, wsPort, wssPort,
     * wsPath, forceTLS, channelAuthorization, userAuthentication, activityTimeout, pongTimeout;
     * cluster is accepted and ignored) plus csrfToken / csrfHeaderName / csrfCookieName.
     * Connects at once, like pusher-js.
     */
    constructor(key, options) {
      if (!key) throw new Error('PushBridge needs the app key: new PushBridge(key, options).');
      this.key = key;
      this.config = normalizeOptions(options || {});
      this.channels = new Map();
      this.global_emitter = new Emitter();
      this.connection = new Connection(this);
      this.user = new User(this);
      this.connection.bind('message', (message) => this._route(message));
      this.connection.bind('state_change', (change) => {
        if (change.previous === 'connected') {
          for (const channel of this.channels.values()) channel._disconnect();
          this.user._cleanup();
        }
        if (change.current === 'connected') {
          // A new socket_id: every channel needs a fresh subscription (and fresh auth).
          for (const channel of this.channels.values()) channel._subscribe();
          this.user._signin();
        }
      });
      this.connect();
    }

    /** Build a client from the JSON config the Django template tag renders. */
    static fromConfig(config) {
      if (!config || !config.key) throw new Error('PushBridge.fromConfig: the config has no "key".');
      const options = Object.assign({}, config);
      delete options.key;
      return new PushBridge(config.key, options);
    }

    /** Build a client from <script type="application/json" id="pushbridge-config">. */
    static fromPage(elementId, overrides) {
      const id = elementId || 'pushbridge-config';
      const element = typeof document !== 'undefined' && document.getElementById(id);
      if (!element) {
        throw new Error('PushBridge.fromPage: no <script type="application/json" id="' + id + '"> on this page.');
      }
      return PushBridge.fromConfig(Object.assign(JSON.parse(element.textContent), overrides || {}));
    }

    get socket_id() {
      return this.connection.socket_id;
    }

    connect() { this.connection.connect(); return this; }

    disconnect() { this.connection.disconnect(); return this; }

    signin() { this.user.signin(); return this; }

    /**
     * subscribe(name, {since}): `since` is the channel's history position when the page was
     * rendered ({% pushbridge_position %}); events after it are fetched once subscribed.
     */
    subscribe(name, options) {
      if (typeof name !== 'string' || !name) throw new Error('subscribe() needs a channel name.');
      let channel = this.channels.get(name);
      if (channel) {
        // Like pusher-js, subscribing again retries a subscription that failed (e.g. auth).
        if (!channel.subscribed && this.connection.state === 'connected') channel._subscribe();
        return channel;
      }
      const kind = channelKind(name);
      if (kind === 'encrypted') {
        throw new Error("pushbridge.js does not support end-to-end encrypted channels ('" + name + "'): " +
          'use pusher-js with encryption (import Pusher from "pusher-js/with-encryption") for those.');
      }
      if (name[0] === '#') {
        throw new Error("Cannot subscribe to '" + name + "': channel names starting with # are reserved.");
      }
      const Kind = kind === 'presence' ? PresenceChannel : kind === 'private' ? PrivateChannel : Channel;
      channel = new Kind(name, this, { since: options && options.since });
      this.channels.set(name, channel);
      if (this.connection.state === 'connected') channel._subscribe();
      return channel;
    }

    unsubscribe(name) {
      const channel = this.channels.get(name);
      if (!channel) return;
      this.channels.delete(name);
      channel._unsubscribe();
    }

    channel(name) {
      return this.channels.get(name);
    }

    allChannels() {
      return Array.from(this.channels.values());
    }

    send_event(event, data, channel) {
      const message = { event: event, data: data };
      if (channel) message.channel = channel;
      return this.connection.send(message);
    }

    /**
     * POST `data` as JSON to a Django view, with the CSRF token and X-Socket-ID (so the view can
     * leave this tab out of the events it triggers). Resolves to the parsed reply; rejects with
     * an Error carrying `status` and the parsed error body as `response`.
     */
    post(url, data, options) {
      const headers = Object.assign(
        { 'Content-Type': 'application/json', Accept: 'application/json' },
        this._csrfHeaders(url),
        this.socket_id ? { 'X-Socket-ID': this.socket_id } : {},
        (options && options.headers) || {}
      );
      const body = JSON.stringify(data === undefined ? {} : data);
      const init = { method: 'POST', headers: headers, credentials: 'same-origin', body: body };
      return fetch(url, init).then(function (response) {
        return response.text().then(function (text) {
          const body = text ? parseData(text) : null;
          if (response.ok) return body;
          const error = new Error('POST ' + url + ' failed with status ' + response.status);
          error.status = response.status;
          error.response = body;
          throw error;
        });
      });
    }

    _csrfHeaders(url) {
      return csrfHeaders(this.config, url);
    }

    _route(message) {
      const internal = message.event.indexOf('pusher_internal:') === 0;
      // A subscribed channel emits its events globally itself, after any recovery it holds them for.
      const channel = message.channel ? this.channels.get(message.channel) : undefined;
      if (channel) channel._handle(message);
      this.user._handle(message);
      if (!internal && !channel) this.global_emitter.emit(message.event, message.data);
    }
  }

  // Top-level bind() & co. listen to every event the connection receives (pusher-js's global_emitter).
  for (const method of ['bind', 'unbind', 'bind_global', 'unbind_global', 'unbind_all']) {
    PushBridge.prototype[method] = function () {
      this.global_emitter[method].apply(this.global_emitter, arguments);
      return this;
    };
  }

  PushBridge.VERSION = VERSION;
  // The parts the pusher-js adapter (pushbridge-pusher.js) shares, so recovery has one owner.
  PushBridge.Emitter = Emitter;
  PushBridge.Recovery = Recovery;
  PushBridge.csrfHeaders = csrfHeaders;
  PushBridge.fetchHistory = fetchHistory;
  PushBridge.unwrapEnvelope = unwrapEnvelope;
  PushBridge.logToConsole = false;
  return PushBridge;
});
