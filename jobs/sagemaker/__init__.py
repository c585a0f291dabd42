"""Everything that speaks SageMaker's language, in one place.

- `validation`: a request body checked against botocore's SageMaker model
- `shapes`: SageMaker's JSON <-> Tuneboard's models (Create, Describe, List, the import's reading)
- `algorithm`: an algorithm's SageMaker settings, checked when it is registered
- `api/`: the SageMaker-compatible endpoint at /sagemaker (SigV4, operations, errors)
- `imports`: importing tuning jobs from SageMaker through boto3

The state these change goes through jobs.services like every other entry
point (access keys: jobs.services.access_keys; imported rows:
jobs.services.imports); the sagemaker training backend is with the other
backends, behind their one interface (jobs.backends.sagemaker).
"""
