"""The service desk: leads and consultations, tickets routed with business-hour SLAs,
satisfaction surveys and reviews (see docs/desk.md)."""
