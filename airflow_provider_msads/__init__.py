"""Apache Airflow provider for the Microsoft Advertising API (formerly Bing Ads).

Importing this package is deliberately cheap: nothing here pulls in httpx, lxml or Airflow.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
