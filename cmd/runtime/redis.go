package main

import "github.com/socketfleet/socketfleet/runtime/app"

// redisAdapter builds the Redis adapter when the configuration has a redis
// block or SOCKETFLEET_REDIS_URL. nil until runtime/redisadapter is wired
// here: app.New then refuses a Redis configuration with a clear error rather
// than silently serving a single-process adapter.
var redisAdapter app.AdapterProvider
