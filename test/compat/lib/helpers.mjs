// Shared helpers of the compatibility tests: the server under test is at
// COMPAT_URL (set by run.sh). Timeouts here are failure guards only.

import { io } from "socket.io-client";

/** Base URL of the server under test, e.g. http://127.0.0.1:40123 */
export const BASE = (() => {
  const url = process.env.COMPAT_URL;
  if (!url) throw new Error("COMPAT_URL is not set: run the suite with test/compat/run.sh");
  return url.replace(/\/$/, "");
})();

/** Engine.IO endpoint of the main server (cookie enabled). */
export const EIO_URL = `${BASE}/socket.io/`;

/** Failure guard for a single wait. */
export const GUARD_MS = 10_000;

/** Per-test failure guard (node:test timeout option). */
export const TEST_TIMEOUT = { timeout: 30_000 };

/** The three transport configurations every client-level behaviour is checked with. */
export const TRANSPORTS = [
  { name: "polling", opts: { transports: ["polling"] } },
  { name: "websocket", opts: { transports: ["websocket"] } },
  { name: "upgrade", opts: {} },
];

/** Rejects after ms with a message naming what was awaited. */
export function guard(promise, label, ms = GUARD_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the arguments of the next `event` on emitter for which filter(...args) is true. */
export function once(emitter, event, { filter = () => true, ms = GUARD_MS } = {}) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => {
      if (!filter(...args)) return;
      emitter.off(event, handler);
      resolve(args);
    };
    emitter.on(event, handler);
  });
  return guard(p, `event "${event}"`, ms).finally(() => emitter.off(event, handler));
}

/** Collects every `event` emitted on emitter (argument arrays) until stopped. */
export function collect(emitter, event) {
  const got = [];
  const handler = (...args) => got.push(args);
  emitter.on(event, handler);
  Object.defineProperty(got, "stop", { value: () => emitter.off(event, handler), enumerable: false });
  return got;
}

/**
 * Creates a socket.io-client socket to namespace nsp of the server under test
 * (a fresh Manager each time, no automatic reconnection unless opts asks for
 * it) and registers its closing with the test context t.
 */
export function client(t, nsp = "/", opts = {}) {
  const socket = io(`${BASE}${nsp}`, { forceNew: true, reconnection: false, timeout: GUARD_MS, ...opts });
  t.after(() => {
    socket.disconnect();
    socket.io.engine?.close();
  });
  return socket;
}

/** Resolves when socket is connected; rejects on connect_error. */
export function connected(socket) {
  if (socket.connected) return Promise.resolve(socket);
  return guard(
    new Promise((resolve, reject) => {
      const ok = () => {
        socket.off("connect_error", ko);
        resolve(socket);
      };
      const ko = (err) => {
        socket.off("connect", ok);
        reject(new Error(`connect_error: ${err.message}`));
      };
      socket.once("connect", ok);
      socket.once("connect_error", ko);
    }),
    "connect",
  );
}

/** Connects a client and waits for it. */
export async function connect(t, nsp = "/", opts = {}) {
  return connected(client(t, nsp, opts));
}

/** Waits until the Engine.IO connection of socket runs on WebSocket (after the upgrade, if any). */
export async function upgraded(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return;
  await once(engine, "upgrade");
}

/** emitWithAck with a failure guard. */
export function ask(socket, event, ...args) {
  return socket.timeout(GUARD_MS).emitWithAck(event, ...args);
}

/** Binary value as hex, whatever its JS representation (Buffer, ArrayBuffer, typed array). */
export function hex(x) {
  if (x instanceof ArrayBuffer) return Buffer.from(new Uint8Array(x)).toString("hex");
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex");
  throw new Error(`not binary: ${JSON.stringify(x)}`);
}

/** True if x is a binary value as socket.io-client delivers it. */
export function isBinary(x) {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

/** A process-unique name for rooms and payloads. */
let counter = 0;
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

// ---- raw Engine.IO over HTTP ----

/** Splits a polling payload into packets (separator \x1e). */
export function decodePayload(text) {
  return text === "" ? [] : text.split("\x1e");
}

/** Opens an Engine.IO polling session and returns the parsed open packet plus the response. */
export async function handshake(base = EIO_URL, headers = {}) {
  const res = await guard(fetch(`${base}?EIO=4&transport=polling`, { headers }), "handshake");
  const body = await res.text();
  if (res.status !== 200 || body[0] !== "0") throw new Error(`handshake failed: ${res.status} ${body}`);
  return { open: JSON.parse(body.slice(1)), res, body };
}

/** GET poll of session sid; resolves with {status, body, headers}. */
export async function poll(sid, { base = EIO_URL, signal } = {}) {
  const res = await fetch(`${base}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, { signal });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** POST of a polling payload to session sid. */
export async function post(sid, body, { base = EIO_URL, headers = {} } = {}) {
  const res = await fetch(`${base}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, {
    method: "POST",
    body,
    headers: { "content-type": "text/plain;charset=UTF-8", ...headers },
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/**
 * Polls session sid until a packet matching pred arrives (the server may send
 * noops or pings first) and returns every packet seen, in order.
 */
export async function pollUntil(sid, pred, { base = EIO_URL } = {}) {
  const seen = [];
  const loop = async () => {
    for (;;) {
      const r = await poll(sid, { base });
      if (r.status !== 200) throw new Error(`poll answered ${r.status} ${r.body}`);
      for (const p of decodePayload(r.body)) {
        seen.push(p);
        if (pred(p)) return seen;
      }
    }
  };
  return guard(loop(), "a matching polling packet");
}

/** Opens an Engine.IO session and connects it to the main namespace; returns the sid. */
export async function rawSocketIOSession(nsp = "/") {
  const { open } = await handshake();
  const connect = nsp === "/" ? "40" : `40${nsp},`;
  const r = await post(open.sid, connect);
  if (r.status !== 200) throw new Error(`CONNECT post answered ${r.status}`);
  const prefix = nsp === "/" ? "40{" : `40${nsp},{`;
  await pollUntil(open.sid, (p) => p.startsWith(prefix));
  return open.sid;
}
