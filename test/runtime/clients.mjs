// Official socket.io-client sockets driven by the Go tests of test/runtime.
//
//   node clients.mjs '<json options>'
//
// Options: url, count, mode ("drain" | "room"), transports mix (see below),
// room, event, timeoutMs. Every line written to stdout is one JSON object:
//   {"type":"ready","count":N}                          every socket connected (and joined, in room mode)
//   {"type":"event","i":i,"name":..,"args":[...]}       room mode: a socket received the expected event
//   {"type":"summary",...}                               last line; exit code 0 when the mode's goal was met
//
// mode "drain": wait until every socket was disconnected by the server and made
// a reconnection attempt; the summary lists the disconnect reasons and the
// earliest disconnect time (ms since the epoch, sub-ms precision).
// mode "room": each socket joins `room` through the relay; wait until every
// socket received `event` once.
import { io } from "socket.io-client";
import { performance } from "node:perf_hooks";

const opts = JSON.parse(process.argv[2] || "{}");
const count = opts.count ?? 1;
const mode = opts.mode ?? "drain";
const timeoutMs = opts.timeoutMs ?? 60000;
const now = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

// A third of the sockets on each transport setup: polling only, WebSocket
// only, polling upgraded to WebSocket (the default).
const transportSets = [["polling"], ["websocket"], ["polling", "websocket"]];

const sockets = [];
const state = [];
let connected = 0;
let readyPrinted = false;
let finished = false;

function finish(ok, extra = {}) {
  if (finished) return;
  finished = true;
  const reasons = {};
  let attempts = 0;
  let firstDisconnect = null;
  let received = 0;
  for (const s of state) {
    for (const r of s.reasons) reasons[r] = (reasons[r] || 0) + 1;
    if (s.attempts > 0) attempts++;
    if (s.firstDisconnectAt !== null && (firstDisconnect === null || s.firstDisconnectAt < firstDisconnect)) {
      firstDisconnect = s.firstDisconnectAt;
    }
    if (s.received) received++;
  }
  out({ type: "summary", ok, count, connected, reasons, socketsWithReconnectAttempt: attempts,
    firstDisconnectAt: firstDisconnect, received, ...extra });
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(ok ? 0 : 1), 50);
}

function check() {
  if (!readyPrinted && state.every((s) => s.ready)) {
    readyPrinted = true;
    out({ type: "ready", count });
  }
  if (!readyPrinted) return;
  if (mode === "drain" && state.every((s) => s.attempts > 0 && s.reasons.length > 0)) finish(true);
  if (mode === "room" && state.every((s) => s.received)) finish(true);
}

for (let i = 0; i < count; i++) {
  const st = { ready: false, reasons: [], attempts: 0, firstDisconnectAt: null, received: false };
  state.push(st);
  const socket = io(opts.url, {
    transports: transportSets[i % transportSets.length],
    forceNew: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 10000,
  });
  sockets.push(socket);
  socket.on("connect", () => {
    if (st.ready) return;
    connected++;
    if (mode === "room") {
      socket.timeout(5000).emit("relay:join", opts.room, (err, res) => {
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
}

setTimeout(() => finish(false, { error: `timed out after ${timeoutMs} ms` }), timeoutMs).unref();
process.on("SIGTERM", () => finish(false, { error: "terminated" }));
