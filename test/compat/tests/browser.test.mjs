// The official socket.io-client browser bundle (dist/socket.io.min.js) in
// headless Chromium (/usr/bin/chromium driven by playwright-core), loaded
// from a page on another origin (a static server of this test on
// COMPAT_PAGE_PORT, an origin the fixture allows through CORS).
// If Chromium cannot start, the tests fail; they never skip.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";
import { BASE, TRANSPORTS } from "../lib/helpers.mjs";

const TIMEOUT = { timeout: 60_000 };
const CHROMIUM = "/usr/bin/chromium";
const require = createRequire(import.meta.url);
const BUNDLE = path.join(path.dirname(require.resolve("socket.io-client/package.json")), "dist", "socket.io.min.js");

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>compat</title>
<script src="/socket.io.min.js"></script><script src="/msgpack-parser.js"></script></head><body>socket.io compat</body></html>`;

/**
 * socket.io-msgpack-parser for the page, from the npm files as they are: notepack.io's browser build
 * (dist/notepack.js, global notepack) and the CommonJS modules of the parser and component-emitter, wrapped
 * in a minimal require. Sets window.msgpackParser.
 */
async function msgpackParserScript() {
  const file = (pkg, rel) => readFile(path.join(path.dirname(require.resolve(`${pkg}/package.json`)), rel), "utf8");
  const wrap = (name, src) => `modules[${JSON.stringify(name)}] = function (module, exports, require) {\n${src}\n};`;
  return `${await file("notepack.io", "dist/notepack.js")}
(function () {
  var modules = {}, cache = {};
  ${wrap("component-emitter", await file("component-emitter", "index.js"))}
  ${wrap("socket.io-msgpack-parser", await file("socket.io-msgpack-parser", "index.js"))}
  function req(name) {
    if (name === "notepack.io") return self.notepack;
    if (!cache[name]) {
      cache[name] = { exports: {} };
      modules[name](cache[name], cache[name].exports, req);
    }
    return cache[name].exports;
  }
  self.msgpackParser = req("socket.io-msgpack-parser");
})();`;
}

/** Starts a static server for the page and the client bundle on port (0: any). */
async function staticServer(port) {
  const bundle = await readFile(BUNDLE);
  const parser = await msgpackParserScript();
  const server = http.createServer((req, res) => {
    if (req.url === "/socket.io.min.js") {
      res.writeHead(200, { "content-type": "application/javascript" });
      res.end(bundle);
    } else if (req.url === "/msgpack-parser.js") {
      res.writeHead(200, { "content-type": "application/javascript" });
      res.end(parser);
    } else if (req.url === "/" || req.url === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(PAGE);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return server;
}

let browserPromise;
/** The shared Chromium instance; a launch failure fails the calling test with a clear message. */
function browser() {
  browserPromise ??= chromium
    .launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      timeout: 30_000,
    })
    .catch((err) => {
      throw new Error(`Chromium (${CHROMIUM}) could not start: ${err.message}`);
    });
  return browserPromise;
}

let pageServerPromise;
function pageServer() {
  const port = Number(process.env.COMPAT_PAGE_PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error("COMPAT_PAGE_PORT is not set: run the suite with test/compat/run.sh");
  pageServerPromise ??= staticServer(port);
  return pageServerPromise;
}

after(async () => {
  if (browserPromise) await (await browserPromise.catch(() => null))?.close();
  if (pageServerPromise) (await pageServerPromise).close();
});

/** Opens the page of origin in a fresh browser context; console errors are kept for failure messages. */
async function openPage(t, origin) {
  const b = await browser();
  const context = await b.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/`);
  assert.equal(await page.evaluate(() => typeof io), "function", "the socket.io bundle loaded");
  return { page, logs };
}

/** The scenario run inside the page: echo, acks both ways and binary round trips. */
async function scenario({ url, opts, upgrade }) {
  const hex = (x) => {
    const u = x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    return Array.from(u, (b) => b.toString(16).padStart(2, "0")).join("");
  };
  const isBin = (x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x);
  const wait = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...a) => resolve(a)));
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  const out = {};
  try {
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (e) => reject(new Error(`connect_error: ${e.message}`)));
    });
    out.id = socket.id;
    if (upgrade && socket.io.engine.transport.name !== "websocket") await wait(socket.io.engine, "upgrade");
    out.transport = socket.io.engine.transport.name;

    const echoed = wait(socket, "echo");
    socket.emit("echo", "héllo ✓", 42, { a: [1, null] });
    out.echo = await echoed;

    out.ack = await socket.timeout(10000).emitWithAck("echo-ack", { x: 1 }, "y");

    socket.on("ask", (...args) => args.pop()({ got: args }));
    out.ask = await socket.timeout(10000).emitWithAck("ask-client", "from server", 7);

    out.binHex = await socket
      .timeout(10000)
      .emitWithAck("bin-hex", new Uint8Array([1, 2, 255]), { bin: new Uint8Array([9]).buffer, list: [new Uint8Array([7, 7])], text: "b" });

    const binAck = await new Promise((resolve) =>
      socket.emit("bin-echo", new Uint8Array([5, 6]), { bin: new Uint8Array([0]), list: [new Uint8Array([1]), new Uint8Array([2, 3])], text: "t" }, (...a) =>
        resolve(a),
      ),
    );
    out.binEcho = {
      binary: isBin(binAck[0]) && isBin(binAck[1].bin) && binAck[1].list.every(isBin),
      a: hex(binAck[0]),
      bin: hex(binAck[1].bin),
      list: binAck[1].list.map(hex),
      text: binAck[1].text,
    };

    socket.on("ask-bin", (b, o, ack) => ack(isBin(b) && isBin(o.nested) ? new Uint8Array(new Uint8Array(b).reverse()) : "bad"));
    out.askBin = await socket.timeout(10000).emitWithAck("ask-client-bin", "a1b2c3");

    // Blob, ArrayBuffer and typed arrays, top level and nested, through the
    // server's echo of its arguments and through a relay to another socket.
    const describeBin = (x) => {
      if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) return { type: x.constructor.name, hex: hex(x) };
      if (x instanceof Blob) return { type: "Blob" };
      if (Array.isArray(x)) return x.map(describeBin);
      if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, describeBin(v)]));
      return x;
    };
    const binArgs = () => [
      new Blob([new Uint8Array([1, 2, 3])]),
      { nested: { ab: new Uint8Array([4, 5]).buffer, list: [new Blob([new Uint8Array([6])]), new Uint8Array([7])] } },
      "s",
    ];
    const blobEcho = wait(socket, "echo");
    socket.emit("echo", ...binArgs());
    out.blobEcho = describeBin(await blobEcho);
    const peer = io(url, { forceNew: true, reconnection: false, ...opts });
    try {
      await new Promise((resolve) => peer.once("connect", resolve));
      const room = `bin-${Math.random().toString(36).slice(2)}`;
      await peer.timeout(10000).emitWithAck("join", room);
      const relayed = wait(peer, "room-msg");
      socket.emit("to-room", room, ...binArgs());
      out.blobRelay = describeBin(await relayed);
    } finally {
      peer.disconnect();
    }
    out.finalTransport = socket.io.engine.transport.name;
  } catch (err) {
    out.error = String(err && err.message ? err.message : err);
  } finally {
    socket.disconnect();
  }
  return out;
}

/** The msgpack scenario run inside the page: the client with socket.io-msgpack-parser, ArrayBuffers both ways. */
async function msgpackScenario({ url, opts, upgrade }) {
  const describeBin = (x) => {
    if (x instanceof ArrayBuffer) return { type: "ArrayBuffer", hex: Array.from(new Uint8Array(x), (b) => b.toString(16).padStart(2, "0")).join("") };
    if (Array.isArray(x)) return x.map(describeBin);
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, describeBin(v)]));
    return x;
  };
  const wait = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...a) => resolve(a)));
  const socket = io(url, { forceNew: true, reconnection: false, path: "/msgpack/", parser: self.msgpackParser, ...opts });
  const out = {};
  try {
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (e) => reject(new Error(`connect_error: ${e.message}`)));
    });
    if (upgrade && socket.io.engine.transport.name !== "websocket") await wait(socket.io.engine, "upgrade");
    out.transport = socket.io.engine.transport.name;
    const echoed = wait(socket, "echo");
    socket.emit("echo", "héllo ✓", 42, { a: [1, null] }, new Uint8Array([1, 2, 255]).buffer, { nested: new Uint8Array([9]).buffer });
    out.echo = describeBin(await echoed);
    out.ack = describeBin(await socket.timeout(10000).emitWithAck("echo-ack", new Uint8Array([7]).buffer, "y"));
    socket.on("ask-bin", (b, o, ack) =>
      ack(b instanceof ArrayBuffer && o.nested instanceof ArrayBuffer ? new Uint8Array(b).reverse().buffer : "bad"),
    );
    out.askBin = await socket.timeout(10000).emitWithAck("ask-client-bin", "a1b2c3");
  } catch (err) {
    out.error = String(err && err.message ? err.message : err);
  } finally {
    socket.disconnect();
  }
  return out;
}

describe("socket.io-client in headless Chromium (cross-origin)", () => {
  for (const { name, opts } of TRANSPORTS) {
    test(`socket.io-msgpack-parser: echo, acks and ArrayBuffers over ${name}`, TIMEOUT, async (t) => {
      await pageServer();
      const { page, logs } = await openPage(t, `http://127.0.0.1:${process.env.COMPAT_PAGE_PORT}`);
      assert.equal(await page.evaluate(() => typeof self.msgpackParser?.Encoder), "function", "the msgpack parser loaded");
      const out = await page.evaluate(msgpackScenario, { url: BASE, opts, upgrade: name === "upgrade" });
      assert.equal(out.error, undefined, `in-page error: ${out.error}\nconsole:\n${logs.join("\n")}`);
      assert.equal(out.transport, name === "polling" ? "polling" : "websocket");
      const ab = (hex) => ({ type: "ArrayBuffer", hex });
      assert.deepEqual(out.echo, ["héllo ✓", 42, { a: [1, null] }, ab("0102ff"), { nested: ab("09") }]);
      assert.deepEqual(out.ack, ab("07"));
      assert.deepEqual(out.askBin, { ok: true, hex: "c3b2a1" });
    });
  }

  for (const { name, opts } of TRANSPORTS) {
    test(`echo, acks and binary over ${name}`, TIMEOUT, async (t) => {
      await pageServer();
      const { page, logs } = await openPage(t, `http://127.0.0.1:${process.env.COMPAT_PAGE_PORT}`);
      const out = await page.evaluate(scenario, { url: BASE, opts, upgrade: name === "upgrade" });
      assert.equal(out.error, undefined, `in-page error: ${out.error}\nconsole:\n${logs.join("\n")}`);
      assert.match(out.id, /^[A-Za-z0-9_-]{20}$/);
      assert.equal(out.transport, name === "polling" ? "polling" : "websocket");
      assert.equal(out.finalTransport, out.transport);
      assert.deepEqual(out.echo, ["héllo ✓", 42, { a: [1, null] }]);
      assert.deepEqual(out.ack, { x: 1 });
      assert.deepEqual(out.ask, { ok: true, response: { got: ["from server", 7] } });
      assert.deepEqual(out.binHex, { a: "0102ff", bin: "09", list: ["0707"], text: "b" });
      assert.deepEqual(out.binEcho, { binary: true, a: "0506", bin: "00", list: ["01", "0203"], text: "t" });
      assert.deepEqual(out.askBin, { ok: true, hex: "c3b2a1" });
      // What the page receives for binArgs(): every binary value an ArrayBuffer of the same bytes.
      const ab = (hex) => ({ type: "ArrayBuffer", hex });
      const binReceived = [ab("010203"), { nested: { ab: ab("0405"), list: [ab("06"), ab("07")] } }, "s"];
      assert.deepEqual(out.blobEcho, binReceived);
      assert.deepEqual(out.blobRelay, binReceived);
    });
  }

  test("a page on an origin the server does not allow cannot connect over polling", TIMEOUT, async (t) => {
    const other = await staticServer(0);
    t.after(() => other.close());
    const { page } = await openPage(t, `http://127.0.0.1:${other.address().port}`);
    const result = await page.evaluate(
      (url) =>
        new Promise((resolve) => {
          const socket = io(url, { forceNew: true, reconnection: false, transports: ["polling"] });
          socket.once("connect", () => {
            socket.disconnect();
            resolve("connected");
          });
          socket.once("connect_error", (e) => {
            socket.disconnect();
            resolve(`connect_error: ${e.message}`);
          });
        }),
      BASE,
    );
    assert.equal(result, "connect_error: xhr poll error");
  });
});
