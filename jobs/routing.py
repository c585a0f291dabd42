from django.urls import path

from jobs import consumers

websocket_urlpatterns = [
    path("ws/tuning-jobs/", consumers.TuningJobListConsumer.as_asgi()),
    path("ws/tuning-jobs/<str:name>/", consumers.TuningJobConsumer.as_asgi()),
]
