"""The seed's tuning job with the SageMaker Python SDK v3 (`sagemaker` 3.x, sagemaker-core 2.x).

SDK v3 replaces the Estimator with a ModelTrainer and `tuner.fit` with `tuner.tune`; the
ranges, the objective and the analytics table are the seed's. SDK v3 cannot share an
environment with SDK v2 (v2 needs sagemaker-core 1.x, v3 needs 2.x), so this script runs in
an environment of its own (requirements-sdk-v3.txt; `make test-sdk-v3` makes one and runs
tests/jobs/sagemaker/api/test_sdk_v3.py, which runs this against a live Tuneboard).

It reads where Tuneboard and the S3 store are from the environment, as the SDK does
(AWS_ENDPOINT_URL_SAGEMAKER, AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION), and needs SAGEMAKER_VALIDATE_ROLE=false: otherwise ModelTrainer
checks the role with IAM's SimulatePrincipalPolicy, which is AWS. It prints the tuning
job's training jobs as JSON lines, best first.
"""

from __future__ import annotations

import argparse
import json
import sys

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-name", required=True)
    parser.add_argument("--train", required=True, help="s3:// prefix of the train channel")
    parser.add_argument("--validation", required=True, help="s3:// prefix of the validation channel")
    parser.add_argument("--output", required=True, help="s3:// output path of the models")
    parser.add_argument("--early-stopping", choices=["Off", "Auto"], default="Off")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    from sagemaker.core import image_uris
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.parameter import CategoricalParameter, ContinuousParameter, IntegerParameter
    from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig
    from sagemaker.train.model_trainer import ModelTrainer
    from sagemaker.train.tuner import HyperparameterTuner

    sess = Session()
    trainer = ModelTrainer(
        training_image=image_uris.retrieve("image-classification", sess.boto_region_name),
        role=ROLE,
        compute=Compute(instance_type="ml.p3.2xlarge", instance_count=1, volume_size_in_gb=50),
        output_data_config=OutputDataConfig(s3_output_path=args.output),
        hyperparameters={"num_classes": 10, "image_shape": "1,8,8", "epochs": args.epochs},
        sagemaker_session=sess,
    )
    tuner = HyperparameterTuner(
        model_trainer=trainer,
        objective_metric_name="validation:accuracy",
        hyperparameter_ranges={
            "learning_rate": ContinuousParameter(0.00001, 1.0),
            "mini_batch_size": IntegerParameter(16, 64),
            "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop", "nag"]),
        },
        objective_type="Maximize",
        max_jobs=args.jobs,
        max_parallel_jobs=args.parallel,
        early_stopping_type=args.early_stopping,
    )
    tuner.tune(
        inputs=[
            InputData(channel_name="train", data_source=args.train, content_type="text/csv"),
            InputData(channel_name="validation", data_source=args.validation, content_type="text/csv"),
        ],
        job_name=args.job_name,
        wait=True,
    )
    print(json.dumps({"best_training_job": tuner.best_training_job()}))
    frame = tuner.analytics().dataframe().sort_values(["FinalObjectiveValue"], ascending=False)
    for row in frame.to_dict("records"):
        print(json.dumps(row, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
