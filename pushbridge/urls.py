"""``path("pushbridge/", include("pushbridge.urls"))`` mounts the auth and webhook endpoints."""

from django.urls import path

from pushbridge import history_views, views

app_name = "pushbridge"

urlpatterns = [
    path("auth/", views.channel_auth, name="auth"),
    path("user-auth/", views.user_auth, name="user-auth"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("history/", history_views.history, name="history"),
]
