"""Proof that a Python client generated from openapi.yaml works against a live Patron.

Logs in, creates a customer, finds it in the list and reads it back, then imports a
one-row CSV file (the spec's only non-JSON request body), through the package
`patron_client` that openapi-python-client generates from the repository's openapi.yaml
(`--meta none`), used UNMODIFIED. scripts/proof generates it under target/ and puts it on
PYTHONPATH.

Environment: PATRON_URL (e.g. http://127.0.0.1:8080), PATRON_ADMIN_EMAIL,
PATRON_ADMIN_PASSWORD. Exit status 0 when every step did what the spec promises.
"""

import io
import os
import sys
import time

from patron_client import AuthenticatedClient, Client
from patron_client.api.auth import post_auth_token as token

# Module names come from the operationIds, which the spec makes unique from the
# method and the path's words, e.g. post_customers for POST /api/v1/customers.
from patron_client.api.customers import get_customers as list_customers
from patron_client.api.customers import get_customers_id as get_customer
from patron_client.api.customers import post_customers as create_customer
from patron_client.api.sync import post_customers_import as import_csv
from patron_client.models import (
    AcquisitionSource,
    BulkResponse,
    CustomerCreate,
    CustomerKind,
    CustomerPage,
    CustomerView,
    ItemStatus,
    PersonalityType,
    TokenRequest,
    TokenResponse,
)
from patron_client.types import File


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set")
    return value


def check(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def main() -> None:
    base_url = env("PATRON_URL")

    # 1. Log in. raise_on_unexpected_status: a status the spec does not list is an error.
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    login = token.sync_detailed(
        client=anonymous,
        body=TokenRequest(email=env("PATRON_ADMIN_EMAIL"), password=env("PATRON_ADMIN_PASSWORD")),
    )
    check(isinstance(login.parsed, TokenResponse), f"login failed: {login.status_code} {login.content!r}")
    assert isinstance(login.parsed, TokenResponse)
    print(f"login: {login.status_code}, token expires in {login.parsed.expires_in} s")

    # Every further call carries the bearer token.
    api = AuthenticatedClient(base_url=base_url, token=login.parsed.access_token, raise_on_unexpected_status=True)

    # 2. Create a customer card (a unique name, so the list below finds exactly this one).
    name = f"Python client {time.time_ns()}"
    created = create_customer.sync_detailed(
        client=api,
        body=CustomerCreate(
            kind=CustomerKind.ORGANIZATION,
            name=name,
            region="Hangzhou",
            acquisition_source=AcquisitionSource.TRADE_SHOW,
            personality_type=PersonalityType.RATIONAL,
            tags=["proof"],
        ),
    )
    check(created.status_code == 201, f"create answered {created.status_code}: {created.content!r}")
    check(isinstance(created.parsed, CustomerView), f"create returned {created.parsed!r}")
    assert isinstance(created.parsed, CustomerView)
    customer_id = created.parsed.id
    print(f"create: {created.status_code}, id {customer_id}, ETag {created.headers.get('ETag')}")

    # 3. List with a search: the new card is there.
    page = list_customers.sync_detailed(client=api, q=name, limit=10)
    check(isinstance(page.parsed, CustomerPage), f"list failed: {page.status_code} {page.content!r}")
    assert isinstance(page.parsed, CustomerPage)
    check(
        any(c.id == customer_id and c.name == name for c in page.parsed.items),
        f"list does not contain customer {customer_id}: {page.content!r}",
    )
    print(f"list: {page.status_code}, {len(page.parsed.items)} item(s) for q={name}")

    # 4. Read it back by id.
    read = get_customer.sync_detailed(customer_id, client=api)
    check(isinstance(read.parsed, CustomerView), f"read failed: {read.status_code} {read.content!r}")
    assert isinstance(read.parsed, CustomerView)
    check(read.parsed.name == name and read.parsed.kind == CustomerKind.ORGANIZATION, f"read back {read.content!r}")
    check(read.parsed.tags == ["proof"], f"tags are {read.parsed.tags!r}")
    print(f"read: {read.status_code}, {read.parsed.name} ({read.parsed.kind}, {read.parsed.region})")

    # 5. Import a CSV file (text/csv): one new card, matched by external_id.
    external_id = f"PY-{time.time_ns()}"
    csv = f"external_id,kind,name,region,tags\n{external_id},organization,{name} CSV,Hangzhou,proof|csv\n"
    imported = import_csv.sync_detailed(
        client=api, body=File(payload=io.BytesIO(csv.encode()), file_name="customers.csv", mime_type="text/csv")
    )
    check(isinstance(imported.parsed, BulkResponse), f"import failed: {imported.status_code} {imported.content!r}")
    assert isinstance(imported.parsed, BulkResponse)
    results = imported.parsed.items
    check(
        len(results) == 1 and results[0].status == ItemStatus.CREATED and isinstance(results[0].id, int),
        f"import results: {imported.content!r}",
    )
    assert isinstance(results[0].id, int)
    row = get_customer.sync_detailed(results[0].id, client=api)
    check(
        isinstance(row.parsed, CustomerView) and row.parsed.external_id == external_id, f"imported card {row.content!r}"
    )
    print(f"import: {imported.status_code}, row 1 {results[0].status} as id {results[0].id}")

    print("Python client: login, create, list, read, CSV import OK")


if __name__ == "__main__":
    main()
