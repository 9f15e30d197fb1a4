"""The de-identification engine on Apache Spark (``fivesafes deidentify --engine spark``).

Optional: PySpark comes with the ``spark`` extra and is imported only inside the job's
functions, so importing this package (or any other fivesafes module) never loads it.
"""
