"""The embedded Pusher-protocol server, room by room (:mod:`pushbridge.server` is its public face).

The sans-I/O core, which touches no socket, no event loop and no Django:

* :mod:`.codes`, :mod:`.codec`, :mod:`.config`, :mod:`.outputs`, :mod:`.state`: the vocabulary
  (close codes, the JSON codec and Pusher frames, app configuration, what the core asks the
  I/O layer to do, what it remembers about connections and channels);
* :mod:`.bus`: where a published event fans out and where channel occupancy, presence
  membership and the HTTP API's queries are answered -- :class:`~.bus.LocalBus` for one
  process, replaceable by a bus shared between processes;
* :mod:`.throttle`, :mod:`.cache`, :mod:`.presence`, :mod:`.subscriptions`,
  :mod:`.connections`, :mod:`.client_events`, :mod:`.signin`, :mod:`.messages`,
  :mod:`.publishing`, :mod:`.http_api`: one protocol concern each;
* :mod:`.core`: :class:`~.core.PusherCore`, which wires them together.
* :mod:`.cluster_view`, :mod:`.cluster_wire`, :mod:`.cluster_outbox`, :mod:`.redis_scripts`,
  :mod:`.redis_bus`: a node of a cluster on Redis -- what it knows of the other nodes, the
  messages between nodes, what it queues for Redis, the Lua that keeps the shared state, and
  :class:`~.redis_bus.RedisBus`, the bus that ties them together.

The I/O shell on aiohttp: :mod:`.wire` (WebSocket frames), :mod:`.options`, :mod:`.executor`
(carries out the core's outputs), :mod:`.websocket` and :mod:`.http_endpoint` (the two kinds of
request, which :mod:`.routes` tells apart), :mod:`.embedded` (:class:`~.embedded.EmbeddedServer`),
:mod:`.thread_runner`, :mod:`.settings` (Soketi's defaults and the banner) and :mod:`.cli`; for a cluster,
:mod:`.redis_link` (redis-py carrying the Redis bus), :mod:`.cluster_settings` and
:mod:`.workers` (``--workers``).

Imports run downward: the shell imports the core, never the reverse.
"""
