/*!
 * pushbridge-pusher.js — pushbridge's page configuration and history for pusher-js and Laravel Echo.
 *
 * For pages that use the official pusher-js (or Laravel Echo on top of it) instead of
 * pushbridge's shim. Load pushbridge.js first (this file reuses its CSRF and recovery code;
 * loading it defines window.PushBridge and opens no connection), then this file:
 *
 *   const pusher = PushBridgePusher.fromPage(Pusher);                 // or:
 *   const echo = new Echo(PushBridgePusher.echoOptions(PushBridgePusher.readConfig()));
 *   const orders = PushBridgePusher.withHistory(pusher, 'private-orders', {since: 42});
 *   orders.bind('order.updated', (order) => ...);                     // envelope unwrapped
 *
 * Loads as a classic script (window.PushBridgePusher) and through require().
 */
(function (root, factory) {
  'use strict';
  const PushBridge = root.PushBridge || (typeof require === 'function' ? require('./pushbridge.js') : null);
  const adapter = factory(root, PushBridge);
  if (typeof module === 'object' && module && module.exports) module.exports = adapter;
  if (root) root.PushBridgePusher = adapter;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this, function (root, PushBridge) {
  'use strict';

  if (!PushBridge || !PushBridge.Recovery) {
    throw new Error('pushbridge-pusher.js needs pushbridge.js: load <script src=".../pushbridge.js"> before it.');
  }

  // Page configuration keys that are pushbridge's own, not pusher-js options.
  const PUSHBRIDGE_ONLY = ['key', 'csrfToken', 'csrfHeaderName', 'csrfCookieName', 'historyEndpoint',
    'channelAuthorization', 'userAuthentication'];

  /** The JSON object {% pushbridge_config %} renders into <script id="pushbridge-config">. */
  function readConfig(elementId) {
    const id = elementId || 'pushbridge-config';
    const element = typeof document !== 'undefined' && document.getElementById(id);
    if (!element) {
      throw new Error('PushBridgePusher.readConfig: no <script type="application/json" id="' + id + '"> on this page.');
    }
    return JSON.parse(element.textContent);
  }

  function checkConfig(config, caller) {
    if (!config || typeof config !== 'object' || !config.key) {
      throw new Error('PushBridgePusher.' + caller + ': the config has no "key"; pass the object that ' +
        '{% pushbridge_config %} renders (PushBridgePusher.readConfig() reads it from the page).');
    }
  }

  function endpointOptions(config, name, fallback) {
    const given = config[name] || {};
    const endpoint = given.endpoint || fallback;
    // Django's CSRF middleware refuses a POST without the token; pusher-js sends these headers.
    const headers = Object.assign({}, PushBridge.csrfHeaders(config, endpoint), given.headers || {});
    return Object.assign({}, given, { endpoint: endpoint, transport: given.transport || 'ajax', headers: headers });
  }

  /**
   * pusher-js options for the page configuration: where the WebSocket server is (wsHost,
   * wsPort/wssPort, wsPath, forceTLS), the transports that reach it, and the auth endpoints with
   * the CSRF header. `overrides` win over everything.
   */
  function options(config, overrides) {
    checkConfig(config, 'options');
    const result = {};
    for (const name of Object.keys(config)) {
      if (PUSHBRIDGE_ONLY.indexOf(name) === -1 && config[name] != null) result[name] = config[name];
    }
    // pusher-js insists on a cluster; with wsHost given it is never used to build a URL.
    if (!result.cluster) result.cluster = 'pushbridge';
    if (!result.enabledTransports) result.enabledTransports = ['ws', 'wss'];
    result.channelAuthorization = endpointOptions(config, 'channelAuthorization', '/pusher/auth');
    result.userAuthentication = endpointOptions(config, 'userAuthentication', '/pusher/user-auth');
    return Object.assign(result, overrides || {});
  }

  /** Laravel Echo's options: the pusher broadcaster, the app key, and options() above. */
  function echoOptions(config, overrides) {
    checkConfig(config, 'echoOptions');
    return Object.assign({ broadcaster: 'pusher', key: config.key }, options(config), overrides || {});
  }

  /** new Pusher(key, options) from the page's configuration script. */
  function fromPage(Pusher, elementId, overrides) {
    if (typeof Pusher !== 'function') {
      throw new Error('PushBridgePusher.fromPage(Pusher): pass the Pusher class (window.Pusher or the import).');
    }
    const config = readConfig(elementId);
    return new Pusher(config.key, options(config, overrides));
  }

  /**
   * A pusher-js channel with pushbridge's history: bound callbacks get the original data (the
   * envelope unwrapped), each event once, and after every (re)subscription the events missed
   * meanwhile, in order, before newer live ones. Emits pushbridge:resync when the gap is older
   * than the server keeps, and pushbridge:history_error when the history cannot be fetched.
   *
   * withHistory(pusher, name, {since, endpoint, config, headers}): `endpoint` defaults to the
   * config's historyEndpoint (the page's configuration when no config is given).
   */
  function withHistory(pusher, name, settings) {
    const given = settings || {};
    if (!pusher || typeof pusher.subscribe !== 'function') {
      throw new Error('PushBridgePusher.withHistory(pusher, name): pass a pusher-js client (for Echo: echo.connector.pusher).');
    }
    const endpoint = given.endpoint || (given.config || readConfig()).historyEndpoint;
    if (!endpoint) {
      throw new Error('PushBridgePusher.withHistory: no history endpoint; include pushbridge.urls so that ' +
        '{% pushbridge_config %} carries historyEndpoint, or pass {endpoint: "/..."}.');
    }
    const channel = pusher.subscribe(name);
    const wrapper = new PushBridge.Emitter();
    wrapper.name = name;
    wrapper.channel = channel;
    const recovery = new PushBridge.Recovery({
      since: given.since,
      fetch: (since) => PushBridge.fetchHistory(endpoint, name, since, given.headers),
      deliver: (event, data, metadata) => wrapper.emit(event, data, metadata),
      resync: (details) => wrapper.emit('pushbridge:resync', details),
      failed: (error) => {
        const details = { type: 'HistoryError', error: error.message, status: error.status, reason: error.reason };
        wrapper.emit('pushbridge:history_error', details);
      },
    });
    Object.defineProperty(wrapper, 'position', { get: () => recovery.position });
    // pusher-js emits pusher:subscription_succeeded after each resubscription (reconnects too).
    channel.bind_global((event, data) => {
      if (event.indexOf('pusher:') === 0 || event.indexOf('pusher_internal:') === 0) {
        wrapper.emit(event, data);
        if (event === 'pusher:subscription_succeeded') recovery.subscribed();
      } else {
        recovery.receive(event, data, {});
      }
    });
    if (channel.subscribed) recovery.subscribed();
    return wrapper;
  }

  return {
    readConfig: readConfig,
    options: options,
    echoOptions: echoOptions,
    fromPage: fromPage,
    withHistory: withHistory,
    unwrap: PushBridge.unwrapEnvelope,
  };
});
