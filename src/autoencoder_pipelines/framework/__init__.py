"""The Kedro glue: project hooks, the CLI, datasets, locks, Spark, and the tools that run
pipelines several times."""
