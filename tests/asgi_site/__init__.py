"""A Django site served by a real ASGI server (uvicorn) for the async API's tests."""
