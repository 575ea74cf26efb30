"""A small, real Django project for the browser tests: pushbridge's own views and template tags.

Run in a subprocess by ``tests.browser.live_django``, pointed at an embedded push server; the
browser tests load its pages in chromium with the shim, pusher-js or Laravel Echo.
"""
