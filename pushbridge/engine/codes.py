"""Protocol constants: versions, default timeouts, and the close and error codes.

Pusher's close codes (pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol):
4000-4099 mean "do not reconnect", 4100-4199 "reconnect after backing off", 4200-4299
"reconnect now"; 43xx travel in ``pusher:error`` frames only.
"""

from __future__ import annotations

#: Protocol versions the server speaks. pysher announces 6, pusher-js 7.
SUPPORTED_PROTOCOLS = range(4, 8)
#: Seconds of silence after which the server pings a client (announced in the handshake).
DEFAULT_ACTIVITY_TIMEOUT = 120
#: Seconds a pinged client has to say anything before it is closed with 4201.
DEFAULT_PONG_TIMEOUT = 30
#: How long a cache channel keeps its last event (Pusher: up to 30 minutes).
DEFAULT_CACHE_TTL = 30 * 60
#: Seconds during which further ``cache_miss`` webhooks for the same channel are not sent
#: (Pusher de-duplicates them too: a crowd subscribing to an empty channel is one miss).
DEFAULT_CACHE_MISS_WINDOW = 5.0

APP_NOT_FOUND = 4001
UNSUPPORTED_PROTOCOL = 4007
UNAUTHORIZED = 4009
OVER_CAPACITY = 4100
RECONNECT_NOW = 4200
PONG_NOT_RECEIVED = 4201
CLIENT_EVENT_REJECTED = 4301

#: What a connection closed by ``terminate_connections`` is told, on whichever node it is.
TERMINATED_BY_APP = "You got disconnected by the app."
