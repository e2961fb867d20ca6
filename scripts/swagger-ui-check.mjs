// Drives Patron's Swagger UI in a real, headless Chromium, the way a person would:
// log in through "Try it out" on POST /api/v1/auth/token, paste the token into
// "Authorize", then "Try it out" on GET /api/v1/customers and expect a 200 that lists
// the customer created beforehand. Saves a screenshot either way.
//
// Run by scripts/swagger-ui-check, which installs Chromium and playwright-core and
// creates the customer. Environment (all required):
//   PATRON_URL             base URL of a running server, e.g. http://127.0.0.1:8080
//   PATRON_ADMIN_EMAIL     credentials typed into the login request body
//   PATRON_ADMIN_PASSWORD
//   EXPECT_CUSTOMER        name of a customer the list must contain
//   SCREENSHOT             where to save the PNG
//   PLAYWRIGHT_MODULES     node_modules folder holding playwright-core
//   CHROMIUM               the browser executable (Debian: /usr/bin/chromium)
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const baseUrl = env("PATRON_URL").replace(/\/$/, "");
const email = env("PATRON_ADMIN_EMAIL");
const password = env("PATRON_ADMIN_PASSWORD");
const expectCustomer = env("EXPECT_CUSTOMER");
const screenshot = env("SCREENSHOT");
// playwright-core lives in a tool folder under target/, not next to this file.
const require = createRequire(join(env("PLAYWRIGHT_MODULES"), "noop.js"));
const { chromium } = require("playwright-core");

const TIMEOUT = 15_000; // per UI step; the whole page is local

const log = (message) => console.error(`swagger-ui-check: ${message}`);

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  // Running as root needs --no-sandbox; the rest keeps Chromium from calling home on a
  // machine with no internet (see /work/shared/design/STACK-NOTES.md).
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
let shot = null; // the operation block to photograph; the whole page when unset
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
page.setDefaultTimeout(TIMEOUT);
// Any error the page logs is reported (Swagger UI would show a broken spec there).
page.on("pageerror", (err) => log(`page error: ${err.message}`));
page.on("console", (msg) => {
  if (msg.type() === "error") log(`console error: ${msg.text()}`);
});

/** The operation block for METHOD PATH, e.g. ("post", "/api/v1/auth/token"). */
function operation(method, path) {
  return page
    .locator(`.opblock.opblock-${method}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Expand an operation, press "Try it out" and return its block. */
async function tryItOut(method, path) {
  const op = operation(method, path);
  await op.first().waitFor();
  const count = await op.count();
  if (count !== 1) throw new Error(`${count} operation blocks for ${method.toUpperCase()} ${path}, expected 1`);
  await op.locator(".opblock-summary").first().click();
  await op.locator("button.try-out__btn").click();
  return op;
}

/** Press Execute and return {status, body} of the live response Swagger UI shows. */
async function execute(op) {
  await op.locator("button.execute").click();
  const row = op.locator(".live-responses-table tbody tr.response").first();
  await row.waitFor();
  const status = Number((await row.locator("td.response-col_status").innerText()).trim());
  const body = (await row.locator("td.response-col_description pre").first().innerText()).trim();
  return { status, body };
}

try {
  log(`opening ${baseUrl}/swagger-ui/`);
  await page.goto(`${baseUrl}/swagger-ui/`);
  await page.locator(".information-container .title").waitFor();
  log(`loaded: ${(await page.locator(".information-container .title").innerText()).split("\n")[0]}`);

  // 1. Log in through the UI.
  const login = await tryItOut("post", "/api/v1/auth/token");
  await login.locator("textarea.body-param__text").fill(JSON.stringify({ email, password }, null, 2));
  const token = await execute(login);
  if (token.status !== 200) throw new Error(`POST /api/v1/auth/token answered ${token.status}: ${token.body}`);
  const accessToken = JSON.parse(token.body).access_token;
  if (typeof accessToken !== "string" || accessToken.split(".").length !== 3) {
    throw new Error(`no JWT access_token in the login response: ${token.body}`);
  }
  log("POST /api/v1/auth/token: 200, got an access_token");

  // 2. Authorize: paste the token into the bearer scheme's dialog.
  await page.locator(".auth-wrapper button.authorize").click();
  const dialog = page.locator(".dialog-ux .modal-ux");
  await dialog.waitFor();
  await dialog.locator(".auth-container input").first().fill(accessToken);
  await dialog.locator("button.modal-btn.auth.authorize").click();
  await dialog.locator("button.modal-btn.auth.btn-done, button.btn-done").first().click();
  await dialog.waitFor({ state: "detached" });
  log("Authorize: bearer token set");

  // 3. List customers with the token: 200 and the customer created beforehand.
  const list = await tryItOut("get", "/api/v1/customers");
  shot = list; // the screenshot shows this block: request, curl, response
  const customers = await execute(list);
  // The request Swagger UI sent, as the curl command it shows: right URL, with the token.
  const curl = await list.locator(".curl-command").innerText();
  if (!/'https?:\/\/[^']*\/api\/v1\/customers['?]/.test(curl)) {
    throw new Error(`"Execute" on GET /api/v1/customers sent another request: ${curl.replace(/\s+/g, " ")}`);
  }
  if (!curl.includes(`Bearer ${accessToken}`)) throw new Error(`the request did not carry the token: ${curl}`);
  if (customers.status !== 200) throw new Error(`GET /api/v1/customers answered ${customers.status}: ${customers.body}`);
  const names = (JSON.parse(customers.body).items ?? []).map((c) => c.name);
  if (!names.includes(expectCustomer)) {
    throw new Error(`GET /api/v1/customers: 200 but "${expectCustomer}" is not among ${JSON.stringify(names)}`);
  }
  log(`GET /api/v1/customers: 200, lists "${expectCustomer}"`);
} catch (err) {
  failed = true;
  console.error(`swagger-ui-check: FAILED: ${err.message}`);
} finally {
  mkdirSync(dirname(screenshot), { recursive: true });
  await (shot ? shot.screenshot({ path: screenshot }) : page.screenshot({ path: screenshot, fullPage: true })).catch(
    (e) => log(`no screenshot: ${e.message}`),
  );
  log(`screenshot: ${screenshot}`);
  await browser.close();
}
process.exit(failed ? 1 : 0);
