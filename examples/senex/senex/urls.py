from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("health/simple/", views.health_simple),
    path("api/signals", views.signals),
    path("api/signals/<int:pk>", views.signal),
    path("api/uploads/<slug:name>", views.upload),
]
