from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat.views import room_list
from demo_site.views import pusher_js

urlpatterns = [
    path("", room_list, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("rooms/", include("chat.urls")),
    path("items/", include("items.urls")),
    path("dashboard/", include("ledger.urls")),
    path("notifications/", include("notifications.urls")),
    # pushbridge's channel auth endpoints (the pages' private and presence subscriptions).
    path("pushbridge/", include("pushbridge.urls")),
    path("vendor/pusher.min.js", pusher_js, name="pusher-js"),
    path("admin/", admin.site.urls),
]
