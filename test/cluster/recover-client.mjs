// The official socket.io-client (Node) for the recovery test: connects over WebSocket to URL (argv[2]) with
// ?room=red, reconnects quickly after a transport close, and prints one JSON line per happening:
//   {"connect": <socket id>, "recovered": <bool>}   on every connect
//   {"event": <name>, "args": [...]}                  on every event (the recovery offset is the last argument)
// It runs until killed.
import { io } from "socket.io-client";

const socket = io(process.argv[2], {
  transports: ["websocket"],
  query: { room: "red" },
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
  randomizationFactor: 0,
});
const print = (v) => process.stdout.write(JSON.stringify(v) + "\n");
socket.on("connect", () => print({ connect: socket.id, recovered: socket.recovered }));
socket.onAny((event, ...args) => print({ event, args }));
process.on("SIGTERM", () => process.exit(0));
