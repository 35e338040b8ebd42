"""Embedding a school in a web application.

- :mod:`eduengine.web.aio`: ``AsyncSchool``, an asyncio facade (FastAPI, Starlette ...);
- :mod:`eduengine.web.live`: ``FeedHub``, live updates fanned out to WebSocket/SSE clients;
- :mod:`eduengine.web.django`: commands inside Django's transaction, a store on Django's
  database (imports Django: only for Django sites).

Nothing is re-exported here, so importing one of them imports neither the others nor
their frameworks. See ``docs/embedding.md``.
"""
