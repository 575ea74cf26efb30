from django.urls import path

from items import views

app_name = "items"

urlpatterns = [
    path("", views.item_list, name="list"),
    path("<int:item_id>/", views.item_detail, name="detail"),
    path("<int:item_id>/watch/", views.toggle_watch, name="watch"),
]
