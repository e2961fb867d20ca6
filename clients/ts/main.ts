// Proof that a TypeScript client generated from openapi.yaml works against a live Patron:
// log in, create a customer, find it in the list, read it back.
//
// The types in ./generated/ are produced by openapi-typescript from the repository's
// openapi.yaml and used UNMODIFIED; the calls go through openapi-fetch. `tsc` type-checks
// this file against them (so a spec that disagrees with the real API fails here), then
// node runs the compiled JavaScript. scripts/proof does all of that, under target/.
//
// Environment: PATRON_URL (e.g. http://127.0.0.1:8080), PATRON_ADMIN_EMAIL,
// PATRON_ADMIN_PASSWORD. Exit status 0 when every step did what the spec promises.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/patron.js";

type CustomerCreate = components["schemas"]["CustomerCreate"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const baseUrl = env("PATRON_URL");

// 1. Log in: no token needed for this one call.
const anonymous = createClient<paths>({ baseUrl });
const login = await anonymous.POST("/api/v1/auth/token", {
  body: { email: env("PATRON_ADMIN_EMAIL"), password: env("PATRON_ADMIN_PASSWORD") },
});
check(login.data, `login failed: ${login.response.status} ${JSON.stringify(login.error)}`);
check(login.data.token_type === "Bearer", `token_type is ${login.data.token_type}`);
console.log(`login: ${login.response.status}, token expires in ${login.data.expires_in} s`);

// Every further call carries the bearer token.
const api = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${login.data.access_token}` },
});

// 2. Create a customer card (a unique name, so the list below finds exactly this one).
const name = `TS client ${Date.now()}`;
const card: CustomerCreate = {
  kind: "organization",
  name,
  region: "Hangzhou",
  acquisition_source: "trade_show",
  personality_type: "rational",
  tags: ["proof"],
};
const created = await api.POST("/api/v1/customers", { body: card });
check(created.data, `create failed: ${created.response.status} ${JSON.stringify(created.error)}`);
check(created.response.status === 201, `create answered ${created.response.status}, not 201`);
const id = created.data.id;
console.log(`create: ${created.response.status}, id ${id}, ETag ${created.response.headers.get("ETag")}`);

// 3. List with a search: the new card is there.
const list = await api.GET("/api/v1/customers", {
  params: { query: { q: name, limit: 10 } },
});
check(list.data, `list failed: ${list.response.status} ${JSON.stringify(list.error)}`);
check(
  list.data.items.some((c) => c.id === id && c.name === name),
  `list does not contain customer ${id}: ${JSON.stringify(list.data.items)}`,
);
console.log(`list: ${list.response.status}, ${list.data.items.length} item(s) for q=${name}`);

// 4. Read it back by id.
const read = await api.GET("/api/v1/customers/{id}", { params: { path: { id } } });
check(read.data, `read failed: ${read.response.status} ${JSON.stringify(read.error)}`);
check(read.data.name === name && read.data.kind === "organization", `read back ${JSON.stringify(read.data)}`);
check(read.data.tags.includes("proof"), `tags are ${JSON.stringify(read.data.tags)}`);
console.log(`read: ${read.response.status}, ${read.data.name} (${read.data.kind}, ${read.data.region})`);

console.log("TypeScript client: login, create, list, read OK");
