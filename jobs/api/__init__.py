"""REST API v1: DRF viewsets over the same services and selectors as the pages."""
