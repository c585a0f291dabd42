"""SageMaker's error shapes: {"__type": code, "message": ...} with the HTTP status AWS sends."""


class SageMakerError(Exception):
    code = "InternalFailure"
    status = 500

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)

    def body(self) -> dict:
        return {"__type": self.code, "message": self.message}


def _error(code: str, status: int) -> type[SageMakerError]:
    return type(code, (SageMakerError,), {"code": code, "status": status})


ValidationException = _error("ValidationException", 400)
ResourceNotFound = _error("ResourceNotFound", 400)
ResourceInUse = _error("ResourceInUse", 400)
ResourceLimitExceeded = _error("ResourceLimitExceeded", 400)
ThrottlingException = _error("ThrottlingException", 400)
AccessDeniedException = _error("AccessDeniedException", 400)
UnknownOperationException = _error("UnknownOperationException", 400)
SerializationException = _error("SerializationException", 400)
# A body over the size the server reads: refused before it is read, with the status
# AWS's front end sends for one, and the JSON error a client can parse.
RequestTooLarge = type("SerializationException", (SerializationException,), {"status": 413})
# Authentication, as SageMaker's front end answers: a request without a
# signature or with a wrong one is Forbidden; a malformed Authorization header
# or an access key it does not know is a Bad Request.
MissingAuthenticationTokenException = _error("MissingAuthenticationTokenException", 403)
IncompleteSignatureException = _error("IncompleteSignatureException", 400)
InvalidSignatureException = _error("InvalidSignatureException", 403)
UnrecognizedClientException = _error("UnrecognizedClientException", 400)
