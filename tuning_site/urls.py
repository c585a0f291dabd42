from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from tuning_site.api_docs import redoc_view, swagger_view

urlpatterns = [
    # Browsers ask for /favicon.ico whatever the page links (the admin's pages, files opened directly).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(("jobs.api.urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", swagger_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", redoc_view(url_name="schema"), name="redoc"),
    path("analytics/", include("analytics.urls")),
    path("sagemaker", include("jobs.sagemaker.api.urls")),
    path("", include("jobs.urls")),
]
