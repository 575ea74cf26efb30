from django.urls import path

from ledger import views

app_name = "ledger"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("transactions/<int:transaction_id>/approve/", views.approve, name="approve"),
]
