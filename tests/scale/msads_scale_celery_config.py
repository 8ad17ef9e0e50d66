"""Celery configuration of the scale test's workers: Airflow's default, with the provider preloaded.

``[celery] celery_config_options`` points here. The worker imports this module before its pool forks,
so every pool process (and every task process forked from one) starts with the provider's operator and
client modules already imported, instead of importing them again for each of hundreds of short tasks.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

import airflow_provider_msads.client.client
import airflow_provider_msads.hooks.token_store
import airflow_provider_msads.operators.accounts  # noqa: F401

CONFIG = dict(DEFAULT_CELERY_CONFIG)
