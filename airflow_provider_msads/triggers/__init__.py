"""Triggers: waits that run on the Airflow triggerer (asyncio) instead of in a worker slot."""
