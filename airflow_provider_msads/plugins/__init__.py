"""The "Connect Microsoft Advertising" Airflow plugin: consent in the browser, token stored server-side.

``plugin`` is what Airflow imports at start-up (kept light); ``app`` (FastAPI routes), ``backend``
(Airflow's auth manager and ORM) and ``flow`` (Airflow-free state and rules) load on the first request.
"""
