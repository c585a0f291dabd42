"""A SageMaker-compatible endpoint: boto3 and the SageMaker SDK talk to Tuneboard at /sagemaker.

AWS JSON 1.1 over POST, SigV4-signed with access keys users create in
Tuneboard; the operations translate through jobs.sagemaker.shapes and act
through jobs.services, like every other entry point.
"""
