"""The ticket workspace (`deskmove serve`): FastAPI + Jinja2 over the store.

Server-rendered pages with a little plain JavaScript (static/app.js) for
presence and partial updates; no build step, every asset ships in the wheel.
The store functions it calls live in deskmove.store.workspace (writes),
deskmove.store.worklist (reads) and deskmove.store.search (full text).
"""
