"""Report a training run to Tuneboard from anywhere: no dependencies beyond Python 3.9+.

Copy this file next to a training script that runs outside Tuneboard (a
cluster, a laptop, SageMaker). Tuneboard proposes the hyperparameters; the
script claims a training job, reports each epoch, and stops when told to:

    from tuneboard_trainer import claim

    trainer = claim("https://tuneboard.example.com", user_token, "my-tuning-job")
    if trainer is None:
        ...  # nothing left to run
    lr = float(trainer.hyperparameters["learning_rate"])
    for epoch in range(1, epochs + 1):
        accuracy = train_one_epoch(lr)
        if trainer.report(epoch, {"validation:accuracy": accuracy}):
            trainer.finish("Stopped")  # early stopping said so: acknowledge and quit
            break
    else:
        trainer.finish("Completed")

Reports are retried on network errors; Tuneboard ignores a repeated
(metric, epoch), so a retry never counts twice.
"""

import json
import math
import time
import urllib.error
import urllib.request

RETRIES = 5


class TuneboardError(Exception):
    """Tuneboard refused a request; `status` and `body` say why."""

    def __init__(self, status, body):
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {body}")


def _request(url, authorization, payload=None, method="POST"):
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", authorization)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for attempt in range(RETRIES):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                return response.status, json.loads(body) if body else None
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            if error.code in (429, 502, 503, 504) and attempt < RETRIES - 1:
                time.sleep(2**attempt)
                continue
            raise TuneboardError(error.code, body) from None
        except urllib.error.URLError:
            if attempt == RETRIES - 1:
                raise
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def claim(base_url, user_token, tuning_job):
    """Claim the next waiting training job of `tuning_job`; None when none waits."""
    status, body = _request(f"{base_url.rstrip('/')}/api/v1/tuning-jobs/{tuning_job}/claim/", f"Token {user_token}")
    if status == 204:
        return None
    return Trainer(base_url, body["token"], body["training_job"])


def tuning_job_status(base_url, user_token, tuning_job):
    """The tuning job's status: a trainer keeps claiming while it is InProgress."""
    _, body = _request(f"{base_url.rstrip('/')}/api/v1/tuning-jobs/{tuning_job}/", f"Token {user_token}", method="GET")
    return body["status"]


class Trainer:
    """One claimed training job: its hyperparameters, and the calls that report it."""

    def __init__(self, base_url, token, training_job):
        self.name = training_job["name"]
        self.base_url = f"{base_url.rstrip('/')}/api/v1/trainer/{self.name}/"
        self.authorization = f"TrainingJob {token}"
        self.hyperparameters = training_job["hyperparameters"]
        self.objective_metric_name = training_job["objective_metric_name"]
        self.stop_reason = None

    def report(self, epoch, metrics):
        """Report one epoch's metrics ({name: value}); True if the job must stop now."""
        samples = [
            {"metric": name, "epoch": epoch, "value": value if math.isfinite(value) else None}
            for name, value in metrics.items()
        ]
        _, answer = _request(self.base_url + "metrics/", self.authorization, {"samples": samples})
        return self._stop(answer)

    def heartbeat(self):
        """Call during long epochs (at least once a minute); True if the job must stop."""
        _, answer = _request(self.base_url + "heartbeat/", self.authorization, {})
        return self._stop(answer)

    def finish(self, status, failure_reason=""):
        """End the job: "Completed", "Failed" (with a reason) or "Stopped" (acknowledging a stop)."""
        _request(self.base_url + "finish/", self.authorization, {"status": status, "failure_reason": failure_reason})

    def _stop(self, answer):
        if answer["stop"]:
            self.stop_reason = answer["reason"]
        return answer["stop"]
