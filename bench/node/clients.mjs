// Official socket.io-client 4.8 sockets for the streams benchmark, driven by
// bench/runner: one JSON command a line on stdin, one JSON reply a line on
// stdout, in order. Every socket has its own connection (forceNew), WebSocket
// only, and the client's reconnection with its first delay from the
// environment (RECONNECTION_DELAY, milliseconds, ±50%).
//   {"cmd":"connect","url":U,"n":N}            connect N more sockets to U; {"connected":N}
//   {"cmd":"reset"}                            zero the "m" counter; {}
//   {"cmd":"expect","n":N,"timeoutMs":T}       wait until N "m" events arrived since reset;
//                                              {"received":N,"t":<ms since the epoch of the N-th>}
//   {"cmd":"reconnects","n":N,"timeoutMs":T}   wait until N sockets reconnected after their first connect;
//                                              {"times":[<ms since the epoch>...],"recovered":K,"errors":E}
// An error is {"error":"..."}. Times are wall-clock milliseconds with
// sub-millisecond precision, comparable with the runner's clock.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const now = () => performance.timeOrigin + performance.now();
const options = {
  forceNew: true,
  transports: ["websocket"],
  reconnectionDelay: Number(process.env.RECONNECTION_DELAY || 100),
  reconnectionDelayMax: 1000,
  randomizationFactor: 0.5,
};

let received = 0;
let reachedAt = 0;
let target = Infinity;
const reconnects = { times: [], recovered: 0, errors: 0 };
let waiter = null; // {check: () => reply|undefined, resolve}

function wake() {
  const reply = waiter?.check();
  if (reply) {
    waiter.resolve(reply);
    waiter = null;
  }
}

function wait(check, timeoutMs, onTimeout) {
  const reply = check();
  if (reply) return Promise.resolve(reply);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiter = null;
      resolve(onTimeout());
    }, timeoutMs);
    waiter = { check, resolve: (r) => (clearTimeout(timer), resolve(r)) };
  });
}

function onMessage() {
  received++;
  if (received === target) reachedAt = now();
  if (received >= target) wake();
}

function connectOne(url) {
  return new Promise((resolve, reject) => {
    const socket = io(url, options);
    let connects = 0;
    socket.on("m", onMessage);
    socket.on("connect", () => {
      if (++connects === 1) return resolve(socket);
      reconnects.times.push(now());
      if (socket.recovered) reconnects.recovered++;
      wake();
    });
    socket.on("connect_error", (err) => {
      if (connects === 0) {
        socket.close();
        reject(err);
      } else reconnects.errors++;
    });
  });
}

async function connect(url, n) {
  // A bounded number of handshakes in flight, as a real fleet's clients are spread in time.
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await connectOne(url);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, 50) }, worker));
  return { connected: n };
}

async function handle(c) {
  switch (c.cmd) {
    case "connect":
      return connect(c.url, c.n);
    case "reset":
      received = 0;
      reachedAt = 0;
      target = Infinity;
      return {};
    case "expect":
      target = c.n;
      if (received >= target && !reachedAt) reachedAt = now();
      return wait(
        () => (received >= target ? { received, t: reachedAt } : undefined),
        c.timeoutMs,
        () => ({ error: `${received} of ${c.n} messages` }),
      );
    case "reconnects": {
      const done = () => (reconnects.times.length >= c.n ? { ...reconnects } : undefined);
      return wait(done, c.timeoutMs, () => ({ ...reconnects }));
    }
  }
  return { error: `unknown command ${c.cmd}` };
}

for await (const line of createInterface({ input: process.stdin })) {
  let reply;
  try {
    reply = await handle(JSON.parse(line));
  } catch (err) {
    reply = { error: String(err?.message ?? err) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
process.exit(0);
