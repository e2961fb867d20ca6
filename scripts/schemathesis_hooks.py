"""Schemathesis hooks for scripts/proof (loaded through SCHEMATHESIS_HOOKS).

Three hooks, and nothing else.

1. The fuzzer must not saw off the branch it sits on.

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

2. A well-formed `Idempotency-Key` of a valid case is made unique per call.

   The key's contract is "one key, one request" (README, spec): the API must answer a key
   reused with a different request with a 422, and the fuzzer, drawing keys from a small
   pool of examples, reuses them across unrelated requests all the time, which turned
   every POST into a false "schema-valid request rejected". Only cases schemathesis
   generated as *valid* are touched: negative cases (including its "missing
   Authorization" probes, whose header exclusion depends on the case staying negative)
   go exactly as generated, and so do malformed keys (empty, too long, control
   characters), whose rejection is still tested. Replays with the same key and the
   reuse of a key for another request are tested in tests/api/sync_idempotency.rs.

3. Control characters in the strings of a valid case's body become "?".

   The API refuses the control characters (Unicode Cc) other than tab, line feed and
   carriage return in every string of every body, naming each field (the spec's
   description says so; tests/api/errors.rs and src/http/extract.rs cover it), as it
   refuses U+0000 (`generation.allow-x00 = false` in schemathesis.toml). JSON Schema
   cannot say it next to the fields' own patterns without an allOf on every string, so
   schema-valid strings hold them, and any text field of any operation became a false
   "schema-valid request rejected". Negative cases go as generated. The invisible
   characters (Unicode format characters such as U+200B and U+FEFF, variation
   selectors) the API refuses in an ERP key (`external_id`) and an email address become
   "?" too, for the same reason: a key that looks like another must not be another.

No other input is filtered or altered.
"""

import os
import re
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
    return isinstance(value, str) and 0 < len(value) <= 255 and all(0x21 <= ord(c) <= 0x7E for c in value)


def _is_negative(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_negative


_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    # src/http/validation.rs `invisible`
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufe00-\ufe0f\ufeff"
    "\ufff9-\ufffb\U0001bca0-\U0001bca3\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]"
)


def _without_controls(value):
    if isinstance(value, str):
        return _CONTROL.sub("?", value)
    if isinstance(value, list):
        return [_without_controls(v) for v in value]
    if isinstance(value, dict):
        return {_without_controls(k): _without_controls(v) for k, v in value.items()}
    return value


@schemathesis.hook
def before_call(context, case, **kwargs):
    if _is_negative(case):
        return
    if case.body is not None:
        case.body = _without_controls(case.body)
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and _well_formed_key(headers[name]):
            headers[name] = f"fuzz-{uuid.uuid4()}"
