// Official socket.io-client sockets driven by the Go tests of test/runtime.
//
//   node clients.mjs '<json options>'
//
// Options: url, count, mode ("drain" | "room" | "ordered"), pollingOnly (see
// below), room, event, messages, timeoutMs. Every line written to stdout is
// one JSON object:
//   {"type":"ready","count":N}                          every socket connected (and joined, in room and ordered mode)
//   {"type":"event","i":i,"name":..,"args":[...]}       room mode: a socket received the expected event
//   {"type":"summary",...}                               last line; exit code 0 when the mode's goal was met
//
// mode "drain": wait until every socket was disconnected by the server and made
// a reconnection attempt; the summary lists the disconnect reasons and the
// earliest disconnect time (ms since the epoch, sub-ms precision).
// mode "room": each socket joins `room` through the relay; wait until every
// socket received `event` once.
// mode "ordered" (behind a load balancer without stickiness): each socket joins
// `room` and expects the payloads 0..messages-1 of `event` in order; it fails
// at the first disconnect, connect error, reconnection attempt or message out
// of order.
//
// Transports: with pollingOnly set, the first pollingOnly sockets use only
// long-polling and the others start on polling and upgrade to WebSocket;
// otherwise a third of the sockets on each setup: polling only, WebSocket
// only, polling upgraded to WebSocket (the default).
import { io } from "socket.io-client";
import { performance } from "node:perf_hooks";

const opts = JSON.parse(process.argv[2] || "{}");
const count = opts.count ?? 1;
const mode = opts.mode ?? "drain";
const messages = opts.messages ?? 1;
const timeoutMs = opts.timeoutMs ?? 60000;
const joins = mode === "room" || mode === "ordered";
const now = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const transportSets = [["polling"], ["websocket"], ["polling", "websocket"]];
const transportsOf = (i) => opts.pollingOnly === undefined
  ? transportSets[i % transportSets.length]
  : i < opts.pollingOnly ? ["polling"] : ["polling", "websocket"];

const sockets = [];
const state = [];
let connected = 0;
let readyPrinted = false;
let finished = false;

function finish(ok, extra = {}) {
  if (finished) return;
  finished = true;
  const reasons = {};
  let attempts = 0, reconnectAttempts = 0, disconnects = 0, connectErrors = 0, complete = 0, outOfOrder = 0, upgraded = 0;
  let firstDisconnect = null;
  let received = 0;
  for (const s of state) {
    disconnects += s.reasons.length;
    for (const r of s.reasons) reasons[r] = (reasons[r] || 0) + 1;
    if (s.attempts > 0) attempts++;
    reconnectAttempts += s.attempts;
    connectErrors += s.connectErrors;
    outOfOrder += s.outOfOrder;
    if (s.next === messages) complete++;
    if (s.firstDisconnectAt !== null && (firstDisconnect === null || s.firstDisconnectAt < firstDisconnect)) {
      firstDisconnect = s.firstDisconnectAt;
    }
    if (s.received) received++;
  }
  for (const s of sockets) {
    if (s.io.engine && s.io.engine.transport && s.io.engine.transport.name === "websocket") upgraded++;
  }
  out({ type: "summary", ok, count, connected, reasons, socketsWithReconnectAttempt: attempts,
    firstDisconnectAt: firstDisconnect, received, disconnects, connectErrors, reconnectAttempts, complete, outOfOrder,
    upgraded, ...extra });
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(ok ? 0 : 1), 50);
}

function check() {
  if (mode === "ordered" && !state.every((s) => s.reasons.length === 0 && s.connectErrors === 0 && s.attempts === 0 && s.outOfOrder === 0)) {
    finish(false, { error: "a socket was disconnected, failed to connect, tried to reconnect or lost a message" });
    return;
  }
  if (!readyPrinted && state.every((s) => s.ready)) {
    readyPrinted = true;
    out({ type: "ready", count });
  }
  if (!readyPrinted) return;
  if (mode === "drain" && state.every((s) => s.attempts > 0 && s.reasons.length > 0)) finish(true);
  if (mode === "room" && state.every((s) => s.received)) finish(true);
  if (mode === "ordered" && state.every((s) => s.next === messages)) finish(true);
}

for (let i = 0; i < count; i++) {
  const st = { ready: false, reasons: [], attempts: 0, connectErrors: 0, firstDisconnectAt: null, received: false, next: 0, outOfOrder: 0 };
  state.push(st);
  const socket = io(opts.url, {
    transports: transportsOf(i),
    forceNew: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 10000,
  });
  sockets.push(socket);
  socket.on("connect", () => {
    if (st.ready) return;
    connected++;
    if (joins) {
      socket.timeout(10000).emit("relay:join", opts.room, (err, res) => {
        if (err || !res || !res.ok) {
          finish(false, { error: `socket ${i} could not join ${opts.room}: ${err ? err.message : JSON.stringify(res)}` });
          return;
        }
        st.ready = true;
        check();
      });
    } else {
      st.ready = true;
      check();
    }
  });
  socket.on("connect_error", () => {
    st.connectErrors++;
    check();
  });
  socket.on("disconnect", (reason) => {
    if (st.firstDisconnectAt === null) st.firstDisconnectAt = now();
    st.reasons.push(reason);
    check();
  });
  socket.io.on("reconnect_attempt", () => {
    st.attempts++;
    check();
  });
  if (mode === "room") {
    socket.on(opts.event, (...args) => {
      out({ type: "event", i, name: opts.event, args });
      st.received = true;
      check();
    });
  }
  if (mode === "ordered") {
    socket.on(opts.event, (n) => {
      if (n === st.next) st.next++;
      else st.outOfOrder++;
      check();
    });
  }
}

setTimeout(() => finish(false, { error: `timed out after ${timeoutMs} ms` }), timeoutMs).unref();
process.on("SIGTERM", () => finish(false, { error: "terminated" }));
