"""The error a domain rule raises when it refuses a change (an API key, an account, a balance).

Services raise it with the message the caller shows (naming the field) and, for the REST API, the HTTP
status and machine reason; forms, commands and the REST envelope each turn it into their own answer.
"""


class RuleError(Exception):
    def __init__(self, message: str, status: int = 400, reason: str | None = None):
        super().__init__(message)
        self.message, self.status, self.reason = message, status, reason
