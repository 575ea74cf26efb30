"""Django Channels 4 peer: what a Django user would run instead of pushbridge's server.

One ``AsyncWebsocketConsumer`` speaking the same minimal Pusher handshake as the ceiling, one
group per Pusher channel on the ``InMemoryChannelLayer``, and a Django async view behind the
same ``POST /apps/<id>/batch_events`` path that ``group_send``\\s each event. Served by daphne:
``cd bench && DJANGO_SETTINGS_MODULE=channels_peer.settings daphne -p 6030 channels_peer.asgi:application``.
"""
