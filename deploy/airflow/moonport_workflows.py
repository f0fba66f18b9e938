"""moonport workflows as Airflow tasks: one task per workflow (see docs/scale-out.md).

Each task runs `moonport run --lock NAME WORKFLOW` on the worker, with the
state store shared by every worker (MOONPORT_STATE, a PostgreSQL URL, from
an Airflow connection or the worker's environment), so a retry on another
worker resumes the run instead of starting over.

moonport's exit code decides what Airflow does:
  0         success
  4         temporary (network, rate limit, 5xx after retries, the --lock held):
            the task fails and is retried (retries, retry_delay below)
  130, 143  interrupted (SIGINT/SIGTERM): retried too
  1, 2, 3   the script or its data, usage, credentials: the task fails
            without a retry (AirflowFailException), since a retry would fail the same way
"""
from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import dag, task
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.exceptions import AirflowException, AirflowFailException

MOONPORT = os.environ.get("MOONPORT_BIN", "moonport")
WORKFLOW_DIR = os.environ.get("MOONPORT_WORKFLOWS", "/opt/moonport/workflows")

# One task per workflow: (task id, script, the script's arguments).
WORKFLOWS = [
    ("forecast_to_claravine", "forecast-to-claravine.lua", ["2024_Q1"]),
    ("concurrent_exports", "concurrent-exports.lua", []),
    ("activities_to_mediarithmics", "activities-to-mediarithmics.lua", []),
    ("quantive_goals_to_csv", "quantive-goals-to-csv.lua", []),
    ("cordial_audience_export", "cordial-audience-export.lua", []),
]

RETRYABLE = {4, 130, 143}
NEVER_RETRY = {1: "the script or its data failed", 2: "bad usage or an unreadable script", 3: "a credential is missing or refused"}


def run_moonport(name: str, script: str, args: list[str]) -> None:
    """Runs one workflow; raises so that only exit code 4 (and 130/143) is retried."""
    cmd = [MOONPORT, "run", "--lock", name, "--namespace", name, "--log-format", "json", "--progress", "plain",
           os.path.join(WORKFLOW_DIR, script), *args]
    code = subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode
    if code == 0:
        return
    if code in RETRYABLE:
        raise AirflowException(f"moonport exited {code} (temporary): retrying; the state store makes the retry resume")
    raise AirflowFailException(f"moonport exited {code} ({NEVER_RETRY.get(code, 'failed')}): not retried")


@dag(
    dag_id="moonport_workflows",
    schedule="15 3 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 5, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    tags=["moonport"],
)
def moonport_workflows():
    for task_id, script, args in WORKFLOWS:
        task(task_id=task_id)(run_moonport)(task_id, script, args)


moonport_workflows()
