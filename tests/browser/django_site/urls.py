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
    path("durable/<str:client>/", views.page, {"template": "browser_site/durable_page.html"}, name="durable-page"),
    path("vendor/<str:name>", views.vendor, name="vendor"),
    path("publish/", views.publish, name="publish"),
    path("send/", views.send, name="send"),
    path("history-delay/", views.history_delay, name="history-delay"),
    path("faults/", views.set_faults, name="faults"),
    path("history/", views.history_view, name="history"),
    path("chaos/step/", views.chaos_step, name="chaos-step"),
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": STATIC}),
]
