"""Example DAGs: account discovery to XCom (``msads_accounts_to_xcom``) and SQL (``msads_accounts_to_sql``).

Point Airflow's ``[core] dags_folder`` at this directory (or copy the files). Both DAGs use the
connections ``msads_default`` (type ``msads``; the bundled emulator's ``airflow_conn_json()`` works
as-is) and, for the SQL DAG, ``msads_warehouse`` (any SQLite, PostgreSQL or MySQL/MariaDB connection).
Switching those connections to real credentials and a real warehouse is the only change needed.
"""
