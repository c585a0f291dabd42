from django.urls import re_path

from jobs.sagemaker.api import views

# boto3 posts to the endpoint URL's path as given: with or without a trailing slash.
urlpatterns = [re_path(r"^$|^/$", views.endpoint, name="sagemaker-endpoint")]
