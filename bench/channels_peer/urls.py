"""HTTP routes: the two Pusher publish endpoints."""

from __future__ import annotations

from django.urls import path

from channels_peer import views

urlpatterns = [
    path("apps/<str:app_id>/batch_events", views.batch_events),
    path("apps/<str:app_id>/events", views.events),
]
