// Drives the official Socket.IO admin UI (@socket.io/admin-ui 0.5, its
// ui/dist served by the Go test) in headless Chromium against a fleet of
// socketfleet-runtime processes: log in, see the servers and the sockets of
// every process, disconnect one socket, see it gone.
//
//   node adminui.mjs <ui url> <runtime url> <username> <password> <keep id> <drop id> <servers> [screenshot dir]
//
// <servers> is the number of servers the UI must list. Prints one JSON line
// {"ok":true,...} and exits 0, or {"ok":false,"error":...} and exits 1 —
// including when Chromium cannot start: a failure, never a skip.
import { chromium } from "playwright-core";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const [uiURL, serverURL, username, password, keepID, dropID, servers, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const result = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const here = path.dirname(fileURLToPath(import.meta.url));
// The UI loads its icon font from a CDN: served from the @mdi/font package
// instead, and every other request off loopback is refused.
const mdi = path.join(here, "node_modules/@mdi/font");
const mdiPrefix = "https://cdn.jsdelivr.net/npm/@mdi/font@latest/";

let browser;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    timeout: 30000,
  });
} catch (err) {
  result({ ok: false, error: `cannot start Chromium at ${executablePath}: ${err.message}` });
  process.exit(1);
}

const pageErrors = [];
const consoleErrors = [];
let page;
try {
  page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on("pageerror", (err) => pageErrors.push(err.message));
  page.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(msg.text()); });
  await page.route((url) => !url.hostname.startsWith("127."), async (route) => {
    const url = route.request().url();
    if (url.startsWith(mdiPrefix)) {
      const file = path.join(mdi, url.slice(mdiPrefix.length).split(/[?#]/)[0]);
      const type = file.endsWith(".css") ? "text/css" : file.endsWith(".woff2") ? "font/woff2" : "application/octet-stream";
      return route.fulfill({ body: await readFile(file), contentType: type });
    }
    return route.abort();
  });
  await page.goto(uiURL, { waitUntil: "load", timeout: 15000 });
  await page.getByLabel("Server URL").fill(serverURL);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.locator(".v-chip", { hasText: /^\s*connected\s*$/i }).first().waitFor({ timeout: 15000 });

  // The servers page lists every process (server_stats through Redis).
  await page.getByRole("navigation").getByRole("link", { name: "Servers" }).click();
  await page.waitForFunction((n) => document.querySelectorAll("main tbody tr").length >= n &&
    [...document.querySelectorAll("main tbody tr")].every((tr) => /healthy/i.test(tr.textContent)), Number(servers),
  { timeout: 15000 });
  const serverRows = await page.locator("main tbody tr").allInnerTexts();
  // Screenshots wait for the page transition and the click ripple to end.
  const screenshot = async (name) => {
    if (!shots) return;
    await page.mouse.move(1200, 700);
    await page.waitForTimeout(1000);
    await page.screenshot({ path: path.join(shots, name) });
  };
  await screenshot("admin-ui-servers.png");

  await page.getByRole("navigation").getByRole("link", { name: "Sockets" }).click();
  const row = (id) => page.getByRole("row", { name: new RegExp(id.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")) });
  await row(keepID).waitFor({ timeout: 15000 });
  await row(dropID).waitFor({ timeout: 15000 });
  await screenshot("admin-ui-sockets.png");

  // The row's action button disconnects the socket (_disconnect); the click
  // also opens the socket's page, which shows it disconnected.
  await row(dropID).getByRole("button").click();
  await page.locator(".v-chip", { hasText: /^\s*disconnected\s*$/i }).first().waitFor({ timeout: 15000 });
  await page.getByRole("navigation").getByRole("link", { name: "Sockets" }).click();
  await row(keepID).waitFor({ timeout: 15000 });
  await row(dropID).waitFor({ state: "detached", timeout: 15000 });
  await row(keepID).waitFor({ timeout: 5000 });
  if (pageErrors.length > 0) throw new Error(`page errors: ${pageErrors.join("; ")}`);
  result({ ok: true, servers: serverRows.map((r) => r.replace(/\s+/g, " ").trim()) });
  await browser.close();
  process.exit(0);
} catch (err) {
  const text = await page?.locator("body").innerText().catch(() => "");
  result({ ok: false, error: err.message, pageErrors, consoleErrors, page: (text || "").slice(0, 2000) });
  await browser.close().catch(() => {});
  process.exit(1);
}
