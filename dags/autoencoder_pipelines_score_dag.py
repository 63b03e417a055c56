from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, task

from kedro.framework.session import KedroSession
from kedro.framework.project import configure_project

# Kedro settings required to run your pipeline
env = "local"
pipeline_name = "score"
project_path = Path(os.environ.get("AEP_PROJECT_PATH") or Path.cwd())
package_name = "autoencoder_pipelines"
conf_source = "" or project_path / "conf"


def _run_kedro_node(node_names=None, namespaces=None):
    """Run a Kedro pipeline slice (all of it when neither is given). A monitoring alert (exit
    code 3 on the command line: the scored rows are written, their inputs drifted) fails the
    task at once, whatever its retries: a retry would find the inbox scored and succeed."""
    configure_project(package_name)
    with KedroSession.create(project_path=project_path, env=env, conf_source=conf_source) as session:
        try:
            if namespaces is not None:
                session.run(pipeline_names=[pipeline_name], namespaces=namespaces)
            else:
                session.run(pipeline_names=[pipeline_name], node_names=node_names)
        except Exception as error:
            from autoencoder_pipelines.data.errors import ALERT_EXIT_CODE, user_error

            found = user_error(error)
            if found is None or found.exit_code != ALERT_EXIT_CODE:
                raise
            try:
                from airflow.sdk.exceptions import AirflowFailException
            except ImportError:  # Airflow 2
                from airflow.exceptions import AirflowFailException
            raise AirflowFailException(f"monitoring alert: {found.format_message()}") from error


@dag(
    dag_id="autoencoder-pipelines-score",
    start_date=datetime(2023,1,1),
    max_active_runs=1,
    schedule="*/15 * * * *",
    catchup=False,
    default_args=dict(
        owner="airflow",
        depends_on_past=False,
        email_on_failure=False,
        email_on_retry=False,
        retries=0,
        retry_delay=timedelta(minutes=5)
    ),
)
def autoencoder_pipelines_score():

    @task(task_id="load-scoring-model-score-partitions-scoring-metrics-monitor-scoring-fail-on-bad-partitions")
    def load_scoring_model_score_partitions_scoring_metrics_monitor_scoring_fail_on_bad_partitions():
        _run_kedro_node(node_names=["load_scoring_model", "score_partitions", "scoring_metrics", "monitor_scoring", "fail_on_bad_partitions"])

    tasks = {
        "load-scoring-model-score-partitions-scoring-metrics-monitor-scoring-fail-on-bad-partitions": load_scoring_model_score_partitions_scoring_metrics_monitor_scoring_fail_on_bad_partitions(),
    }


autoencoder_pipelines_score()