// Official socket.io-client sockets behind a load balancer without
// stickiness, driven by TestForwardingBehindRoundRobin.
//
//   node forwarding.mjs '<json options>'
//
// Options: url, count, pollingOnly (how many of the sockets use only
// long-polling; the others start on polling and upgrade to WebSocket), room,
// event, messages (how many numbered messages the test publishes), timeoutMs.
// Every socket joins `room` through the relay and then expects the payloads
// 0..messages-1 of `event` in order. Every line on stdout is one JSON object:
//   {"type":"ready","count":N}   every socket connected and joined
//   {"type":"summary",...}       last line; exit code 0 when every socket got
//                                every message in order with no disconnect,
//                                no connect error and no reconnect attempt
import { io } from "socket.io-client";

const opts = JSON.parse(process.argv[2] || "{}");
const count = opts.count ?? 1;
const pollingOnly = opts.pollingOnly ?? count;
const messages = opts.messages ?? 1;
const timeoutMs = opts.timeoutMs ?? 60000;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const sockets = [];
const state = [];
let readyPrinted = false;
let finished = false;

function finish(ok, extra = {}) {
  if (finished) return;
  finished = true;
  let disconnects = 0, connectErrors = 0, reconnectAttempts = 0, complete = 0, outOfOrder = 0, upgraded = 0;
  const reasons = {};
  for (const s of state) {
    disconnects += s.reasons.length;
    for (const r of s.reasons) reasons[r] = (reasons[r] || 0) + 1;
    connectErrors += s.connectErrors;
    reconnectAttempts += s.attempts;
    outOfOrder += s.outOfOrder;
    if (s.next === messages) complete++;
  }
  for (const s of sockets) {
    if (s.io.engine && s.io.engine.transport && s.io.engine.transport.name === "websocket") upgraded++;
  }
  out({ type: "summary", ok, count, pollingOnly, complete, disconnects, reasons, connectErrors, reconnectAttempts,
    outOfOrder, upgraded, ...extra });
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(ok ? 0 : 1), 50);
}

function check() {
  if (!readyPrinted && state.every((s) => s.ready)) {
    readyPrinted = true;
    out({ type: "ready", count });
  }
  if (!readyPrinted) return;
  const clean = state.every((s) => s.reasons.length === 0 && s.connectErrors === 0 && s.attempts === 0 && s.outOfOrder === 0);
  if (!clean) {
    finish(false, { error: "a socket was disconnected, failed to connect, tried to reconnect or lost a message" });
    return;
  }
  if (state.every((s) => s.next === messages)) finish(true);
}

for (let i = 0; i < count; i++) {
  const st = { ready: false, reasons: [], connectErrors: 0, attempts: 0, next: 0, outOfOrder: 0 };
  state.push(st);
  const socket = io(opts.url, {
    transports: i < pollingOnly ? ["polling"] : ["polling", "websocket"],
    forceNew: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 10000,
  });
  sockets.push(socket);
  socket.on("connect", () => {
    if (st.ready) return;
    socket.timeout(10000).emit("relay:join", opts.room, (err, res) => {
      if (err || !res || !res.ok) {
        finish(false, { error: `socket ${i} could not join ${opts.room}: ${err ? err.message : JSON.stringify(res)}` });
        return;
      }
      st.ready = true;
      check();
    });
  });
  socket.on("connect_error", () => {
    st.connectErrors++;
    check();
  });
  socket.on("disconnect", (reason) => {
    st.reasons.push(reason);
    check();
  });
  socket.io.on("reconnect_attempt", () => {
    st.attempts++;
    check();
  });
  socket.on(opts.event, (n) => {
    if (n === st.next) st.next++;
    else st.outOfOrder++;
    check();
  });
}

setTimeout(() => finish(false, { error: `timed out after ${timeoutMs} ms` }), timeoutMs).unref();
process.on("SIGTERM", () => finish(false, { error: "terminated" }));
