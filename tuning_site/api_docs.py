"""Swagger UI and Redoc, served from our static files with no request leaving the site.

drf-spectacular's Redoc page loads Google's fonts and starts Redoc from an
inline script; ours uses the sidecar's bundle, the system's fonts and Redoc's
own `<redoc spec-url>` start-up, so script-src stays 'self'. Redoc's search
runs in a blob: worker: only these pages allow that. Redoc's footer logo, an
image on Redocly's CDN, is refused by img-src and never requested.
"""

from csp.decorators import csp_update
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

DOCS_POLICY = {"worker-src": ["'self'", "blob:"]}
# Pages for a browser: DRF's OPTIONS would render its metadata into the page's
# template, which Swagger UI's cannot take (a 500); refused instead, with a 405.
PAGE_METHODS = ["get", "head"]


class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"
    http_method_names = PAGE_METHODS


class SwaggerView(SpectacularSwaggerSplitView):
    http_method_names = PAGE_METHODS


def redoc_view(**kwargs):
    return csp_update(DOCS_POLICY)(RedocView.as_view(**kwargs))


def swagger_view(**kwargs):
    # The split view serves its start-up script from a URL instead of inline.
    return csp_update(DOCS_POLICY)(SwaggerView.as_view(**kwargs))
