// Publishes with @socket.io/redis-emitter 5.1 (a backend service's view):
// node emit.mjs <room> <event> <arg>; binary when arg is "binary".
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";

const [room, event, arg] = process.argv.slice(2);
const client = createClient({ url: process.env.REDIS_URL });
await client.connect();
const emitter = new Emitter(client);
const value = arg === "binary" ? Buffer.from([7, 8, 9]) : arg;
emitter.to(room).emit(event, value);
await client.quit();
