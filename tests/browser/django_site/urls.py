"""URLs of the browser tests' Django site: pushbridge's endpoints, test pages, the stand-in history."""

from pathlib import Path

from django.urls import include, path, re_path
from django.views.static import serve

import pushbridge
from tests.browser.django_site import views

#: The shim as collectstatic would find it (runserver serves static files only with its own handler).
STATIC = Path(pushbridge.__file__).resolve().parent / "static"

urlpatterns = [
    path("pushbridge/", include("pushbridge.urls")),
    path("page/<str:client>/", views.page, name="page"),
    path("vendor/<str:name>", views.vendor, name="vendor"),
    path("publish/", views.publish, name="publish"),
    path("send/", views.send, name="send"),
    path("history-faults/", views.history_faults, name="history-faults"),
    path("history/", views.history_view, name="history"),
    path("chaos/step/", views.chaos_step, name="chaos-step"),
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": STATIC}),
]
