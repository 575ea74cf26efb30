from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("<int:room_id>/", views.room_detail, name="room"),
    path("<int:room_id>/join/", views.join, name="join"),
    path("<int:room_id>/messages/", views.send_message, name="send-message"),
]
