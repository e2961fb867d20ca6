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
operation and every check stay in.

One input is altered: a well-formed `Idempotency-Key`. Its contract is "a fresh key per
distinct request" (README, spec): the API must answer a key reused with a different
request with a 422, and the fuzzer, drawing keys from a small pool, reuses them across
unrelated requests all the time. A well-formed key is therefore made unique per call;
malformed keys (empty, too long, control characters) are left as generated, so their
rejection is still tested. Replays with the same key are covered by tests/api.
"""

import os
import uuid

import schemathesis

FUZZ_USER_ID = os.environ["PATRON_FUZZ_USER_ID"]  # set by scripts/proof


@schemathesis.hook
def filter_case(context, case):
    operation = case.operation
    if operation.method.upper() == "PATCH" and operation.path == "/api/v1/users/{id}":
        return str((case.path_parameters or {}).get("id")) != FUZZ_USER_ID
    return True


def _well_formed_key(value):
    return isinstance(value, str) and 0 < len(value) <= 200 and all(0x21 <= ord(c) <= 0x7E for c in value)


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and _well_formed_key(headers[name]):
            headers[name] = f"fuzz-{uuid.uuid4()}"
    return None
