// A raw Engine.IO WebSocket client (the `ws` package) for protocol-level tests.

import WebSocket from "ws";
import { BASE, GUARD_MS, guard } from "./helpers.mjs";

/** WebSocket URL of the main server's Engine.IO endpoint. */
export const WS_URL = `${BASE.replace(/^http/, "ws")}/socket.io/`;

/**
 * RawSocket wraps a ws connection: frames are queued so that tests can await
 * them in order (text frames as strings, binary frames as Buffers).
 */
export class RawSocket {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.frames = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.errored = null;
    this.ws.on("error", (err) => {
      this.errored = err;
    });
    this.ws.on("message", (data, isBinary) => {
      this.frames.push(isBinary ? Buffer.from(data) : data.toString());
      this.wake();
    });
    this.ws.on("close", () => this.wake());
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when the WebSocket is open; rejects if it fails first. */
  opened() {
    return guard(
      new Promise((resolve, reject) => {
        if (this.ws.readyState === WebSocket.OPEN) return resolve();
        this.ws.once("open", resolve);
        this.ws.once("error", reject);
        this.ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
      }),
      "WebSocket open",
    );
  }

  /** Next frame; rejects if the socket closes first. */
  next(label = "a frame") {
    const take = async () => {
      for (;;) {
        if (this.frames.length > 0) return this.frames.shift();
        if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${label}`);
        await new Promise((resolve) => this.waiters.push(resolve));
      }
    };
    return guard(take(), label);
  }

  /** Next frame for which pred is true, skipping pings (answered with pongs) and others. */
  async until(pred, label = "a matching frame") {
    for (;;) {
      const f = await this.next(label);
      if (f === "2") {
        this.send("3");
        continue;
      }
      if (pred(f)) return f;
    }
  }

  send(data) {
    this.ws.send(data);
  }

  /** Resolves with {code, reason} once closed (failure guard GUARD_MS). */
  waitClosed(ms = GUARD_MS) {
    return guard(this.closed, "the server to close the WebSocket", ms);
  }

  close() {
    this.ws.terminate();
  }
}

/** Opens a WebSocket-only Engine.IO session; resolves with the socket and its open packet. */
export async function openWebSocket(t, query = "") {
  const s = new RawSocket(`${WS_URL}?EIO=4&transport=websocket${query}`);
  t.after(() => s.close());
  await s.opened();
  const open = await s.next("the open packet");
  if (typeof open !== "string" || open[0] !== "0") throw new Error(`expected open packet, got ${open}`);
  return { socket: s, open: JSON.parse(open.slice(1)) };
}

/** Opens a WebSocket-only session and connects it to the main namespace. */
export async function openSocketIO(t) {
  const { socket } = await openWebSocket(t);
  socket.send("40");
  const connect = await socket.until((f) => typeof f === "string" && f.startsWith("40"), "CONNECT reply");
  return { socket, connect: JSON.parse(connect.slice(2)) };
}
