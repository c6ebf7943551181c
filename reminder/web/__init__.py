"""The office's web page: an ASGI app (Starlette) with server-rendered Jinja2 pages.

- `accounts`: password hashes and tokens (also used by `reminder user`).
- `app`: builds the application from the config and the database.
- `server`: serves it with uvicorn in the running event loop.

Page handlers read the request, call the store/domain function the CLI calls, render.
"""
