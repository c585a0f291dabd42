"""The part of SageMaker moto lacks, for tests that run sagemaker training jobs through real workers.

moto (in server mode) records training jobs and serves CloudWatch and S3, but
its training jobs are Completed the moment they are created, publish no
metrics, and it has no StopTrainingJob. moto's state manager
(/moto-api/state-manager/set-transition) has no model for SageMaker training
jobs, so it cannot hold one InProgress either.

So the workers talk to `TrainingLifecycle`, a small HTTP front in the test
process that passes every request on to the moto server and adds only a
training job that trains for a while. Between two DescribeTrainingJob calls a
job "logs" one more epoch, which the front publishes to moto's CloudWatch with
put_metric_data as SageMaker would (one epoch per look, not per second, so that
a slow machine cannot let a job finish before the test had a chance to act on
it); the job is InProgress until all epochs are out, then Completed;
StopTrainingJob makes it Stopping, then Stopped. Tuneboard's side, from boto3
to early stopping, runs unchanged.
"""

import http.client
import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3

from jobs.backends.sagemaker import METRICS_NAMESPACE


class TrainingLifecycle:
    """The SageMaker training job lifecycle moto lacks, in front of a moto server.

    `value(hyperparameters, epoch)` is what a job logs for `metric_name` at an
    epoch. With `hold_at`, a job that has logged that many epochs stays
    InProgress, logging nothing more, until `release()`: a test can then act
    (kill the worker watching it) knowing where the job stands.
    """

    def __init__(
        self,
        moto_url: str,
        *,
        epochs: int,
        value: Callable[[Mapping[str, str], int], float],
        metric_name: str = "validation:accuracy",
        hold_at: int | None = None,
    ):
        self.moto = urlsplit(moto_url)
        self.cloudwatch = boto3.session.Session().client("cloudwatch", endpoint_url=moto_url, region_name="us-east-1")
        self.epochs = epochs
        self.value = value
        self.metric_name = metric_name
        self.hold_at = hold_at
        self.jobs: dict[str, dict] = {}
        self.creates: list[str] = []
        self.stop_requests: list[str] = []
        self.lock = threading.Lock()
        lifecycle = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                lifecycle.handle(self)

            do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        with self.lock:
            self.hold_at = None

    def published(self, name: str) -> int:
        with self.lock:
            return self.jobs[name]["published"]

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        target = request.headers.get("X-Amz-Target", "")
        if target == "SageMaker.StopTrainingJob":
            self.reply(request, *self.stop(json.loads(body)["TrainingJobName"]))
            return
        if target == "SageMaker.CreateTrainingJob":
            with self.lock:
                self.creates.append(json.loads(body)["TrainingJobName"])
        status, headers, answer = self.forward(request, body)
        if status == 200 and target == "SageMaker.CreateTrainingJob":
            created = json.loads(body)
            with self.lock:
                self.jobs[created["TrainingJobName"]] = {
                    "hyperparameters": created["HyperParameters"],
                    "clock": datetime.now(UTC),
                    "published": 0,
                    "stop_describes": None,
                }
        elif status == 200 and target == "SageMaker.DescribeTrainingJob":
            description = json.loads(answer)
            description.update(self.advance(description["TrainingJobName"]))
            answer = json.dumps(description).encode()
        self.reply(request, status, answer, headers)

    def forward(self, request, body):
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=30)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")}
        connection.request(request.command, request.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in ("content-length", "transfer-encoding")]
        connection.close()
        return response.status, kept, answer

    def reply(self, request, status, answer, headers=(("Content-Type", "application/x-amz-json-1.1"),)):
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in ("server", "date", "connection"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(answer)

    def advance(self, name: str) -> dict:
        """The job as of this look: publish the epoch it "logged" since the last one, say its status.

        Tests call it directly for a job that trains on while nobody watches it.
        """
        with self.lock:
            job = self.jobs[name]
            if job["stop_describes"] is not None:
                job["stop_describes"] += 1
                status = "Stopping" if job["stop_describes"] == 1 else "Stopped"
                return {"TrainingJobStatus": status, "SecondaryStatus": status}
            if job["published"] == self.epochs:
                return {"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"}
            if job["published"] == self.hold_at:
                return {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}
            job["published"] += 1
            epoch = job["published"]
        self.cloudwatch.put_metric_data(
            Namespace=METRICS_NAMESPACE,
            MetricData=[
                {
                    "MetricName": self.metric_name,
                    "Dimensions": [{"Name": "TrainingJobName", "Value": name}],
                    # A second apart, as epochs of a real job would be at least.
                    "Timestamp": job["clock"] + timedelta(seconds=epoch),
                    "Value": self.value(job["hyperparameters"], epoch),
                }
            ],
        )
        return {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}

    def stop(self, name: str):
        with self.lock:
            job = self.jobs.get(name)
            if job is None or job["published"] == self.epochs or job["stop_describes"] is not None:
                error = {"__type": "ValidationException", "message": f"{name} is not in progress."}
                return 400, json.dumps(error).encode()
            job["stop_describes"] = 0
            self.stop_requests.append(name)
        return 200, b"{}"
