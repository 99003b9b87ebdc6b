// Drives the chat demo page of socketfleet-runtime in headless Chromium:
// two tabs join the same room, one sends a message, the other shows it.
//
//   node browser.mjs <url>     (CHROMIUM overrides /usr/bin/chromium)
//
// Prints one JSON line {"ok":true,...} and exits 0, or {"ok":false,"error":...}
// and exits 1 — including when Chromium cannot start: that is a failure,
// never a skip.
import { chromium } from "playwright-core";

const url = process.argv[2];
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const result = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

let browser;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--disable-dev-shm-usage"],
    timeout: 30000,
  });
} catch (err) {
  result({ ok: false, error: `cannot start Chromium at ${executablePath}: ${err.message}` });
  process.exit(1);
}

const consoleErrors = [];
try {
  const context = await browser.newContext();
  const open = async (name) => {
    const page = await context.newPage();
    page.on("pageerror", (err) => consoleErrors.push(`${name}: ${err.message}`));
    page.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(`${name}: ${msg.text()}`); });
    await page.goto(url, { waitUntil: "load", timeout: 15000 });
    await page.waitForSelector("#status.online", { timeout: 15000 });
    await page.fill("#name", name);
    await page.fill("#room", "lobby");
    await page.click("#join");
    await page.waitForFunction(() => (document.body.dataset.joined || "").split(",").includes("lobby"), null,
      { timeout: 10000 });
    return page;
  };
  const alice = await open("alice");
  const bob = await open("bob");

  const text = `hello from alice ${Date.now()}`;
  await alice.fill("#text", text);
  await alice.click("#send");
  const seen = await bob.waitForFunction((t) => {
    const li = [...document.querySelectorAll("#messages li")].find((el) => el.textContent.includes(t));
    return li && !li.hidden && li.textContent;
  }, text, { timeout: 10000 });
  const bobLine = await seen.jsonValue();
  await alice.waitForFunction((t) => [...document.querySelectorAll("#messages li.mine")]
    .some((el) => el.textContent.includes(t)), text, { timeout: 10000 });

  const reply = `hi alice, bob here ${Date.now()}`;
  await bob.fill("#text", reply);
  await bob.click("#send");
  await alice.waitForFunction((t) => [...document.querySelectorAll("#messages li")]
    .some((el) => el.textContent.includes(t) && !el.classList.contains("mine")), reply, { timeout: 10000 });

  const status = await alice.textContent("#status");
  const error = await alice.textContent("#error");
  if (error.trim() !== "" || consoleErrors.length > 0) {
    throw new Error(`page errors: ${error} ${consoleErrors.join("; ")}`);
  }
  result({ ok: true, bobSaw: bobLine.trim(), aliceStatus: status.trim() });
  await browser.close();
  process.exit(0);
} catch (err) {
  result({ ok: false, error: err.message, consoleErrors });
  await browser.close().catch(() => {});
  process.exit(1);
}
