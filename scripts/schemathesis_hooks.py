"""Schemathesis hooks for scripts/proof (loaded through SCHEMATHESIS_HOOKS).

One guard, and nothing else: the fuzzer must not saw off the branch it sits on.

Schemathesis calls the API as one admin user (PATRON_FUZZ_USER_ID, the owner of the
bearer token scripts/proof passes with -H). `PATCH /api/v1/users/{id}` may change that
user's password, role or active flag, and the API is right to revoke or downgrade the
token at once when it does (README: "deactivating a user, changing their password or
their role takes effect at once for existing tokens"). The fuzzer finds that user's id
in `GET /api/v1/users` and, once it has created a second admin, demotes or deactivates
the first: every later request is then a 401/403 and the rest of the run tests nothing.

So the generated cases of that one operation that target that one user are dropped.
Every other user id (including the users the fuzzer creates itself), every other
operation and every check stay in. No other input is filtered or altered.
"""

import os

import schemathesis

FUZZ_USER_ID = os.environ["PATRON_FUZZ_USER_ID"]  # set by scripts/proof


@schemathesis.hook
def filter_case(context, case):
    operation = case.operation
    if operation.method.upper() == "PATCH" and operation.path == "/api/v1/users/{id}":
        return str((case.path_parameters or {}).get("id")) != FUZZ_USER_ID
    return True
