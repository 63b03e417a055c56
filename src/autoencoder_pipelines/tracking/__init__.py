"""The one MLflow extension: the run of each `kedro run` (hook.py), the store (store.py),
metrics datasets (datasets.py) and the models logged and registered (models.py)."""
