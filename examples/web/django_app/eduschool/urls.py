from django.urls import path

from eduschool import views

urlpatterns = [
    path("health", views.health),
    path("slots", views.create_slot),
    path("slots/<str:slot_id>", views.slot),
    path("slots/<str:slot_id>/book", views.book),
    path("slots/<str:slot_id>/events", views.slot_events),
]
