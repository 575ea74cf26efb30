"""A URLconf that forgot ``include("pushbridge.urls")``, for the system check that notices."""

from django.urls import path

from tests.urls import echo

urlpatterns = [path("echo/", echo)]
