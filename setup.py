"""Build glue that pyproject.toml cannot express: the wheel carries the top-level ``example_dags/`` folder.

The example DAGs live once, at the top of the checkout (``example_dags/``, where users look for them and
where ``AIRFLOW__CORE__DAGS_FOLDER=example_dags`` points). The wheel ships the same files as the package
``airflow_provider_msads.example_dags``, so ``msads-demo`` also runs from an installed wheel. Everything
else is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["airflow_provider_msads*"]), "airflow_provider_msads.example_dags"],
    package_dir={"airflow_provider_msads.example_dags": "example_dags"},
)
